package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullproject/hull/internal/layer"
)

// reconcile removes what a daemon that died in the middle of a create or a
// remove left without a container record: scratch layers (mounted or
// not), containers of the compute service, bundles and container folders.
// The record is written last at create and removed last at remove, so
// anything without one is a leftover.
func (d *Daemon) reconcile(ctx context.Context) {
	d.mu.Lock()
	known := map[string]bool{}
	for id := range d.ctrs {
		known[id] = true
	}
	d.mu.Unlock()
	if states, err := d.rt.List(ctx); err == nil {
		for _, st := range states {
			// Only the daemon's own (its bundles): `hull runtime` may share
			// this root with containers of its own.
			ours := strings.HasPrefix(st.Bundle, filepath.Join(d.cfg.ExecRoot, "containers")+string(filepath.Separator))
			if !known[st.ID] && ours {
				slog.Warn("removing a leftover container of the compute service", "id", st.ID)
				d.rt.Delete(ctx, st.ID, true)
			}
		}
	}
	if infos, err := d.layers.List(ctx); err == nil {
		for _, in := range infos {
			if in.Scratch && !known[in.ID] {
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
			if !known[e.Name()] && layer.ValidID(e.Name()) {
				slog.Warn("removing a leftover container folder", "path", filepath.Join(dir, e.Name()))
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
}
