package daemon

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// ContainerUpdate is POST /containers/{id}/update: memory, CPU and pids
// limits (applied to a running container's cgroups at once) and the
// restart policy.
func (d *Daemon) ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) ([]string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	if u.Memory < 0 || u.NanoCPUs < 0 || u.CPUShares < 0 {
		return nil, fmt.Errorf("update: limits cannot be negative: %w", errdefs.ErrInvalidArgument)
	}
	if u.Memory > 0 && u.Memory < 6<<20 {
		return nil, fmt.Errorf("Minimum memory limit allowed is 6MB: %w", errdefs.ErrInvalidArgument)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := *c.rec.HostConfig
	if u.RestartPolicy.Name != "" {
		h.RestartPolicy = u.RestartPolicy
		if _, err := checkHostConfig(&h); err != nil {
			return nil, err
		}
	}
	res := &specs.LinuxResources{}
	changed := false
	if u.Memory > 0 {
		h.Memory = u.Memory
		m := u.Memory
		res.Memory = &specs.LinuxMemory{Limit: &m}
		if u.MemorySwap != 0 {
			h.MemorySwap = u.MemorySwap
			sw := u.MemorySwap
			res.Memory.Swap = &sw
		}
		changed = true
	}
	if u.NanoCPUs > 0 {
		h.NanoCPUs = u.NanoCPUs
		period := uint64(100000)
		quota := u.NanoCPUs * int64(period) / 1e9
		res.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
		changed = true
	}
	if u.CPUShares > 0 {
		h.CPUShares = u.CPUShares
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		sh := uint64(u.CPUShares)
		res.CPU.Shares = &sh
		changed = true
	}
	if u.PidsLimit != nil && *u.PidsLimit != 0 {
		h.PidsLimit = u.PidsLimit
		l := *u.PidsLimit
		res.Pids = &specs.LinuxPids{Limit: &l}
		changed = true
	}
	running := c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused
	if changed && running {
		if err := d.rt.Update(ctx, c.rec.ID, res); err != nil {
			return nil, err
		}
	}
	c.rec.HostConfig = &h
	if err := d.save(&c.rec); err != nil {
		return nil, err
	}
	d.containerEvent(c, events.ActionUpdate)
	return []string{}, nil
}
