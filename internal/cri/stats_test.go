package cri

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

func TestNanoCores(t *testing.T) {
	var c cpuSamples
	t0 := time.Unix(1000, 0)
	if v := c.nanoCores("a", 5e9, t0); v != nil {
		t.Fatalf("first sample: %v, want none", v)
	}
	// Half a core over two seconds.
	if v := c.nanoCores("a", 6e9, t0.Add(2*time.Second)); v == nil || v.Value != 5e8 {
		t.Fatalf("second sample: %v, want 500000000", v)
	}
	if v := c.nanoCores("a", 7e9, t0.Add(2*time.Second)); v != nil {
		t.Fatalf("same instant: %v, want none", v)
	}
	if v := c.nanoCores("b", 1, t0); v != nil {
		t.Fatalf("another id's first sample: %v", v)
	}
	// A restarted container's counter went back: no rate, a new base.
	if v := c.nanoCores("a", 1e9, t0.Add(3*time.Second)); v != nil {
		t.Fatalf("counter went back: %v, want none", v)
	}
	if v := c.nanoCores("a", 2e9, t0.Add(4*time.Second)); v == nil || v.Value != 1e9 {
		t.Fatalf("after the reset: %v, want 1000000000", v)
	}
}

func TestMemoryUsage(t *testing.T) {
	v1 := container.MemoryStats{Usage: 100 << 20, Limit: 256 << 20, Stats: map[string]uint64{
		"hierarchical_memory_limit": 256 << 20, "hierarchical_memsw_limit": 512 << 20,
		"inactive_file": 1, "total_inactive_file": 30 << 20, "total_rss": 60 << 20, "rss": 1,
		"total_pgfault": 7, "total_pgmajfault": 2, "total_swap": 10 << 20,
	}}
	m := memoryUsage(v1, 42)
	if m.Timestamp != 42 || m.WorkingSetBytes.Value != 70<<20 || m.UsageBytes.Value != 100<<20 || m.RssBytes.Value != 60<<20 ||
		m.PageFaults.Value != 7 || m.MajorPageFaults.Value != 2 || m.AvailableBytes == nil || m.AvailableBytes.Value != 186<<20 {
		t.Errorf("cgroup v1: %v", m)
	}
	sw := swapUsage(v1, 42)
	if sw == nil || sw.SwapUsageBytes.Value != 10<<20 || sw.SwapAvailableBytes == nil || sw.SwapAvailableBytes.Value != 246<<20 {
		t.Errorf("cgroup v1 swap: %v", sw)
	}
	v2 := container.MemoryStats{Usage: 50 << 20, Limit: 1<<63 - 4096, Stats: map[string]uint64{
		"inactive_file": 80 << 20, "anon": 20 << 20, "pgfault": 3, "pgmajfault": 1,
	}}
	m = memoryUsage(v2, 1)
	if m.WorkingSetBytes.Value != 0 || m.RssBytes.Value != 20<<20 || m.PageFaults.Value != 3 || m.AvailableBytes != nil {
		t.Errorf("cgroup v2, unlimited, more inactive file than usage: %v", m)
	}
	if swapUsage(v2, 1) != nil {
		t.Errorf("cgroup v2 swap: want none")
	}
}

func TestParseNetDev(t *testing.T) {
	in := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:   12345      10    1    0    0     0          0         0     6789       9    3    0    0     0       0          0
`
	ifs, err := parseNetDev([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "eth0" || ifs[0].RxBytes.Value != 12345 || ifs[0].RxErrors.Value != 1 ||
		ifs[0].TxBytes.Value != 6789 || ifs[0].TxErrors.Value != 3 {
		t.Errorf("got %v", ifs)
	}
	if _, err := parseNetDev([]byte("a\nb\neth0: 1 2 3\n")); err == nil {
		t.Error("a short line: no error")
	}
}

// fakeStats is the engine as podStats sees it: samples by id.
type fakeStats struct {
	Backend
	samples map[string]container.StatsResponse
	list    []container.Summary
}

func (f *fakeStats) ContainerSample(ctx context.Context, ref string) (container.StatsResponse, bool, error) {
	s, ok := f.samples[ref]
	return s, ok, nil
}

func (f *fakeStats) WritableLayer(ctx context.Context, ref string) (string, uint64, uint64, error) {
	return "/", 4096, 1, nil
}

func (f *fakeStats) ContainerList(ctx context.Context, all bool, limit int, args filters.Args) ([]container.Summary, error) {
	return f.list, nil
}

func (f *fakeStats) CgroupSample(ctx context.Context, p string) (container.StatsResponse, error) {
	return container.StatsResponse{}, fmt.Errorf("cgroup %s: %w", p, errdefs.ErrNotFound)
}

// A pod whose cgroup parent is gone (or that has none) sums its infra's
// and its running containers' CPU and memory.
func TestPodStatsSum(t *testing.T) {
	v1 := func(cpu, usage, inactive uint64) container.StatsResponse {
		return container.StatsResponse{Read: time.Now(), CPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: cpu}},
			MemoryStats: container.MemoryStats{Usage: usage, Limit: 1 << 30, Stats: map[string]uint64{"hierarchical_memory_limit": 1 << 30,
				"total_inactive_file": inactive, "total_rss": usage / 2}},
			PidsStats: container.PidsStats{Current: 3}}
	}
	f := &fakeStats{samples: map[string]container.StatsResponse{"pod": v1(10, 1000, 0), "c1": v1(100, 5000, 1000)},
		list: []container.Summary{
			{ID: "c1", Labels: map[string]string{labelPod: "pod", labelType: typeContainer}},
			{ID: "c2", Labels: map[string]string{labelPod: "pod", labelType: typeContainer}}, // not running
		}}
	s := &Server{b: f}
	in := container.InspectResponse{ID: "pod", State: &container.State{Running: true, Pid: 0},
		HostConfig: &container.HostConfig{Resources: container.Resources{CgroupParent: "/gone"}}, Config: &container.Config{Labels: map[string]string{labelType: typeSandbox}}}
	st, err := s.podStats(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	lx := st.GetLinux()
	if lx.GetCpu().GetUsageCoreNanoSeconds().GetValue() != 110 || lx.GetMemory().GetUsageBytes().GetValue() != 6000 ||
		lx.Memory.GetWorkingSetBytes().GetValue() != 5000 || lx.Memory.GetRssBytes().GetValue() != 3000 || lx.Memory.AvailableBytes != nil {
		t.Errorf("summed: cpu %v memory %v", lx.GetCpu(), lx.GetMemory())
	}
	if lx.GetProcess().GetProcessCount().GetValue() != 3 || len(lx.GetContainers()) != 2 {
		t.Errorf("processes %v, containers %d", lx.GetProcess(), len(lx.GetContainers()))
	}
}
