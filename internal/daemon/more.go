package daemon

// Pause, rename, top and diff: the container operations whose parts the
// compute service and the layer store already have.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// ContainerPause is POST /containers/{id}/pause (the cgroup freezer).
func (d *Daemon) ContainerPause(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.rec.State.Status {
	case container.StateRunning:
	case container.StatePaused:
		return fmt.Errorf("Container %s is already paused: %w", c.rec.ID, errdefs.ErrConflict)
	case container.StateRestarting:
		return fmt.Errorf("Container %s is restarting, wait until the container is running: %w", c.rec.ID, errdefs.ErrConflict)
	default:
		return fmt.Errorf("Container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if err := d.rt.Pause(ctx, c.rec.ID); err != nil {
		return err
	}
	c.rec.State.Status = container.StatePaused
	d.stopHealthLocked(c)
	d.save(&c.rec)
	c.notify()
	d.containerEvent(c, events.ActionPause)
	return nil
}

// ContainerUnpause is POST /containers/{id}/unpause.
func (d *Daemon) ContainerUnpause(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.State.Status != container.StatePaused {
		return fmt.Errorf("Container %s is not paused: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if err := d.rt.Resume(ctx, c.rec.ID); err != nil {
		return err
	}
	c.rec.State.Status = container.StateRunning
	d.resumeHealth(c)
	d.save(&c.rec)
	c.notify()
	d.containerEvent(c, events.ActionUnPause)
	return nil
}

// ContainerRename is POST /containers/{id}/rename.
func (d *Daemon) ContainerRename(ctx context.Context, ref, name string) error {
	// dockerd's order and words (daemon/rename.go): empty names before the
	// lookup, the same name, then the new name's reservation, whose errors
	// it prefixes.
	ref, name = strings.TrimSpace(ref), strings.TrimSpace(name)
	if strings.TrimPrefix(ref, "/") == "" || strings.TrimPrefix(name, "/") == "" {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Neither old nor new names may be empty")
	}
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	name = strings.TrimPrefix(name, "/")
	c.mu.Lock()
	same := c.rec.Name == name
	c.mu.Unlock()
	if same {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Renaming a container with the same name as its current name")
	}
	if !namePattern.MatchString(name) {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Error when allocating new name: Invalid container name (/%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	d.mu.Lock()
	if other, ok := d.names[name]; ok {
		d.mu.Unlock()
		return errdefs.Dockerf(errdefs.ErrConflict, "Error when allocating new name: Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, other)
	}
	c.mu.Lock()
	old := c.rec.Name
	c.rec.Name = name
	if err := d.save(&c.rec); err != nil {
		c.rec.Name = old
		c.mu.Unlock()
		d.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	delete(d.names, old)
	d.names[name] = c.rec.ID
	d.mu.Unlock()
	// Its endpoints answer to the new name in the resolver.
	if err := d.net.Rename(c.rec.ID, name); err != nil {
		slog.Warn("rename the container's endpoints", "id", c.rec.ID, "error", err)
	}
	d.containerEvent(c, events.ActionRename, "oldName", "/"+old)
	return nil
}

// ContainerTop is GET /containers/{id}/top: the container's processes as
// ps shows them (ps_args chooses the columns, -ef by default).
func (d *Daemon) ContainerTop(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return container.TopResponse{}, err
	}
	if !running(c) || c.rec.State.Status == container.StateCreated {
		return container.TopResponse{}, fmt.Errorf("Container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if d.win != nil {
		return d.topWindows(c)
	}
	pids, err := d.rt.Ps(ctx, c.rec.ID)
	if err != nil {
		return container.TopResponse{}, err
	}
	top, err := psTable(ctx, psArgs, pids)
	if err == nil {
		d.containerEvent(c, events.ActionTop)
	}
	return top, err
}

// ContainerChanges is GET /containers/{id}/changes: what the container
// changed in its scratch layer — read from the layer folders, so it works
// on a running container too.
func (d *Daemon) ContainerChanges(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	changes, err := d.layers.Changes(ctx, c.rec.ID)
	if err != nil {
		return nil, err
	}
	// The mount points of Docker's init layer are not the container's
	// changes; a container made before hull had init layers has them in
	// its scratch layer (the runtime made them there): they are left out,
	// and a folder changed only by them with them. The targets of its
	// volumes and tmpfs mounts are changes, as dockerd lists them.
	skip := map[string]bool{}
	for _, m := range []string{"/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"} {
		skip[m] = true
	}
	var kept []container.FilesystemChange
	for _, ch := range changes {
		if ch.Kind == layer.ChangeAdd && skip[ch.Path] {
			continue
		}
		kept = append(kept, container.FilesystemChange{Path: ch.Path, Kind: container.ChangeType(ch.Kind)})
	}
	var out []container.FilesystemChange // null when nothing changed, as dockerd answers
	for _, ch := range kept {
		if ch.Kind == container.ChangeModify {
			// A changed folder stays if something under it is still listed
			// or the folder itself is all there is (its metadata changed).
			under := false
			for _, other := range kept {
				if strings.HasPrefix(other.Path, ch.Path+"/") {
					under = true
					break
				}
			}
			hadSkipped := false
			for p := range skip {
				if strings.HasPrefix(p, ch.Path+"/") {
					hadSkipped = true
				}
			}
			if !under && hadSkipped {
				continue
			}
		}
		out = append(out, ch)
	}
	return out, nil
}
