package daemon

// Stats: GET /containers/{id}/stats, the StatsJSON the docker CLI reads
// (CPU with the host's total, so that docker stats shows a real CPU %).

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

// ContainerStats sends samples of the container's use to emit: one (with
// the previous sample read a moment before when oneShot is false, so that
// a single answer still has a CPU delta) or, with stream, one a second
// until ctx ends or the container stops.
func (d *Daemon) ContainerStats(ctx context.Context, ref string, stream, oneShot bool, emit func(container.StatsResponse) error) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	var prev container.StatsResponse
	sample := func() (container.StatsResponse, bool, error) {
		c.mu.Lock()
		id, name, st := c.rec.ID, c.rec.Name, c.rec.State.Status
		c.mu.Unlock()
		out := container.StatsResponse{ID: id, Name: "/" + name, OSType: osType, Read: time.Now().UTC(), NumProcs: 0}
		if st != container.StateRunning && st != container.StatePaused {
			return out, false, nil
		}
		s, err := d.stats(ctx, c, id)
		if err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				return out, false, nil
			}
			return out, false, err
		}
		statsShape(&out, s)
		out.Networks = d.networkStats(id)
		return out, true, nil
	}
	if !stream && !oneShot {
		// docker stats --no-stream: a first sample to compute the CPU % from.
		if p, ok, err := sample(); err != nil {
			return err
		} else if ok {
			prev = p
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
		}
	}
	for {
		cur, running, err := sample()
		if err != nil {
			return err
		}
		cur.PreRead, cur.PreCPUStats = prev.Read, prev.CPUStats
		if err := emit(cur); err != nil || !stream || !running {
			return err
		}
		prev = cur
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// statsShape fills a sample's CPU, memory, pids and block I/O from the
// runtime's counters as dockerd 20.10 (statsV1, statsV2) shapes them: per
// CPU usage, the peak and memory.stat's fields of containerd's v1 metrics
// on cgroup v1; v2's memory.stat fields, no per CPU usage nor peak, and
// only the bytes read and written per device on v2. A limit above the
// host's memory is the host's memory.
func statsShape(out *container.StatsResponse, s runtime.Stats) {
	out.CPUStats = container.CPUStats{
		CPUUsage: container.CPUUsage{TotalUsage: s.CPUUsageNS, PercpuUsage: s.CPUPerCPU,
			UsageInKernelmode: s.CPUKernelNS, UsageInUsermode: s.CPUUserNS},
		SystemUsage: systemCPUUsage(),
		OnlineCPUs:  onlineCPUs(),
		ThrottlingData: container.ThrottlingData{Periods: s.ThrottlePeriods, ThrottledPeriods: s.ThrottledPeriods,
			ThrottledTime: s.ThrottledTimeNS},
	}
	out.MemoryStats = container.MemoryStats{Usage: s.MemoryUsage, Limit: s.MemoryLimit,
		MaxUsage: s.MemoryMaxUsage, Failcnt: s.MemoryFailcnt}
	if host := hostMemory(); out.MemoryStats.Limit == 0 || (host > 0 && out.MemoryStats.Limit > host) {
		out.MemoryStats.Limit = host
	}
	out.PidsStats = container.PidsStats{Current: s.PidsCurrent, Limit: s.PidsLimit}
	if s.Blkio == nil {
		// A runtime that counts only the totals (the Windows flow).
		out.BlkioStats = container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: s.BlkioRead}, {Op: "write", Value: s.BlkioWrite},
		}}
		return
	}
	keys := memoryStatV1
	if s.Cgroup2 {
		keys = memoryStatV2
	}
	out.MemoryStats.Stats = make(map[string]uint64, len(keys))
	for _, k := range keys {
		out.MemoryStats.Stats[k] = s.MemoryStat[k]
	}
	if s.Cgroup2 {
		var isbr []container.BlkioStatEntry
		for _, e := range s.Blkio.ServiceBytes {
			switch e.Op {
			case "Read", "Write":
				isbr = append(isbr, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: strings.ToLower(e.Op), Value: e.Value})
			}
		}
		out.BlkioStats = container.BlkioStats{IoServiceBytesRecursive: isbr}
		return
	}
	out.BlkioStats = container.BlkioStats{
		IoServiceBytesRecursive: blkioAPI(s.Blkio.ServiceBytes), IoServicedRecursive: blkioAPI(s.Blkio.Serviced),
		IoQueuedRecursive: blkioAPI(s.Blkio.Queued), IoServiceTimeRecursive: blkioAPI(s.Blkio.ServiceTime),
		IoWaitTimeRecursive: blkioAPI(s.Blkio.WaitTime), IoMergedRecursive: blkioAPI(s.Blkio.Merged),
		IoTimeRecursive: blkioAPI(s.Blkio.Time), SectorsRecursive: blkioAPI(s.Blkio.Sectors),
	}
}

// blkioAPI copies cgroup v1 entries; none is [], as dockerd's copy.
func blkioAPI(l []runtime.BlkioEntry) []container.BlkioStatEntry {
	out := make([]container.BlkioStatEntry, 0, len(l))
	for _, e := range l {
		out = append(out, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// memoryStatV1 are the memory.stat fields dockerd reports on cgroup v1
// (containerd's v1 metrics).
var memoryStatV1 = func() []string {
	own := []string{"cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
		"pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"}
	out := append(slices.Clone(own), "hierarchical_memory_limit", "hierarchical_memsw_limit")
	for _, k := range own {
		out = append(out, "total_"+k)
	}
	return out
}()

// memoryStatV2 are the memory.stat fields dockerd reports on cgroup v2
// (containerd's v2 metrics).
var memoryStatV2 = []string{"anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
	"file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
	"slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault", "workingset_refault", "workingset_activate",
	"workingset_nodereclaim", "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
	"pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc"}
