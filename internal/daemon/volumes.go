package daemon

// Volumes of the local driver: <root>/volumes/<name>/_data, records in
// hull.db; and the mounts of a container (named and anonymous volumes,
// binds, tmpfs) resolved at create.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

var bucketVolumes = []byte("volumes")

type volumeRecord struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	// Anonymous volumes go with their container when it is removed with
	// its volumes (docker rm -v, --rm).
	Anonymous bool `json:"anonymous,omitempty"`
	// Driver is the volume plugin that holds it; "" for the local driver.
	Driver string `json:"driver,omitempty"`
}

// mountPoint is one mount of a container, resolved at create.
type mountPoint struct {
	Type        mount.Type `json:"type"`
	Name        string     `json:"name,omitempty"` // volume name
	Source      string     `json:"source"`
	Destination string     `json:"destination"`
	RW          bool       `json:"rw"`
	Mode        string     `json:"mode,omitempty"`
	TmpfsSize   int64      `json:"tmpfsSize,omitempty"`
	// Driver is a volume plugin's name (volume_plugin.go); Source is then
	// the plugin's mount point while the container runs, MountID the id
	// of this mount in its Mount and Unmount calls.
	Driver  string `json:"driver,omitempty"`
	MountID string `json:"mountId,omitempty"`
}

var volumeNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (d *Daemon) volumeDir(name string) string { return filepath.Join(d.cfg.Root, "volumes", name) }

func (d *Daemon) volumeAPI(r volumeRecord) volume.Volume {
	labels := r.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return volume.Volume{Name: r.Name, Driver: "local", Mountpoint: filepath.Join(d.volumeDir(r.Name), "_data"),
		CreatedAt: r.CreatedAt.Format(time.RFC3339), Labels: labels, Options: r.Options, Scope: "local"}
}

// VolumeCreate is POST /volumes/create; creating one that exists gives it back.
func (d *Daemon) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	if v, handled, err := d.volumeCreateDriver(ctx, req); handled {
		return v, err
	}
	if req.Driver != "" && req.Driver != "local" {
		return volume.Volume{}, fmt.Errorf("volume driver %q: only the local driver is available: %w", req.Driver, errdefs.ErrNotFound)
	}
	if len(req.DriverOpts) > 0 {
		return volume.Volume{}, fmt.Errorf("the local driver takes no options here (%v): %w", req.DriverOpts, errdefs.ErrInvalidArgument)
	}
	r, err := d.createVolume(req.Name, req.Labels, false)
	if err != nil {
		return volume.Volume{}, err
	}
	return d.volumeAPI(r), nil
}

func (d *Daemon) createVolume(name string, labels map[string]string, anonymous bool) (volumeRecord, error) {
	if name == "" {
		name = newID()
		anonymous = true
	}
	if !volumeNamePattern.MatchString(name) {
		return volumeRecord{}, fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	var rec volumeRecord
	created := false
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVolumes)
		if v := b.Get([]byte(name)); v != nil {
			return json.Unmarshal(v, &rec)
		}
		if err := os.MkdirAll(filepath.Join(d.volumeDir(name), "_data"), 0o755); err != nil {
			return err
		}
		rec = volumeRecord{Name: name, CreatedAt: time.Now().UTC(), Labels: labels, Anonymous: anonymous}
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		created = true
		return b.Put([]byte(name), v)
	})
	if created && err == nil {
		d.emit(events.VolumeEventType, events.ActionCreate, name, map[string]string{"driver": "local"})
	}
	return rec, err
}

func (d *Daemon) getVolume(name string) (volumeRecord, error) {
	var rec volumeRecord
	err := d.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketVolumes).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
		}
		return json.Unmarshal(v, &rec)
	})
	return rec, err
}

// VolumeInspect is GET /volumes/{name}.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	if v, handled, err := d.volumeInspectDriver(ctx, name); handled {
		return v, err
	}
	r, err := d.getVolume(name)
	if err != nil {
		return volume.Volume{}, err
	}
	return d.volumeAPI(r), nil
}

// VolumeList is GET /volumes: the volumes the filters (dangling, driver,
// label, name) select.
func (d *Daemon) VolumeList(ctx context.Context, f filters.Args) (volume.ListResponse, error) {
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	vf, err := newVolumeFilter(f, false)
	if err != nil {
		return out, err
	}
	recs, err := d.volumeRecords()
	var plugged []volumeRecord
	for _, r := range recs {
		if isPluginDriver(r.Driver) {
			plugged = append(plugged, r)
			continue
		}
		v := d.volumeAPI(r)
		if vf.matches(r, v.Driver, len(d.volumeUsers(r.Name)) > 0) {
			out.Volumes = append(out.Volumes, v)
		}
	}
	vs, warnings := d.pluginVolumes(ctx, plugged)
	for _, v := range vs {
		r := volumeRecord{Name: v.Name, Labels: v.Labels, Driver: v.Driver}
		if vf.matches(r, v.Driver, len(d.volumeUsers(v.Name)) > 0) {
			out.Volumes = append(out.Volumes, v)
		}
	}
	out.Warnings = append(out.Warnings, warnings...)
	return out, err
}

// volumeRecords reads every volume's record.
func (d *Daemon) volumeRecords() ([]volumeRecord, error) {
	var recs []volumeRecord
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVolumes).ForEach(func(k, v []byte) error {
			var r volumeRecord
			if json.Unmarshal(v, &r) == nil {
				recs = append(recs, r)
			}
			return nil
		})
	})
	return recs, err
}

// volumeUsers are the containers that mount the volume.
func (d *Daemon) volumeUsers(name string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var users []string
	for id, c := range d.ctrs {
		for _, m := range c.rec.Mounts {
			if m.Type == mount.TypeVolume && m.Name == name {
				users = append(users, id)
			}
		}
	}
	return users
}

// VolumeRemove is DELETE /volumes/{name}: refused while a container uses
// it, unless force (and then only the record goes... as with Docker, the
// data too).
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	if handled, err := d.volumeRemoveDriver(ctx, name, force); handled {
		return err
	}
	if _, err := d.getVolume(name); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if users := d.volumeUsers(name); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(users, ", "), errdefs.ErrConflict)
	}
	return d.removeVolume(name)
}

func (d *Daemon) removeVolume(name string) error {
	if r, err := d.getVolume(name); err == nil && isPluginDriver(r.Driver) {
		return d.removePluginVolume(context.Background(), r)
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	if err := os.RemoveAll(d.volumeDir(name)); err != nil {
		return err
	}
	if err := d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVolumes).Delete([]byte(name)) }); err != nil {
		return err
	}
	d.emit(events.VolumeEventType, events.ActionDestroy, name, map[string]string{"driver": "local"})
	return nil
}

// VolumesPrune is POST /volumes/prune: the local volumes no container
// uses and that have no driver options, among those the filters (label,
// label!, and from API 1.42 all) select — from 1.42 anonymous ones only
// unless all=true, as dockerd. Nothing goes when a filter is wrong.
func (d *Daemon) VolumesPrune(ctx context.Context, f filters.Args) (volume.PruneReport, error) {
	vf, err := newVolumeFilter(f, true)
	if err != nil {
		return volume.PruneReport{}, err
	}
	recs, err := d.volumeRecords()
	if err != nil {
		return volume.PruneReport{}, err
	}
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	for _, r := range recs {
		v := d.volumeAPI(r)
		if v.Driver != "local" || len(r.Options) > 0 || len(d.volumeUsers(r.Name)) > 0 || !vf.matches(r, v.Driver, false) {
			continue
		}
		size := dirSize(d.volumeDir(r.Name))
		if d.removeVolume(r.Name) == nil {
			rep.VolumesDeleted = append(rep.VolumesDeleted, r.Name)
			rep.SpaceReclaimed += uint64(size)
		}
	}
	d.emit(events.VolumeEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// resolveMounts turns -v, --mount and the image's VOLUMEs into the
// container's mounts, creating the named and anonymous volumes.
func (d *Daemon) resolveMounts(host *container.HostConfig, imageVolumes map[string]struct{}) ([]mountPoint, error) {
	var out []mountPoint
	seen := map[string]bool{}
	add := func(m mountPoint) error {
		m.Destination = path.Clean(m.Destination)
		if !path.IsAbs(m.Destination) {
			return fmt.Errorf("invalid mount config: the mount destination %q is not an absolute path: %w", m.Destination, errdefs.ErrInvalidArgument)
		}
		if m.Destination == "/" {
			return fmt.Errorf("invalid specification: destination can't be '/': %w", errdefs.ErrInvalidArgument)
		}
		if m.Destination == "/proc" || m.Destination == "/sys" {
			return fmt.Errorf("invalid mount config: %s is the container's own %sfs; nothing may be mounted over it: %w", m.Destination, m.Destination[1:], errdefs.ErrInvalidArgument)
		}
		if seen[m.Destination] {
			return fmt.Errorf("duplicate mount point: %s: %w", m.Destination, errdefs.ErrInvalidArgument)
		}
		seen[m.Destination] = true
		out = append(out, m)
		return nil
	}
	for _, b := range host.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("invalid volume specification: '%s': %w", b, errdefs.ErrInvalidArgument)
		}
		m := mountPoint{Source: parts[0], Destination: parts[1], RW: true}
		if len(parts) == 3 {
			m.Mode = parts[2]
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					m.RW = false
				case "rw", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave", "nocopy":
				default:
					return nil, fmt.Errorf("invalid mode: %s: %w", o, errdefs.ErrInvalidArgument)
				}
			}
		}
		if strings.HasPrefix(m.Source, "/") {
			m.Type = mount.TypeBind
			if _, err := os.Stat(m.Source); os.IsNotExist(err) {
				// -v creates a missing host folder, as Docker does.
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return nil, err
				}
			}
		} else {
			m.Type, m.Name = mount.TypeVolume, m.Source
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for _, mm := range host.Mounts {
		m := mountPoint{Type: mm.Type, Source: mm.Source, Destination: mm.Target, RW: !mm.ReadOnly}
		switch mm.Type {
		case mount.TypeBind:
			if !filepath.IsAbs(mm.Source) {
				return nil, fmt.Errorf("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute: %w", mm.Source, errdefs.ErrInvalidArgument)
			}
			if _, err := os.Stat(mm.Source); err != nil {
				return nil, fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s: %w", mm.Source, errdefs.ErrInvalidArgument)
			}
		case mount.TypeVolume:
			m.Name = mm.Source
		case mount.TypeTmpfs:
			if mm.Source != "" {
				return nil, fmt.Errorf("invalid mount config for type \"tmpfs\": source must be empty: %w", errdefs.ErrInvalidArgument)
			}
			if mm.TmpfsOptions != nil {
				m.TmpfsSize = mm.TmpfsOptions.SizeBytes
			}
		default:
			return nil, fmt.Errorf("mount type %q is not supported: %w", mm.Type, errdefs.ErrInvalidArgument)
		}
		if err := add(m); err != nil {
			return nil, err
		}
	}
	for dest := range imageVolumes {
		if !seen[path.Clean(dest)] {
			if err := add(mountPoint{Type: mount.TypeVolume, Destination: dest, RW: true}); err != nil {
				return nil, err
			}
		}
	}
	for i, m := range out {
		if m.Type != mount.TypeVolume {
			continue
		}
		if pm, ok, err := d.pluginMountPoint(host, m); ok {
			if err != nil {
				return nil, err
			}
			out[i] = pm
			continue
		}
		rec, err := d.createVolume(m.Name, nil, m.Name == "")
		if err != nil {
			return nil, err
		}
		out[i].Name = rec.Name
		out[i].Source = filepath.Join(d.volumeDir(rec.Name), "_data")
	}
	return out, nil
}

// mountPointsAPI is the Mounts of docker inspect.
func mountPointsAPI(ms []mountPoint) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range ms {
		mp := container.MountPoint{Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination, RW: m.RW, Mode: m.Mode}
		if m.Type == mount.TypeVolume {
			mp.Driver = "local"
			if m.Driver != "" {
				mp.Driver = m.Driver
			}
		}
		out = append(out, mp)
	}
	return out
}

// copyUp fills an empty volume with what the image has at its mount
// point, as Docker does the first time a volume is mounted.
func copyUp(src, dst string) error {
	entries, err := os.ReadDir(dst)
	if err != nil || len(entries) > 0 {
		return err
	}
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return nil
	}
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			if rel != "." {
				if err := os.Mkdir(target, fi.Mode().Perm()); err != nil && !os.IsExist(err) {
					return err
				}
			} else {
				os.Chmod(target, fi.Mode().Perm())
			}
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(p, target, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // devices, sockets, fifos: not copied
		}
		copyOwner(p, target, fi)
		return nil
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// usedVolumes lists the names of the volumes in ms.
func usedVolumes(ms []mountPoint, anonymousOnly func(string) bool) []string {
	var out []string
	for _, m := range ms {
		if m.Type == mount.TypeVolume && (anonymousOnly == nil || anonymousOnly(m.Name)) && !slices.Contains(out, m.Name) {
			out = append(out, m.Name)
		}
	}
	return out
}
