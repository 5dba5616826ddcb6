package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// The labels that carry what the CRI knows of its containers.
const (
	labelType        = "io.hull.cri.type" // typeSandbox or typeContainer
	labelPod         = "io.hull.cri.pod"  // a container's sandbox id
	labelMeta        = "io.hull.cri.metadata"
	labelLabels      = "io.hull.cri.labels"
	labelAnnotations = "io.hull.cri.annotations"
	labelLogDir      = "io.hull.cri.log-directory"
	labelLogPath     = "io.hull.cri.log-path"
	labelImage       = "io.hull.cri.image"
	labelUserImage   = "io.hull.cri.user-image" // the image as the user named it (kubelet: the pod's spec)
	labelNamespaces  = "io.hull.cri.namespaces"
	typeSandbox      = "podsandbox"
	typeContainer    = "container"
)

// The OCI annotations of the CRI's containers (containerd's keys, which
// tools that read a bundle know): hull diag list shows pods by them.
const (
	annotationType      = "io.kubernetes.cri.container-type" // "sandbox" or "container"
	annotationSandboxID = "io.kubernetes.cri.sandbox-id"
	annotationName      = "io.kubernetes.cri.container-name"
	annotationPodName   = "io.kubernetes.cri.sandbox-name"
	annotationPodNS     = "io.kubernetes.cri.sandbox-namespace"
	// annotationGroupsPolicy is the container's supplemental groups
	// policy when Strict: the engine then adds no group of the image's
	// /etc/group to the user's (daemon.strictGroupsAnnotation).
	annotationGroupsPolicy = "io.kubernetes.cri.supplemental-groups-policy"
)

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func fromJSON[T any](s string) T {
	var v T
	json.Unmarshal([]byte(s), &v)
	return v
}

// checkHandler refuses a runtime handler hull does not have: it has one,
// the default ("" or "hull").
func checkHandler(h string) error {
	if h != "" && h != RuntimeName {
		return fmt.Errorf("no runtime for %q is configured: %w", h, errdefs.ErrInvalidArgument)
	}
	return nil
}

// sandboxName is the engine's name of a pod's infra container, unique per
// pod and attempt as kubelet requires.
func sandboxName(m *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{"k8s_POD", m.GetName(), m.GetNamespace(), m.GetUid(), fmt.Sprint(m.GetAttempt())}, "_")
}

// RunPodSandbox starts a pod: its infra container (hull's own process,
// holding the pod's network, IPC and UTS namespaces), then its network
// through CNI when the pod has a network namespace of its own.
func (s *Server) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	cfg := req.GetConfig()
	if cfg == nil || cfg.Metadata == nil || cfg.Metadata.Name == "" {
		return nil, fmt.Errorf("pod sandbox config without metadata or name: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkHandler(req.RuntimeHandler); err != nil {
		return nil, err
	}
	img, err := s.b.PodInfraImage(ctx)
	if err != nil {
		return nil, err
	}
	nsOpts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	host := &container.HostConfig{NetworkMode: "none", IpcMode: "shareable", LogConfig: container.LogConfig{Type: "none"},
		Sysctls: cfg.GetLinux().GetSysctls()}
	host.CgroupParent = cfg.GetLinux().GetCgroupParent()
	if nsOpts.GetNetwork() == runtimeapi.NamespaceMode_NODE {
		host.NetworkMode = "host"
	}
	if nsOpts.GetIpc() == runtimeapi.NamespaceMode_NODE {
		host.IpcMode = "host"
	}
	if nsOpts.GetPid() == runtimeapi.NamespaceMode_NODE {
		host.PidMode = "host"
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		for _, a := range dns.Servers {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("pod DNS server %q: %v: %w", a, err, errdefs.ErrInvalidArgument)
			}
			host.DNS = append(host.DNS, addr)
		}
		host.DNSSearch, host.DNSOptions = dns.Searches, dns.Options
	}
	if sc := cfg.GetLinux().GetSecurityContext(); sc != nil {
		host.Privileged = sc.Privileged
	}
	labels := map[string]string{
		labelType: typeSandbox, labelMeta: toJSON(cfg.Metadata), labelLabels: toJSON(cfg.Labels),
		labelAnnotations: toJSON(cfg.Annotations), labelLogDir: cfg.LogDirectory, labelNamespaces: toJSON(nsOpts),
	}
	host.Annotations = map[string]string{annotationType: "sandbox", annotationPodName: cfg.Metadata.Name, annotationPodNS: cfg.Metadata.Namespace}
	c := &container.Config{Image: img, Hostname: cfg.Hostname, Labels: labels}
	if host.NetworkMode == "host" {
		c.Hostname = "" // the node's
	} else if c.Hostname == "" {
		c.Hostname, _ = os.Hostname() // as containerd names a pod without one
	}
	created, err := s.b.ContainerCreate(ctx, sandboxName(cfg.Metadata), c, host, nil)
	if errdefs.IsConflict(err) {
		return nil, fmt.Errorf("pod sandbox %s: %v: %w", sandboxName(cfg.Metadata), errdefs.Message(err), errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return nil, fmt.Errorf("pod sandbox: %w", err)
	}
	id := created.ID
	cleanup := func() {
		ctx := context.WithoutCancel(ctx)
		s.b.ContainerRemove(ctx, id, true, true)
	}
	if err := s.b.ContainerStart(ctx, id); err != nil {
		cleanup()
		return nil, fmt.Errorf("pod sandbox %s: start: %w", id, err)
	}
	if host.NetworkMode == "none" {
		if err := s.writeResolvConf(ctx, id, cfg.GetDnsConfig()); err != nil {
			cleanup()
			return nil, fmt.Errorf("pod sandbox %s: %w", id, err)
		}
	}
	if host.NetworkMode == "none" {
		if _, err := s.cni.load(ctx); err == nil {
			in, err := s.b.ContainerInspect(ctx, id)
			if err != nil || in.State == nil || in.State.Pid == 0 {
				cleanup()
				return nil, fmt.Errorf("pod sandbox %s: its infra process is not running: %w", id, errdefs.ErrConflict)
			}
			netns := fmt.Sprintf("/proc/%d/ns/net", in.State.Pid)
			ports := podPorts(cfg.PortMappings)
			pn, err := s.cni.add(ctx, id, netns, cfg.Metadata, ports)
			if err != nil {
				s.cni.del(context.WithoutCancel(ctx), id, &podNetwork{NetNS: netns, Ports: ports}, cfg.Metadata)
				cleanup()
				return nil, fmt.Errorf("pod sandbox %s: %w", id, err)
			}
			if err := s.saveNet(id, pn); err != nil {
				s.cni.del(context.WithoutCancel(ctx), id, pn, cfg.Metadata)
				cleanup()
				return nil, err
			}
		}
		// Without a CNI configuration the pod has a network namespace
		// of its own with its loopback only (Status says the network
		// is not ready).
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// sandbox is the infra container id names; NotFound when there is none,
// or when id names a container that is not a pod's.
func (s *Server) sandbox(ctx context.Context, id string) (container.InspectResponse, error) {
	if id == "" {
		return container.InspectResponse{}, fmt.Errorf("no pod sandbox id: %w", errdefs.ErrInvalidArgument)
	}
	in, err := s.b.ContainerInspect(ctx, id)
	if err != nil {
		return in, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	if in.Config == nil || in.Config.Labels[labelType] != typeSandbox {
		return in, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return in, nil
}

// podContainers are the ids of the pod's containers.
func (s *Server) podContainers(ctx context.Context, podID string) ([]string, error) {
	list, err := s.b.ContainerList(ctx, true, -1, filters.NewArgs("label", labelPod+"="+podID))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// StopPodSandbox stops the pod's containers, takes it off its network and
// stops its infra process. A pod that does not exist is no error.
func (s *Server) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	in, err := s.sandbox(ctx, req.PodSandboxId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	id := in.ID
	ids, err := s.podContainers(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, c := range ids {
		if err := s.stop(ctx, c, 0); err != nil {
			return nil, fmt.Errorf("stop pod sandbox %s: container %s: %w", id, c, err)
		}
	}
	if pn := s.loadNet(id); pn != nil {
		meta := fromJSON[*runtimeapi.PodSandboxMetadata](in.Config.Labels[labelMeta])
		if err := s.cni.del(ctx, id, pn, meta); err != nil {
			return nil, fmt.Errorf("stop pod sandbox %s: %w", id, err)
		}
		pn.IPs = nil
		pn.NetNS = ""
		s.removeNet(id)
	}
	if err := s.stop(ctx, id, 0); err != nil {
		return nil, fmt.Errorf("stop pod sandbox %s: %w", id, err)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// RemovePodSandbox stops what still runs of the pod and removes its
// containers and itself. A pod that does not exist is no error.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	in, err := s.sandbox(ctx, req.PodSandboxId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: in.ID}); err != nil {
		return nil, err
	}
	ids, err := s.podContainers(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range append(ids, in.ID) {
		if err := s.b.ContainerRemove(ctx, c, true, true); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("remove pod sandbox %s: container %s: %w", in.ID, c, err)
		}
	}
	s.removeNet(in.ID)
	s.removePodResources(in.ID)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func sandboxState(in container.InspectResponse) runtimeapi.PodSandboxState {
	if in.State != nil && in.State.Running {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

// PodSandboxStatus answers the pod's state, address and configuration.
func (s *Server) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	in, err := s.sandbox(ctx, req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	l := in.Config.Labels
	ip, more := s.podIPs(in.ID)
	var extra []*runtimeapi.PodIP
	for _, a := range more {
		extra = append(extra, &runtimeapi.PodIP{Ip: a})
	}
	st := &runtimeapi.PodSandboxStatus{
		Id: in.ID, Metadata: fromJSON[*runtimeapi.PodSandboxMetadata](l[labelMeta]), State: sandboxState(in),
		CreatedAt: parseTime(in.Created).UnixNano(),
		Network:   &runtimeapi.PodSandboxNetworkStatus{Ip: ip, AdditionalIps: extra},
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: fromJSON[*runtimeapi.NamespaceOption](l[labelNamespaces])}},
		Labels: fromJSON[map[string]string](l[labelLabels]), Annotations: fromJSON[map[string]string](l[labelAnnotations]),
		RuntimeHandler: "",
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: st}
	if req.Verbose {
		pid := 0
		if in.State != nil {
			pid = in.State.Pid
		}
		resp.Info = map[string]string{"info": toJSON(map[string]any{"pid": pid, "image": in.Image, "hostname": in.Config.Hostname,
			"resources": s.podResourcesInfo(in.ID)})}
	}
	return resp, nil
}

// ListPodSandbox lists the pods, filtered by id (or its prefix), state and
// labels.
func (s *Server) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	list, err := s.b.ContainerList(ctx, true, -1, filters.NewArgs("label", labelType+"="+typeSandbox))
	if err != nil {
		return nil, err
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{}}
	for _, c := range list {
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		state := runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		if c.State == container.StateRunning {
			state = runtimeapi.PodSandboxState_SANDBOX_READY
		}
		if f.GetState() != nil && f.GetState().State != state {
			continue
		}
		labels := fromJSON[map[string]string](c.Labels[labelLabels])
		if !selects(f.GetLabelSelector(), labels) {
			continue
		}
		created := time.Unix(c.Created, 0).UnixNano()
		if in, err := s.b.ContainerInspect(ctx, c.ID); err == nil {
			created = parseTime(in.Created).UnixNano()
		}
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{Id: c.ID, Metadata: fromJSON[*runtimeapi.PodSandboxMetadata](c.Labels[labelMeta]),
			State: state, CreatedAt: created, Labels: labels, Annotations: fromJSON[map[string]string](c.Labels[labelAnnotations])})
	}
	return resp, nil
}

// selects says whether labels hold every pair of sel.
func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (s *Server) removeNet(id string) {
	if err := removeFile(s.netFile(id)); err != nil {
		slog.Warn("CRI: a pod's network record", "pod", id, "error", err)
	}
}

// writeResolvConf writes the pod's /etc/resolv.conf, which its containers
// share with its infra container: the pod's DNS configuration, or the
// node's file when the pod has none (the engine gives a container without
// a network of its own an empty one).
func (s *Server) writeResolvConf(ctx context.Context, id string, dns *runtimeapi.DNSConfig) error {
	in, err := s.b.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	if in.ResolvConfPath == "" {
		return nil
	}
	var b []byte
	if dns == nil {
		if b, err = os.ReadFile("/etc/resolv.conf"); err != nil {
			b = nil
		}
	} else {
		var sb strings.Builder
		for _, n := range dns.Servers {
			sb.WriteString("nameserver " + n + "\n")
		}
		if len(dns.Searches) > 0 {
			sb.WriteString("search " + strings.Join(dns.Searches, " ") + "\n")
		}
		if len(dns.Options) > 0 {
			sb.WriteString("options " + strings.Join(dns.Options, " ") + "\n")
		}
		b = []byte(sb.String())
	}
	if err := os.WriteFile(in.ResolvConfPath, b, 0o644); err != nil {
		return fmt.Errorf("the pod's resolv.conf: %w", err)
	}
	return nil
}
