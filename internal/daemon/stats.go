package daemon

// Stats: GET /containers/{id}/stats, the StatsJSON the docker CLI reads
// (CPU with the host's total, so that docker stats shows a real CPU %).

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
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
		out.CPUStats = container.CPUStats{
			CPUUsage:    container.CPUUsage{TotalUsage: s.CPUUsageNS},
			SystemUsage: systemCPUUsage(),
			OnlineCPUs:  onlineCPUs(),
		}
		out.MemoryStats = container.MemoryStats{Usage: s.MemoryUsage, Limit: s.MemoryLimit}
		if out.MemoryStats.Limit == 0 || out.MemoryStats.Limit > 1<<62 {
			out.MemoryStats.Limit = hostMemory()
		}
		out.PidsStats = container.PidsStats{Current: s.PidsCurrent, Limit: s.PidsLimit}
		out.Networks = d.networkStats(id)
		out.BlkioStats = container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: s.BlkioRead}, {Op: "write", Value: s.BlkioWrite},
		}}
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
