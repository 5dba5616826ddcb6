package cri

// The CRI's resource updates: UpdateContainerResources through the
// engine's docker update (applied to a running container's cgroup and
// recorded in its HostConfig, so inspect, ContainerStatus and a restart
// keep it), UpdatePodSandboxResources recorded as containerd records it.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// swapLimit is the memory+swap limit a container gets from the CRI's
// resources: the one asked for, else its memory limit (no swapping, as
// containerd sets it), else none (0).
func swapLimit(r *runtimeapi.LinuxContainerResources) int64 {
	if r.GetMemorySwapLimitInBytes() != 0 {
		return r.GetMemorySwapLimitInBytes()
	}
	return r.GetMemoryLimitInBytes()
}

// checkResources refuses what the engine cannot apply: hugepage limits
// (a limit of 0, which kubelet sends for each page size of the node, asks
// for nothing) and cgroup v2's unified settings on a cgroup v2 host (on
// cgroup v1 they do not apply and are ignored, as by runc).
func checkResources(r *runtimeapi.LinuxContainerResources) error {
	for _, h := range r.GetHugepageLimits() {
		if h.GetLimit() != 0 {
			return fmt.Errorf("hugepage limit %s=%d: hull does not limit huge pages: %w", h.GetPageSize(), h.GetLimit(), errdefs.ErrNotImplemented)
		}
	}
	if len(r.GetUnified()) > 0 && cgroup2() {
		return fmt.Errorf("unified cgroup settings: hull does not apply them: %w", errdefs.ErrNotImplemented)
	}
	return nil
}

// cgroup2 says whether the host's cgroups are v2 only.
func cgroup2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// UpdateContainerResources changes a container's CPU (period, quota,
// shares, cpuset) and memory (limit, memory+swap) limits: a value left 0
// (or "") is kept, as containerd keeps it; a memory limit without a swap
// limit sets memory+swap to it. A running container's cgroup changes at
// once; the record changes either way, so ContainerStatus, docker inspect
// and the next start show it. oom_score_adj is not changed, as by
// containerd (the kernel's value is the process's, fixed at its start).
func (s *Server) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	r := req.GetLinux()
	if r == nil {
		return &runtimeapi.UpdateContainerResourcesResponse{}, nil
	}
	if err := checkResources(r); err != nil {
		return nil, err
	}
	u := container.UpdateConfig{Resources: container.Resources{
		CPUPeriod: r.CpuPeriod, CPUQuota: r.CpuQuota, CPUShares: r.CpuShares, CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems,
		Memory: r.MemoryLimitInBytes, MemorySwap: swapLimit(r),
	}}
	warnings, err := s.b.ContainerUpdate(ctx, in.ID, u)
	if err != nil {
		return nil, fmt.Errorf("update resources of container %s: %w", in.ID, err)
	}
	for _, w := range warnings {
		slog.WarnContext(ctx, "CRI: update resources: "+w, "container", in.ID)
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// containerResources are a container's resources as ContainerStatus
// shows them: what its record holds (its create, then its updates).
func containerResources(h *container.HostConfig) *runtimeapi.ContainerResources {
	if h == nil {
		return nil
	}
	r := h.Resources
	out := &runtimeapi.LinuxContainerResources{CpuPeriod: r.CPUPeriod, CpuQuota: r.CPUQuota, CpuShares: r.CPUShares,
		MemoryLimitInBytes: r.Memory, OomScoreAdj: int64(h.OomScoreAdj), CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems}
	if r.MemorySwap > 0 {
		out.MemorySwapLimitInBytes = r.MemorySwap
	}
	return &runtimeapi.ContainerResources{Linux: out}
}

// podResources is what UpdatePodSandboxResources recorded of a pod.
type podResources struct {
	Overhead  *runtimeapi.LinuxContainerResources `json:"overhead,omitempty"`
	Resources *runtimeapi.LinuxContainerResources `json:"resources,omitempty"`
}

func (s *Server) podResourcesFile(id string) string {
	return filepath.Join(s.cfg.StateDir, "pods", id+".resources.json")
}

// UpdatePodSandboxResources takes the pod's new resources and overhead,
// as containerd does: it records them (PodSandboxStatus's verbose info
// shows them) and changes no cgroup — the pod's cgroup parent is
// kubelet's, which sizes it itself before and after this call, and
// hull makes no pod cgroup of its own. The containers' own limits change
// through UpdateContainerResources.
func (s *Server) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	in, err := s.sandbox(ctx, req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(podResources{Overhead: req.Overhead, Resources: req.Resources})
	if err != nil {
		return nil, err
	}
	p := s.podResourcesFile(in.ID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("pod sandbox %s: resources: %w", in.ID, err)
	}
	if err := writeFileAtomic(p, b); err != nil {
		return nil, fmt.Errorf("pod sandbox %s: resources: %w", in.ID, err)
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}

// podResourcesInfo is what UpdatePodSandboxResources last recorded of the
// pod, nil when nothing.
func (s *Server) podResourcesInfo(id string) *podResources {
	b, err := os.ReadFile(s.podResourcesFile(id))
	if err != nil {
		return nil
	}
	var r podResources
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

// removePodResources forgets what UpdatePodSandboxResources recorded of
// a removed pod.
func (s *Server) removePodResources(id string) {
	if err := removeFile(s.podResourcesFile(id)); err != nil {
		slog.Warn("CRI: a pod's resources record", "pod", id, "error", err)
	}
}

func writeFileAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
