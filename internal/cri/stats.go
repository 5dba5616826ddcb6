package cri

// The CRI's stats: ContainerStats, ListContainerStats, PodSandboxStats and
// ListPodSandboxStats, from the engine's samples of the containers' cgroups
// (the Docker API's stats machinery), their writable layers and, for a
// pod, its network namespace. Values are shaped as containerd's CRI
// shapes them, which is what kubelet's CRI stats provider reads.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// StatsBackend is what the CRI's stats and resource updates need of the
// engine.
type StatsBackend interface {
	// ContainerSample is one sample of a running container's counters,
	// taken now (Read), in the Engine API's stats shape, except that
	// MemoryStats.Limit is the cgroup's own limit and MemoryStats.Stats
	// all of memory.stat; running is false when the container does not
	// run.
	ContainerSample(ctx context.Context, ref string) (s container.StatsResponse, running bool, err error)
	// WritableLayer is the usage of the container's writable layer: the
	// mount point of the file system holding the layers, the bytes and
	// inodes the layer's files take.
	WritableLayer(ctx context.Context, ref string) (mountpoint string, used, inodes uint64, err error)
	// ContainerUpdate is the Docker API's docker update: the resources
	// an update names (a zero leaves a value) are checked, applied to a
	// running container's cgroup and recorded.
	ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) ([]string, error)
	// CgroupSample reads the counters of the cgroup a pod's cgroup parent
	// names, in ContainerSample's shape; NotFound when it does not exist.
	CgroupSample(ctx context.Context, cgroupPath string) (container.StatsResponse, error)
}

// unlimited is the memory limit past which a cgroup counts as unlimited
// (the kernel rounds "no limit" down to a page multiple; containerd's and
// cAdvisor's bound).
const unlimited = uint64(1) << 62

// cpuSamples keeps each container's and pod's last CPU sample, from which
// the next one's usage_nano_cores is computed, as containerd does: the
// first sample has none.
type cpuSamples struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct {
	usage uint64 // ns of CPU time
	at    time.Time
}

// nanoCores records usage (ns of CPU time) at at for id and answers the
// CPU used per second since id's previous sample, in billionths of a core;
// nil without a previous sample or when time or usage went backwards.
func (c *cpuSamples) nanoCores(id string, usage uint64, at time.Time) *runtimeapi.UInt64Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]cpuSample{}
	}
	for k, s := range c.last {
		if at.Sub(s.at) > 10*time.Minute {
			delete(c.last, k) // a container gone long ago
		}
	}
	prev, ok := c.last[id]
	if ok && !at.After(prev.at) {
		return nil
	}
	c.last[id] = cpuSample{usage: usage, at: at}
	if !ok || usage < prev.usage {
		return nil
	}
	return &runtimeapi.UInt64Value{Value: uint64(float64(usage-prev.usage) / float64(at.Sub(prev.at)) * float64(time.Second))}
}

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

// memoryUsage is the CRI's memory of a sample, as kubelet computes it:
// the working set is the usage less the inactive file cache; available
// only where a limit exists.
func memoryUsage(ms container.MemoryStats, ts int64) *runtimeapi.MemoryUsage {
	st := ms.Stats
	inactive, rss, faults, major := st["inactive_file"], st["anon"], st["pgfault"], st["pgmajfault"]
	if _, v1 := st["hierarchical_memory_limit"]; v1 {
		inactive, rss, faults, major = st["total_inactive_file"], st["total_rss"], st["total_pgfault"], st["total_pgmajfault"]
	}
	ws := uint64(0)
	if inactive < ms.Usage {
		ws = ms.Usage - inactive
	}
	out := &runtimeapi.MemoryUsage{Timestamp: ts, WorkingSetBytes: u64(ws), UsageBytes: u64(ms.Usage),
		RssBytes: u64(rss), PageFaults: u64(faults), MajorPageFaults: u64(major)}
	if ms.Limit > 0 && ms.Limit <= unlimited {
		out.AvailableBytes = u64(ms.Limit - min(ws, ms.Limit))
	}
	return out
}

// swapUsage is the swap a sample shows: cgroup v1's memory.stat counts it
// where swap is accounted (its memsw limit less the memory limit is what
// the container may swap); nil where the engine's sample has no swap.
func swapUsage(ms container.MemoryStats, ts int64) *runtimeapi.SwapUsage {
	st := ms.Stats
	used, ok := st["total_swap"]
	if !ok {
		return nil
	}
	out := &runtimeapi.SwapUsage{Timestamp: ts, SwapUsageBytes: u64(used)}
	memsw, mem := st["hierarchical_memsw_limit"], st["hierarchical_memory_limit"]
	if memsw > 0 && memsw <= unlimited && memsw >= mem {
		out.SwapAvailableBytes = u64(memsw - mem - min(used, memsw-mem))
	}
	return out
}

// ctrStats is a container's stats and the processes it counts.
type ctrStats struct {
	stats *runtimeapi.ContainerStats
	pids  uint64
	// raw is the sample, for a pod's sums; nil when it does not run.
	raw *container.StatsResponse
}

// containerStats samples the CRI container id whose labels are l: its
// attributes and writable layer always, its CPU, memory and swap when it
// runs.
func (s *Server) containerStats(ctx context.Context, id string, l map[string]string) (ctrStats, error) {
	out := &runtimeapi.ContainerStats{Attributes: &runtimeapi.ContainerAttributes{Id: id,
		Metadata: fromJSON[*runtimeapi.ContainerMetadata](l[labelMeta]), Labels: fromJSON[map[string]string](l[labelLabels]),
		Annotations: fromJSON[map[string]string](l[labelAnnotations])}}
	mp, used, inodes, err := s.b.WritableLayer(ctx, id)
	if err != nil && !errdefs.IsNotFound(err) {
		return ctrStats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	if err == nil {
		out.WritableLayer = &runtimeapi.FilesystemUsage{Timestamp: time.Now().UnixNano(), FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: mp},
			UsedBytes: u64(used), InodesUsed: u64(inodes)}
	}
	sample, running, err := s.b.ContainerSample(ctx, id)
	if errdefs.IsNotFound(err) {
		return ctrStats{stats: out}, nil // removed meanwhile
	}
	if err != nil {
		return ctrStats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	if !running {
		return ctrStats{stats: out}, nil
	}
	ts := sample.Read.UnixNano()
	cpu := sample.CPUStats.CPUUsage.TotalUsage
	out.Cpu = &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(cpu), UsageNanoCores: s.cpu.nanoCores(id, cpu, sample.Read)}
	out.Memory = memoryUsage(sample.MemoryStats, ts)
	out.Swap = swapUsage(sample.MemoryStats, ts)
	return ctrStats{stats: out, pids: sample.PidsStats.Current, raw: &sample}, nil
}

// ContainerStats answers one container's stats.
func (s *Server) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	cs, err := s.containerStats(ctx, in.ID, in.Config.Labels)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: cs.stats}, nil
}

// listContainerStats samples the CRI containers the filter selects (by
// id or its prefix, pod id or its prefix, labels), running or not.
func (s *Server) listContainerStats(ctx context.Context, f *runtimeapi.ContainerStatsFilter) ([]ctrStats, error) {
	list, err := s.b.ContainerList(ctx, true, -1, filters.NewArgs("label", labelType+"="+typeContainer))
	if err != nil {
		return nil, err
	}
	var out []ctrStats
	for _, c := range list {
		l := c.Labels
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) ||
			f.GetPodSandboxId() != "" && !strings.HasPrefix(l[labelPod], f.GetPodSandboxId()) ||
			!selects(f.GetLabelSelector(), fromJSON[map[string]string](l[labelLabels])) {
			continue
		}
		cs, err := s.containerStats(ctx, c.ID, l)
		if err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, nil
}

// ListContainerStats answers the stats of the containers the filter
// selects.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	list, err := s.listContainerStats(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListContainerStatsResponse{Stats: []*runtimeapi.ContainerStats{}}
	for _, cs := range list {
		resp.Stats = append(resp.Stats, cs.stats)
	}
	return resp, nil
}

// podStats answers a ready pod's stats: CPU and memory of its cgroup
// parent, as containerd reads them (the pod's memory available where the
// parent has a limit) — or, for a pod without one, summed over its infra
// container and its running containers —, the interfaces of its network
// namespace, the processes of its containers and their stats.
func (s *Server) podStats(ctx context.Context, in container.InspectResponse) (*runtimeapi.PodSandboxStats, error) {
	if sandboxState(in) != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", in.ID, errdefs.ErrUnavailable)
	}
	l := in.Config.Labels
	out := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: in.ID, Metadata: fromJSON[*runtimeapi.PodSandboxMetadata](l[labelMeta]),
			Labels: fromJSON[map[string]string](l[labelLabels]), Annotations: fromJSON[map[string]string](l[labelAnnotations])},
		Linux: &runtimeapi.LinuxPodSandboxStats{},
	}
	infra, running, err := s.b.ContainerSample(ctx, in.ID)
	if err != nil {
		return nil, fmt.Errorf("stats of pod sandbox %s: %w", in.ID, err)
	}
	if !running {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", in.ID, errdefs.ErrUnavailable)
	}
	ctrs, err := s.listContainerStats(ctx, &runtimeapi.ContainerStatsFilter{PodSandboxId: in.ID})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ts := now.UnixNano()
	var cpu, pids uint64
	mem := container.MemoryStats{Stats: map[string]uint64{}}
	add := func(m container.MemoryStats) {
		mem.Usage += m.Usage
		for k, v := range m.Stats {
			if !strings.HasPrefix(k, "hierarchical_") {
				mem.Stats[k] += v
			}
		}
		if _, v1 := m.Stats["hierarchical_memory_limit"]; v1 {
			mem.Stats["hierarchical_memory_limit"] = 0 // keeps the v1 field names; the limit is not the pod's
		}
	}
	cpu += infra.CPUStats.CPUUsage.TotalUsage
	add(infra.MemoryStats)
	for _, c := range ctrs {
		out.Linux.Containers = append(out.Linux.Containers, c.stats)
		pids += c.pids
		if c.raw != nil {
			cpu += c.raw.CPUStats.CPUUsage.TotalUsage
			add(c.raw.MemoryStats)
		}
	}
	if in.HostConfig != nil && in.HostConfig.CgroupParent != "" {
		parent := in.HostConfig.CgroupParent
		cg, err := s.b.CgroupSample(ctx, parent)
		switch {
		case err == nil:
			cpu, mem, now = cg.CPUStats.CPUUsage.TotalUsage, cg.MemoryStats, cg.Read
			ts = now.UnixNano()
		case !errdefs.IsNotFound(err):
			return nil, fmt.Errorf("stats of pod sandbox %s: %w", in.ID, err)
		}
	}
	out.Linux.Cpu = &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(cpu), UsageNanoCores: s.cpu.nanoCores(in.ID, cpu, now)}
	out.Linux.Memory = memoryUsage(mem, ts)
	out.Linux.Process = &runtimeapi.ProcessUsage{Timestamp: ts, ProcessCount: u64(pids)}
	if ns := fromJSON[*runtimeapi.NamespaceOption](l[labelNamespaces]); ns.GetNetwork() != runtimeapi.NamespaceMode_NODE && in.State.Pid > 0 {
		ifs, err := netDev(fmt.Sprintf("/proc/%d/net/dev", in.State.Pid))
		if err != nil {
			return nil, fmt.Errorf("network stats of pod sandbox %s: %w", in.ID, err)
		}
		out.Linux.Network = &runtimeapi.NetworkUsage{Timestamp: ts, Interfaces: ifs}
		for _, it := range ifs {
			if it.Name == "eth0" {
				out.Linux.Network.DefaultInterface = it
			}
		}
		if out.Linux.Network.DefaultInterface == nil && len(ifs) > 0 {
			out.Linux.Network.DefaultInterface = ifs[0]
		}
	}
	return out, nil
}

// netDev reads the interfaces of a network namespace, but its loopback,
// from its /proc/<pid>/net/dev.
func netDev(path string) ([]*runtimeapi.NetworkInterfaceUsage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: %w", path, errdefs.ErrUnavailable) // the process exited
		}
		return nil, err
	}
	return parseNetDev(b)
}

// parseNetDev parses /proc/net/dev: two heading lines, then per interface
// "name: rx bytes packets errs drop fifo frame compressed multicast, tx
// bytes packets errs drop fifo colls carrier compressed".
func parseNetDev(b []byte) ([]*runtimeapi.NetworkInterfaceUsage, error) {
	var out []*runtimeapi.NetworkInterfaceUsage
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 0; sc.Scan(); n++ {
		if n < 2 {
			continue
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("net/dev line %q: %w", sc.Text(), errdefs.ErrDataLoss)
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if len(f) < 16 {
			return nil, fmt.Errorf("net/dev line %q: %w", sc.Text(), errdefs.ErrDataLoss)
		}
		var v [16]uint64
		var err error
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
				return nil, fmt.Errorf("net/dev line %q: %w", sc.Text(), errdefs.ErrDataLoss)
			}
		}
		if name == "lo" {
			continue
		}
		out = append(out, &runtimeapi.NetworkInterfaceUsage{Name: name, RxBytes: u64(v[0]), RxErrors: u64(v[2]), TxBytes: u64(v[8]), TxErrors: u64(v[10])})
	}
	return out, sc.Err()
}

// PodSandboxStats answers one ready pod's stats; a pod that is not ready
// is Unavailable, as containerd answers.
func (s *Server) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	in, err := s.sandbox(ctx, req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	st, err := s.podStats(ctx, in)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: st}, nil
}

// ListPodSandboxStats answers the stats of the ready pods the filter
// selects (by id or its prefix, labels); a pod that stops meanwhile is
// left out.
func (s *Server) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	list, err := s.b.ContainerList(ctx, true, -1, filters.NewArgs("label", labelType+"="+typeSandbox))
	if err != nil {
		return nil, err
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxStatsResponse{Stats: []*runtimeapi.PodSandboxStats{}}
	for _, c := range list {
		if c.State != container.StateRunning || f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) ||
			!selects(f.GetLabelSelector(), fromJSON[map[string]string](c.Labels[labelLabels])) {
			continue
		}
		in, err := s.sandbox(ctx, c.ID)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := s.podStats(ctx, in)
		if errdefs.IsUnavailable(err) || errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		resp.Stats = append(resp.Stats, st)
	}
	return resp, nil
}
