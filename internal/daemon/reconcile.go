package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// reconcile removes what a daemon that died in the middle of a create, a
// start or a remove left: without a container record, scratch layers
// (mounted or not), containers of the compute service, bundles and
// container folders — the record is written last at create and removed
// last at remove, so anything without one is a leftover —; for a record
// of a container that does not run, the compute service's container (an
// init waiting for a start that never came) and the mount of its layer;
// and a record whose scratch layer is gone (a remove cut short) becomes
// Dead, as dockerd marks it, for docker rm to finish.
func (d *Daemon) reconcile(ctx context.Context) {
	d.mu.Lock()
	known := map[string]*ctr{}
	for id, c := range d.ctrs {
		known[id] = c
	}
	d.mu.Unlock()
	idle := func(c *ctr) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		st := c.rec.State.Status
		return st != container.StateRunning && st != container.StatePaused && st != container.StateRestarting
	}
	if states, err := d.rt.List(ctx); err == nil {
		for _, st := range states {
			// Only the daemon's own (its bundles): `hull runtime` may share
			// this root with containers of its own.
			ours := strings.HasPrefix(st.Bundle, filepath.Join(d.cfg.ExecRoot, "containers")+string(filepath.Separator))
			c, isKnown := known[st.ID]
			switch {
			case !ours:
			case !isKnown:
				slog.Warn("removing a leftover container of the compute service", "id", st.ID)
				d.rt.Delete(ctx, st.ID, true)
			case idle(c):
				slog.Warn("removing the compute service's container of a container that does not run (a start cut short)", "id", st.ID)
				d.rt.Delete(ctx, st.ID, true)
				if err := d.layers.Unmount(ctx, st.ID); err != nil {
					slog.Warn("unmount the layer of a start cut short", "id", st.ID, "error", err)
				}
			}
		}
	}
	for id, c := range known {
		if _, err := d.layers.Get(ctx, id); !errdefs.IsNotFound(err) {
			continue
		}
		c.mu.Lock()
		if c.rec.State.Status != container.StateDead {
			slog.Warn("a container whose scratch layer is gone (a remove cut short) is dead", "id", id)
			c.rec.State.Status = container.StateDead
			c.rec.State.Pid = 0
			d.save(&c.rec)
		}
		c.mu.Unlock()
	}
	if infos, err := d.layers.List(ctx); err == nil {
		for _, in := range infos {
			if in.Scratch && known[in.ID] == nil {
				slog.Warn("removing a leftover scratch layer", "id", in.ID)
				// Forced: unmounted however many mounts it holds.
				if err := d.layers.Remove(ctx, in.ID, true); err != nil {
					slog.Error("remove a leftover scratch layer", "id", in.ID, "error", err)
				} else {
					d.removeInitLayer(ctx, in.Parent)
				}
			}
		}
	}
	for _, dir := range []string{filepath.Join(d.cfg.ExecRoot, "containers"), filepath.Join(d.cfg.Root, "containers")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if known[e.Name()] == nil && layer.ValidID(e.Name()) {
				slog.Warn("removing a leftover container folder", "path", filepath.Join(dir, e.Name()))
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	d.removeOrphanVolumes(known)
}
