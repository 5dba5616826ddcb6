package cri

import (
	"context"
	goruntime "runtime"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// RuntimeName is the runtime's name in Version.
const RuntimeName = "hull"

// Version answers the runtime's name and version and the CRI version.
func (s *Server) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: RuntimeName, RuntimeVersion: s.cfg.Version, RuntimeApiVersion: "v1"}, nil
}

// Status answers the runtime's conditions: RuntimeReady (the engine
// answers this call: true) and NetworkReady, true only when a CNI
// configuration is found whose plugins are there.
func (s *Server) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	netCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	cniStatus := "OK"
	if _, err := s.cni.load(ctx); err != nil {
		netCond.Status, netCond.Reason, netCond.Message = false, "NetworkPluginNotReady", errdefs.Message(err)
		cniStatus = netCond.Message
	}
	st := &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		netCond,
	}}
	// The handlers RunPodSandbox takes (checkHandler), with recursive
	// read-only mounts where the kernel has them and without user
	// namespaces, which hull does not have, so that kubelet refuses the
	// pods that need them.
	features := func() *runtimeapi.RuntimeHandlerFeatures {
		return &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: recursiveReadOnlyMounts()}
	}
	resp := &runtimeapi.StatusResponse{Status: st, RuntimeHandlers: []*runtimeapi.RuntimeHandler{
		{Name: "", Features: features()}, {Name: RuntimeName, Features: features()}},
		// supplemental_groups_policy: CreateContainer honours Strict,
		// ContainerStatus answers the user.
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true}}
	if req.Verbose {
		resp.Info = map[string]string{"config": toJSON(map[string]any{"cniConfDir": s.cfg.CNIConfDir, "cniBinDirs": s.cfg.CNIBinDirs}),
			"lastCNILoadStatus": cniStatus, "golang": toJSON(goruntime.Version())}
	}
	return resp, nil
}

// RuntimeConfig: hull drives cgroups through cgroupfs.
func (s *Server) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS}}, nil
}

// UpdateRuntimeConfig takes kubelet's pod CIDR; hull's CNI configuration
// comes from the CNI folder, so there is nothing to change.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
