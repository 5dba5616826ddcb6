package daemon

// What the CRI's stats (ContainerStats, ListContainerStats, the pods'
// stats) need of the engine beyond the Docker API's stats: one sample
// taken at once, with the cgroup's own memory limit and all of memory.stat,
// and the usage of a container's writable layer.

import (
	"context"
	"maps"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// ContainerSample is one sample of a running container's counters, taken
// now, in the Engine API's stats shape (statsShape) with two differences
// the CRI needs: MemoryStats.Limit is the cgroup's own limit (a huge
// number when there is none, not the host's memory) and MemoryStats.Stats
// holds every field of the cgroup's memory.stat (cgroup v1: the total_*
// fields, swap and hierarchical_memsw_limit among them; v2: anon,
// inactive_file …). Read is when it was taken. running is false, and the
// sample empty, when the container does not run.
func (d *Daemon) ContainerSample(ctx context.Context, ref string) (out container.StatsResponse, running bool, err error) {
	c, err := d.lookup(ref)
	if err != nil {
		return out, false, err
	}
	c.mu.Lock()
	id, name, st := c.rec.ID, c.rec.Name, c.rec.State.Status
	c.mu.Unlock()
	out = container.StatsResponse{ID: id, Name: "/" + name, OSType: osType}
	if st != container.StateRunning && st != container.StatePaused {
		return out, false, nil
	}
	s, err := d.stats(ctx, c, id)
	out.Read = time.Now().UTC()
	if err != nil {
		if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
			return out, false, nil // it stopped meanwhile
		}
		return out, false, err
	}
	statsShape(&out, s)
	out.MemoryStats.Limit = s.MemoryLimit
	out.MemoryStats.Stats = maps.Clone(s.MemoryStat)
	return out, true, nil
}

// WritableLayer is the usage of the container's scratch layer: the mount
// point of the file system that holds the layers (ImageFilesystem's), and
// the bytes and inodes the layer's own files take.
func (d *Daemon) WritableLayer(ctx context.Context, ref string) (mountpoint string, used, inodes uint64, err error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", 0, 0, err
	}
	c.mu.Lock()
	id := c.rec.ID
	c.mu.Unlock()
	if mountpoint, err = mountPointOf(d.layers.LayersDir()); err != nil {
		return "", 0, 0, err
	}
	used, inodes, err = d.layers.Usage(ctx, id)
	return mountpoint, used, inodes, err
}
