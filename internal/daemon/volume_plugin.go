package daemon

// Legacy volume plugins: Docker's VolumeDriver.* protocol (Create, Remove,
// Get, List, Path, Mount, Unmount, Capabilities) over the plugin discovery
// the network plugins use (internal/plugin: sockets and spec files, a
// plugin that answers Plugin.Activate with "VolumeDriver"). A volume of a
// plugin is recorded in hull.db with its driver, labels and options; its
// mount point is the plugin's, asked with Mount when a container that uses
// it starts (under a mount id of that container's mount) and given back
// with Unmount when it stops; errors of the plugin read as dockerd's
// ("create v: <the plugin's Err>").

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/plugin"
)

// isPluginDriver says whether a volume driver's name is a plugin's (not
// the local driver).
func isPluginDriver(name string) bool { return name != "" && name != "local" }

// volumeDriver is a plugin that serves volumes.
type volumeDriver struct {
	name string
	p    *plugin.Plugin
}

// pluginVolume is a volume as a plugin describes it (Get, List).
type pluginVolume struct {
	Name       string
	Mountpoint string
	CreatedAt  string         `json:",omitempty"`
	Status     map[string]any `json:",omitempty"`
}

// seenVolumeDrivers are the volume plugins the daemon has found since it
// started (looked up by name, or listed): /info's Plugins.Volume names
// them, as dockerd's volume driver store keeps every legacy plugin it
// found.
type seenVolumeDrivers struct {
	mu    sync.Mutex
	names map[string]bool
}

func (s *seenVolumeDrivers) add(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[string]bool{}
	}
	s.names[name] = true
}

// list is the names, sorted.
func (s *seenVolumeDrivers) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.names))
}

// volumeDriver finds and activates the volume plugin name.
func (d *Daemon) volumeDriver(ctx context.Context, name string) (*volumeDriver, error) {
	if d.plugins == nil {
		return nil, fmt.Errorf("error looking up volume plugin %s: plugin %q not found: %w", name, name, errdefs.ErrNotFound)
	}
	p, err := d.plugins.Get(ctx, name, "VolumeDriver")
	if err != nil {
		if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
			return nil, fmt.Errorf("error looking up volume plugin %s: plugin %q not found: %w", name, name, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("error looking up volume plugin %s: %w", name, err)
	}
	d.volDrivers.add(name)
	return &volumeDriver{name: name, p: p}, nil
}

// call is one VolumeDriver call; an error the plugin answered reads as
// dockerd's plugin client shows it: its Err alone in an ordinary answer,
// "VolumeDriver.<Method>: <its Err>" with an HTTP error status.
func (v *volumeDriver) call(ctx context.Context, method string, req, resp any) error {
	err := v.p.Call(ctx, "VolumeDriver."+method, req, resp)
	var perr *plugin.Error
	if errors.As(err, &perr) {
		if perr.Status == http.StatusOK {
			return errors.New(perr.Msg)
		}
		return fmt.Errorf("VolumeDriver.%s: %s", method, perr.Msg)
	}
	return err
}

// allVolumeDrivers activates every volume plugin in the plugin folders.
// Preconditions: d.plugins is set.
func (d *Daemon) allVolumeDrivers(ctx context.Context) []*volumeDriver {
	var out []*volumeDriver
	for _, p := range d.plugins.All(ctx, "VolumeDriver") {
		d.volDrivers.add(p.Name)
		out = append(out, &volumeDriver{name: p.Name, p: p})
	}
	return out
}

func (v *volumeDriver) get(ctx context.Context, name string) (*pluginVolume, error) {
	var resp struct{ Volume *pluginVolume }
	if err := v.call(ctx, "Get", map[string]string{"Name": name}, &resp); err != nil {
		return nil, err
	}
	if resp.Volume == nil {
		return nil, fmt.Errorf("no such volume: %w", errdefs.ErrNotFound)
	}
	return resp.Volume, nil
}

func (v *volumeDriver) list(ctx context.Context) ([]pluginVolume, error) {
	var resp struct{ Volumes []pluginVolume }
	err := v.call(ctx, "List", struct{}{}, &resp)
	return resp.Volumes, err
}

// scope is the driver's Capabilities' scope, "local" when it has none.
func (v *volumeDriver) scope(ctx context.Context) string {
	var resp struct{ Capabilities struct{ Scope string } }
	if err := v.call(ctx, "Capabilities", struct{}{}, &resp); err == nil && (resp.Capabilities.Scope == "global" || resp.Capabilities.Scope == "local") {
		return resp.Capabilities.Scope
	}
	return "local"
}

// pluginVolumeAPI is a plugin volume as the API shows it: hull's record
// (labels, options) with the plugin's mount point (and, with withStatus,
// its status and creation time).
func (d *Daemon) pluginVolumeAPI(ctx context.Context, v *volumeDriver, r volumeRecord, pv *pluginVolume, withStatus bool) volume.Volume {
	out := volume.Volume{Name: r.Name, Driver: v.name, Labels: r.Labels, Options: r.Options, Scope: v.scope(ctx),
		CreatedAt: time.Time{}.Format(time.RFC3339)}
	if pv != nil {
		out.Mountpoint = pv.Mountpoint
		// Only Get describes a volume whole; dockerd keeps nothing but the
		// name and mount point of what List gives.
		if withStatus {
			if t, err := time.Parse(time.RFC3339Nano, pv.CreatedAt); err == nil {
				out.CreatedAt = t.Format(time.RFC3339)
			}
			out.Status = pv.Status
		}
	}
	return out
}

// volumeCreateDriver is POST /volumes/create where a plugin has a part: a
// volume of that name exists with a driver the request does not name (409,
// dockerd's text), or exists with a plugin (given back), or the request
// names a plugin. handled is false for what the local driver does alone.
func (d *Daemon) volumeCreateDriver(ctx context.Context, req volume.CreateRequest) (_ volume.Volume, handled bool, _ error) {
	if req.Name != "" {
		if r, err := d.getVolume(req.Name); err == nil {
			have := r.Driver
			if have == "" {
				have = "local"
			}
			if req.Driver != "" && req.Driver != have {
				return volume.Volume{}, true, fmt.Errorf("create %s: driver '%s' already has volume '%s': volume name must be unique: %w", req.Name, have, req.Name, errdefs.ErrConflict)
			}
			if !isPluginDriver(have) {
				return volume.Volume{}, false, nil
			}
			v, err := d.volumeDriver(ctx, have)
			if err != nil {
				return volume.Volume{}, true, fmt.Errorf("create %s: %w", req.Name, err)
			}
			return d.pluginVolumeAPI(ctx, v, r, nil, false), true, nil
		}
	}
	if !isPluginDriver(req.Driver) {
		return volume.Volume{}, false, nil
	}
	r, err := d.createPluginVolume(ctx, req.Driver, req.Name, req.DriverOpts, req.Labels)
	if err != nil {
		return volume.Volume{}, true, err
	}
	v, err := d.volumeDriver(ctx, req.Driver)
	if err != nil {
		return volume.Volume{}, true, err
	}
	return d.pluginVolumeAPI(ctx, v, r, nil, false), true, nil
}

// createPluginVolume has the plugin make the volume (unless it has it
// already) and records it; an empty name is a new anonymous volume's.
func (d *Daemon) createPluginVolume(ctx context.Context, driver, name string, opts, labels map[string]string) (volumeRecord, error) {
	anonymous := name == ""
	if anonymous {
		name = newID()
	}
	v, err := d.volumeDriver(ctx, driver)
	if err != nil {
		return volumeRecord{}, fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := v.get(ctx, name); err != nil {
		if err := v.call(ctx, "Create", map[string]any{"Name": name, "Opts": opts}, nil); err != nil {
			return volumeRecord{}, fmt.Errorf("create %s: %w", name, err)
		}
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	rec := volumeRecord{Name: name, CreatedAt: time.Now().UTC(), Labels: labels, Options: opts, Anonymous: anonymous, Driver: driver}
	created := false
	err = d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVolumes)
		if v := b.Get([]byte(name)); v != nil {
			return nil // made meanwhile: the same volume
		}
		created = true
		return putVolumeRecord(b, rec)
	})
	if err != nil {
		return volumeRecord{}, err
	}
	if created {
		d.emit(events.VolumeEventType, events.ActionCreate, name, map[string]string{"driver": driver})
	}
	return rec, nil
}

// volumeInspectDriver is GET /volumes/{name} for a plugin's volume: one
// hull recorded, or one a plugin has that hull does not know (dockerd asks
// every volume plugin). handled is false for local volumes.
func (d *Daemon) volumeInspectDriver(ctx context.Context, name string) (_ volume.Volume, handled bool, _ error) {
	r, err := d.getVolume(name)
	if err == nil {
		if !isPluginDriver(r.Driver) {
			return volume.Volume{}, false, nil
		}
		v, err := d.volumeDriver(ctx, r.Driver)
		if err != nil {
			return volume.Volume{}, true, fmt.Errorf("get %s: %w", name, err)
		}
		pv, err := v.get(ctx, name)
		if err != nil {
			return volume.Volume{}, true, fmt.Errorf("get %s: %w", name, err)
		}
		return d.pluginVolumeAPI(ctx, v, r, pv, true), true, nil
	}
	if !errdefs.IsNotFound(err) || d.plugins == nil {
		return volume.Volume{}, false, nil
	}
	for _, v := range d.allVolumeDrivers(ctx) {
		if pv, err := v.get(ctx, name); err == nil {
			return d.pluginVolumeAPI(ctx, v, volumeRecord{Name: name}, pv, true), true, nil
		}
	}
	return volume.Volume{}, false, nil
}

// pluginVolumes are the volumes of the volume plugins for GET /volumes:
// what each plugin lists (known to hull or not; hull's record adds the
// labels and options), and a warning for a plugin that does not answer.
// recs are hull's records of plugin volumes.
func (d *Daemon) pluginVolumes(ctx context.Context, recs []volumeRecord) ([]volume.Volume, []string) {
	drivers := map[string]*volumeDriver{}
	if d.plugins != nil {
		for _, v := range d.allVolumeDrivers(ctx) {
			drivers[v.name] = v
		}
	}
	byName := map[string]volumeRecord{}
	for _, r := range recs {
		byName[r.Name] = r
		if drivers[r.Driver] == nil {
			if v, err := d.volumeDriver(ctx, r.Driver); err == nil {
				drivers[r.Driver] = v
			}
		}
	}
	var out []volume.Volume
	var warnings []string
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := drivers[n]
		list, err := v.list(ctx)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("driver %s: %v", n, err))
			continue
		}
		for _, pv := range list {
			r, ok := byName[pv.Name]
			if !ok || r.Driver != n {
				r = volumeRecord{Name: pv.Name}
			}
			out = append(out, d.pluginVolumeAPI(ctx, v, r, &pv, false))
		}
	}
	return out, warnings
}

// volumeRemoveDriver is DELETE /volumes/{name} for a plugin's volume
// (recorded, or only known to a plugin). handled is false for local
// volumes and names no one has.
func (d *Daemon) volumeRemoveDriver(ctx context.Context, name string, force bool) (handled bool, _ error) {
	r, err := d.getVolume(name)
	if err == nil {
		if !isPluginDriver(r.Driver) {
			return false, nil
		}
		if users := d.volumeUsers(name); len(users) > 0 {
			return true, fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, joinIDs(users), errdefs.ErrConflict)
		}
		return true, d.removePluginVolume(ctx, r)
	}
	if !errdefs.IsNotFound(err) || d.plugins == nil {
		return false, nil
	}
	for _, v := range d.allVolumeDrivers(ctx) {
		if _, err := v.get(ctx, name); err == nil {
			return true, d.removePluginVolume(ctx, volumeRecord{Name: name, Driver: v.name})
		}
	}
	return false, nil
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		out += id
	}
	return out
}

// removePluginVolume has the plugin remove the volume, then forgets it.
func (d *Daemon) removePluginVolume(ctx context.Context, r volumeRecord) error {
	v, err := d.volumeDriver(ctx, r.Driver)
	if err != nil {
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	if err := v.call(ctx, "Remove", map[string]string{"Name": r.Name}, nil); err != nil {
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	d.volMu.Lock()
	err = d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVolumes).Delete([]byte(r.Name)) })
	d.volMu.Unlock()
	if err != nil {
		return err
	}
	d.emit(events.VolumeEventType, events.ActionDestroy, r.Name, map[string]string{"driver": r.Driver})
	return nil
}

// mountDriver is the volume driver, options and labels for a container's
// volume at dest: its --mount's volume-driver, else the container's
// --volume-driver (which -v, the image's volumes and, as dockerd 20.10,
// a --mount without one take).
func mountDriver(host *container.HostConfig, dest string) (driver string, opts, labels map[string]string) {
	for _, mm := range host.Mounts {
		if mm.Type != mount.TypeVolume || path.Clean(mm.Target) != dest || mm.VolumeOptions == nil {
			continue
		}
		labels = mm.VolumeOptions.Labels
		if dc := mm.VolumeOptions.DriverConfig; dc != nil {
			opts = dc.Options
			if dc.Name != "" {
				return dc.Name, opts, labels
			}
		}
	}
	return host.VolumeDriver, opts, labels
}

// pluginMountPoint resolves a container's volume at create when a plugin
// serves it: the volume exists with a plugin, or the driver asked for is
// one (the volume is then made). ok is false for the local driver's. The
// mount point's source is the plugin's, known at start.
func (d *Daemon) pluginMountPoint(host *container.HostConfig, m mountPoint) (mountPoint, bool, error) {
	ctx := context.Background() // resolveMounts has none; each call is bounded by the plugin timeout
	driver, opts, labels := mountDriver(host, m.Destination)
	if m.Name != "" {
		if r, err := d.getVolume(m.Name); err == nil {
			have := r.Driver
			if have == "" {
				have = "local"
			}
			if driver != "" && driver != have {
				return m, true, fmt.Errorf("create %s: driver '%s' already has volume '%s': volume name must be unique: %w", m.Name, have, m.Name, errdefs.ErrConflict)
			}
			if !isPluginDriver(have) {
				return m, false, nil
			}
			driver = have
		}
	}
	if !isPluginDriver(driver) {
		return m, false, nil
	}
	r, err := d.createPluginVolume(ctx, driver, m.Name, opts, labels)
	if err != nil {
		return m, true, err
	}
	m.Name, m.Driver, m.Source, m.MountID = r.Name, driver, "", newID()
	if m.zDefault {
		m.Mode = "" // dockerd defaults the mode for the local driver only
	}
	return m, true, nil
}

// mountPluginVolumes has the plugins mount c's volumes for its start and
// records their mount points as the mounts' sources; on an error what it
// mounted is unmounted. Preconditions: c.mu is held.
func (d *Daemon) mountPluginVolumes(c *ctr) error {
	ctx := context.Background()
	ms := slices.Clone(c.rec.Mounts)
	changed := false
	for i, m := range ms {
		// Mounted again even when a source is recorded: a daemon that
		// stopped in the middle of a start may have left one.
		if m.Type != mount.TypeVolume || !isPluginDriver(m.Driver) {
			continue
		}
		m.Source = ""
		v, err := d.volumeDriver(ctx, m.Driver)
		if err == nil {
			var resp struct{ Mountpoint string }
			if err = v.call(ctx, "Mount", map[string]string{"Name": m.Name, "ID": m.MountID}, &resp); err == nil && resp.Mountpoint == "" {
				err = fmt.Errorf("VolumeDriver.Mount: the plugin gave no mount point")
			}
			ms[i].Source = resp.Mountpoint
		}
		if err != nil {
			ms[i].Source = ""
			c.rec.Mounts = ms
			d.unmountPluginVolumes(c)
			return fmt.Errorf("error while mounting volume '%s': %w", m.Source, err)
		}
		changed = true
	}
	if changed {
		c.rec.Mounts = ms
	}
	return nil
}

// unmountPluginVolumes gives back the plugins' mounts of c's volumes (at
// its exit, or a failed start). Preconditions: c.mu is held.
func (d *Daemon) unmountPluginVolumes(c *ctr) {
	ctx := context.Background()
	var ms []mountPoint
	for i, m := range c.rec.Mounts {
		if m.Type != mount.TypeVolume || !isPluginDriver(m.Driver) || m.Source == "" {
			continue
		}
		if v, err := d.volumeDriver(ctx, m.Driver); err == nil {
			if err := v.call(ctx, "Unmount", map[string]string{"Name": m.Name, "ID": m.MountID}, nil); err != nil {
				d.logVolumeError(c.rec.ID, m.Name, err)
			}
		} else {
			d.logVolumeError(c.rec.ID, m.Name, err)
		}
		if ms == nil {
			ms = slices.Clone(c.rec.Mounts)
		}
		ms[i].Source = ""
	}
	if ms != nil {
		c.rec.Mounts = ms
	}
}

func (d *Daemon) logVolumeError(containerID, volume string, err error) {
	slog.Warn("unmount a plugin's volume", "container", containerID, "volume", volume, "error", err)
}

func putVolumeRecord(b *bolt.Bucket, r volumeRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.Name), v)
}
