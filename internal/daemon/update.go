package daemon

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/errdefs"
)

// ContainerUpdate is POST /containers/{id}/update, as dockerd's: the
// update is checked as a create's resources are (what the host's cgroups
// cannot do is dropped with a warning), merged into the container's
// resources (a field left 0 keeps its value), applied at once to a running
// container's cgroup (every resource, so the cgroup matches what inspect
// shows), and the restart policy replaced.
func (d *Daemon) ContainerUpdate(ctx context.Context, ref string, u container.UpdateConfig) ([]string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	if u.PidsLimit != nil && *u.PidsLimit <= 0 {
		// 0 and any negative value lift the limit.
		u.PidsLimit = ptr(int64(0))
	}
	upd := &container.HostConfig{Resources: u.Resources, RestartPolicy: u.RestartPolicy}
	warnings, err := verifySettings(nil, upd, true)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.rec.ID
	cannot := func(err error) error { return fmt.Errorf("Cannot update container %s: %w", id, err) }
	if c.removed {
		return nil, cannot(fmt.Errorf("container is marked for removal and cannot be \"update\": %w", errdefs.ErrConflict))
	}
	h := *c.rec.HostConfig
	if err := mergeUpdate(&h, upd); err != nil {
		return nil, cannot(err)
	}
	running := c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused
	if running {
		res, err := linuxResources(h.Resources, true)
		if err != nil {
			return nil, cannot(err)
		}
		if err := d.rt.Update(ctx, id, res); err != nil {
			return nil, cannot(err)
		}
	}
	c.rec.HostConfig = &h
	if err := d.save(&c.rec); err != nil {
		return nil, cannot(err)
	}
	d.containerEvent(c, events.ActionUpdate)
	return warnings, nil // null when there are none, as dockerd answers
}

// mergeUpdate is dockerd's Container.UpdateContainer: the conflicts of an
// update with what the container has, then each field the update sets.
func mergeUpdate(h, u *container.HostConfig) error {
	r, cur := u.Resources, &h.Resources
	conflict := func(msg string) error { return fmt.Errorf("%s: %w", msg, errdefs.ErrConflict) }
	switch {
	case r.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case r.NanoCPUs > 0 && cur.CPUQuota > 0:
		return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case r.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case r.CPUQuota > 0 && cur.NanoCPUs > 0:
		return conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if r.Memory != 0 && r.Memory > cur.MemorySwap && r.MemorySwap == 0 {
		return conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	// What the update names replaces what the container has; a zero
	// leaves it (dockerd's UpdateContainer).
	setGiven(&cur.BlkioWeight, r.BlkioWeight)
	setGiven(&cur.CPUShares, r.CPUShares)
	setGiven(&cur.NanoCPUs, r.NanoCPUs)
	setGiven(&cur.CPUPeriod, r.CPUPeriod)
	setGiven(&cur.CPUQuota, r.CPUQuota)
	setGiven(&cur.CpusetCpus, r.CpusetCpus)
	setGiven(&cur.CpusetMems, r.CpusetMems)
	setGiven(&cur.Memory, r.Memory)
	setGiven(&cur.MemorySwap, r.MemorySwap)
	setGiven(&cur.MemoryReservation, r.MemoryReservation)
	setGiven(&cur.CPURealtimePeriod, r.CPURealtimePeriod)
	setGiven(&cur.CPURealtimeRuntime, r.CPURealtimeRuntime)
	if r.PidsLimit != nil {
		cur.PidsLimit = r.PidsLimit
	}
	if u.RestartPolicy.Name != "" {
		if h.AutoRemove && !u.RestartPolicy.IsNone() {
			return conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		h.RestartPolicy = u.RestartPolicy
	}
	return nil
}

// setGiven sets *dst to v unless v is its type's zero value.
func setGiven[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
