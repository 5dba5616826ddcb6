package daemon

// The local driver's options (docker volume create -o type=… -o device=…
// -o o=…): checked at create as dockerd's local driver checks them, kept
// in the volume's record (inspect's Options), and mounted on the volume's
// _data folder while a container that uses the volume runs, as dockerd
// mounts them (volume_local_linux.go). Windows takes no options.

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"

	"github.com/moby/moby/api/types/mount"

	"github.com/hullproject/hull/internal/errdefs"
)

// localVolumeMounts counts who holds each local volume whose options are
// mounted: the volume is mounted for its first holder and unmounted when
// the last one lets go, as dockerd's local driver counts its Mount calls.
type localVolumeMounts struct {
	mu sync.Mutex
	// holders: volume name → ids of the containers holding it.
	holders map[string]map[string]bool
}

// needsMount says whether a local volume's options ask for a mount (a
// device or a file system type), as dockerd's needsMount.
func needsMount(opts map[string]string) bool {
	return opts["device"] != "" || opts["type"] != ""
}

// checkLocalOptions checks the options of a new local volume (the
// request's DriverOpts), in dockerd's words ("create v: invalid option:
// \"bogus\"").
func checkLocalOptions(name string, opts map[string]string) error {
	if len(opts) == 0 {
		return nil
	}
	if err := checkLocalOptionsImpl(opts); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// mountedLocalVolumes are the local volumes of c whose options need a
// mount, with their options, in c's mount order.
func (d *Daemon) mountedLocalVolumes(c *ctr) []volumeRecord {
	var out []volumeRecord
	for _, m := range c.rec.Mounts {
		if m.Type != mount.TypeVolume || isPluginDriver(m.Driver) || m.Name == "" {
			continue
		}
		if slices.ContainsFunc(out, func(r volumeRecord) bool { return r.Name == m.Name }) {
			continue
		}
		r, err := d.getVolume(m.Name)
		if err != nil || isPluginDriver(r.Driver) || !needsMount(r.Options) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// mountLocalVolumes mounts the local volumes of c that have mount options
// (once for all their holders) before c starts; on an error what it
// mounted is let go. Preconditions: c.mu is held.
func (d *Daemon) mountLocalVolumes(c *ctr) error {
	lv := &d.localVols
	lv.mu.Lock()
	defer lv.mu.Unlock()
	var done []string
	for _, r := range d.mountedLocalVolumes(c) {
		if err := lv.hold(d, r, c.rec.ID); err != nil {
			for _, name := range done {
				lv.release(d, name, c.rec.ID)
			}
			return err
		}
		done = append(done, r.Name)
	}
	return nil
}

// unmountLocalVolumes lets go of c's local volumes with mount options (at
// its exit, or a failed start); a volume no one else holds is unmounted.
// Preconditions: c.mu is held.
func (d *Daemon) unmountLocalVolumes(c *ctr) {
	lv := &d.localVols
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for name, hs := range lv.holders {
		if hs[c.rec.ID] {
			lv.release(d, name, c.rec.ID)
		}
	}
}

// holdLocalVolumes counts a container found running at daemon start as a
// holder of its mounted local volumes (they stayed mounted).
func (d *Daemon) holdLocalVolumes(c *ctr) {
	lv := &d.localVols
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for _, r := range d.mountedLocalVolumes(c) {
		lv.add(r.Name, c.rec.ID)
	}
}

// unmountLocalVolume unmounts a local volume that is being removed, if
// its options were mounted. Preconditions: no container uses it.
func (d *Daemon) unmountLocalVolume(r volumeRecord) error {
	if !needsMount(r.Options) {
		return nil
	}
	lv := &d.localVols
	lv.mu.Lock()
	defer lv.mu.Unlock()
	delete(lv.holders, r.Name)
	return unmountLocalImpl(d.volumeDataDir(r.Name))
}

func (d *Daemon) volumeDataDir(name string) string { return filepath.Join(d.volumeDir(name), "_data") }

func (lv *localVolumeMounts) add(name, id string) {
	if lv.holders == nil {
		lv.holders = map[string]map[string]bool{}
	}
	if lv.holders[name] == nil {
		lv.holders[name] = map[string]bool{}
	}
	lv.holders[name][id] = true
}

// hold mounts r for its first holder. Preconditions: lv.mu is held.
func (lv *localVolumeMounts) hold(d *Daemon, r volumeRecord, id string) error {
	if len(lv.holders[r.Name]) == 0 {
		if err := mountLocalImpl(r.Options, d.volumeDataDir(r.Name)); err != nil {
			return fmt.Errorf("error while mounting volume '%s': failed to mount local volume: %w", d.volumeDataDir(r.Name), err)
		}
	}
	lv.add(r.Name, id)
	return nil
}

// release lets id go of the volume name, unmounting it after its last
// holder. Preconditions: lv.mu is held.
func (lv *localVolumeMounts) release(d *Daemon, name, id string) {
	hs := lv.holders[name]
	delete(hs, id)
	if len(hs) > 0 {
		return
	}
	delete(lv.holders, name)
	if err := unmountLocalImpl(d.volumeDataDir(name)); err != nil {
		d.logVolumeError(id, name, err)
	}
}

// localOptionKeys are the options dockerd's local driver knows, in a fixed
// order for the checks (dockerd walks a map).
var localOptionKeys = []string{"device", "o", "size", "type"}

// localRequiredOptions: an option needs the others listed (dockerd's
// mandatoryOpts).
var localRequiredOptions = map[string][]string{
	"device": {"type"},
	"type":   {"device"},
	"o":      {"device", "type"},
}

// checkLocalOptionKeys: every option known, and each one's companions
// given.
func checkLocalOptionKeys(opts map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if !slices.Contains(localOptionKeys, k) {
			return fmt.Errorf("invalid option: %q: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(localRequiredOptions)) {
		if _, ok := opts[k]; !ok {
			continue
		}
		for _, req := range localRequiredOptions[k] {
			if _, ok := opts[req]; !ok {
				return fmt.Errorf("missing required option: %q: %w", req, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// mountVolumes mounts what c's volumes need before c starts: local volumes
// with mount options, then the plugins' volumes. Preconditions: c.mu is
// held.
func (d *Daemon) mountVolumes(c *ctr) error {
	if err := d.mountLocalVolumes(c); err != nil {
		return err
	}
	if err := d.mountPluginVolumes(c); err != nil {
		d.unmountLocalVolumes(c)
		return err
	}
	return nil
}

// unmountVolumes undoes mountVolumes (at c's exit, or a failed start).
// Preconditions: c.mu is held.
func (d *Daemon) unmountVolumes(c *ctr) {
	d.unmountPluginVolumes(c)
	d.unmountLocalVolumes(c)
}
