package daemon

// Volumes of the local driver: <root>/volumes/<name>/_data, records in
// hull.db; and the mounts of a container (named and anonymous volumes,
// binds, tmpfs) resolved at create.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

var bucketVolumes = []byte("volumes")

type volumeRecord struct {
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels"` // null when none were given, {} when they were empty
	Options   map[string]string `json:"options,omitempty"`
	// Anonymous volumes go with their container when it is removed with
	// its volumes (docker rm -v, --rm).
	Anonymous bool `json:"anonymous,omitempty"`
	// Driver is the volume plugin that holds it; "" for the local driver.
	Driver string `json:"driver,omitempty"`
	// For is the container whose create made this anonymous volume, until
	// that container is removed without its volumes (then the volume stays,
	// as Docker's). A daemon killed between the volume and the container's
	// record, or between the record's removal and the volume's, leaves it
	// naming no container: the next start removes it (removeOrphanVolumes).
	For string `json:"for,omitempty"`
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
	// TmpfsMode is a tmpfs mount's permission bits (0 for the default).
	TmpfsMode uint32 `json:"tmpfsMode,omitempty"`
	// Propagation of a bind mount (rprivate unless asked).
	Propagation mount.Propagation `json:"propagation,omitempty"`
	// RecursiveReadOnly: a read-only bind mount whose submounts are
	// read-only too (BindOptions.ReadOnlyForceRecursive; "ro" alone
	// leaves them as they are).
	RecursiveReadOnly bool `json:"recursiveReadOnly,omitempty"`
	// NoCopy: the image's content is not copied into the volume.
	NoCopy bool `json:"noCopy,omitempty"`
	// Labels of a volume the mount creates (--mount volume-label=).
	Labels map[string]string `json:"labels,omitempty"`
	// Subpath is the folder of the volume mounted (--mount
	// volume-subpath=), resolved inside the volume at start.
	Subpath string `json:"subpath,omitempty"`
	// zDefault: Mode is the "z" dockerd gives a -v or --mount volume
	// without a mode when the local driver serves it (not kept: only
	// create's resolution reads it).
	zDefault bool
}

var volumeNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (d *Daemon) volumeDir(name string) string { return filepath.Join(d.cfg.Root, "volumes", name) }

// volumeDirMode is a volume's own folder's: others must not reach its
// _data (0755, the volume's root as containers see it), where a container
// may have left a setuid-root file (perms_linux.go).
const volumeDirMode = 0o700

// volumeAPI is a local volume as the API tells it: its labels as they were
// given (null when none, as dockerd keeps them).
func (d *Daemon) volumeAPI(r volumeRecord) volume.Volume {
	return volume.Volume{Name: r.Name, Driver: "local", Mountpoint: filepath.Join(d.volumeDir(r.Name), "_data"),
		CreatedAt: r.CreatedAt.Format(time.RFC3339), Labels: r.Labels, Options: r.Options, Scope: "local"}
}

// VolumeCreate is POST /volumes/create; creating one that exists gives it back.
func (d *Daemon) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	if v, handled, err := d.volumeCreateDriver(ctx, req); handled {
		return v, err
	}
	if req.Driver != "" && req.Driver != "local" {
		return volume.Volume{}, fmt.Errorf("volume driver %q: only the local driver is available: %w", req.Driver, errdefs.ErrNotFound)
	}
	r, err := d.createVolume(req.Name, req.Labels, req.DriverOpts, false, "")
	if err != nil {
		return volume.Volume{}, err
	}
	return d.volumeAPI(r), nil
}

// createVolume makes a local volume with its labels and driver options
// (checked only when it is new: an existing volume of that name is given
// back as it is, as dockerd's local driver does). forID is the container
// whose create asks for it (recorded on an anonymous volume).
func (d *Daemon) createVolume(name string, labels, opts map[string]string, anonymous bool, forID string) (volumeRecord, error) {
	if name == "" {
		name = newID()
		anonymous = true
	}
	if len(name) == 1 {
		return volumeRecord{}, fmt.Errorf("create %s: volume name is too short, names should be at least two alphanumeric characters: %w", name, errdefs.ErrInvalidArgument)
	}
	if !volumeNamePattern.MatchString(name) {
		return volumeRecord{}, fmt.Errorf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path: %w", name, name, errdefs.ErrInvalidArgument)
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	var rec volumeRecord
	created, madeDir := false, false
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVolumes)
		if v := b.Get([]byte(name)); v != nil {
			return json.Unmarshal(v, &rec)
		}
		if err := checkLocalOptions(name, opts); err != nil {
			return err
		}
		if _, err := os.Lstat(d.volumeDir(name)); os.IsNotExist(err) {
			madeDir = true
		}
		if err := os.MkdirAll(d.volumeDir(name), volumeDirMode); err != nil {
			if errors.Is(err, syscall.ENAMETOOLONG) {
				// The client's name, not the daemon's fault.
				return fmt.Errorf("create %s: volume name is too long (%d bytes; a file name holds at most 255): %w", name, len(name), errdefs.ErrInvalidArgument)
			}
			return err
		}
		if err := os.Mkdir(filepath.Join(d.volumeDir(name), "_data"), 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		crashpoint.At("volume create: the folder is made, the record is not")
		rec = volumeRecord{Name: name, CreatedAt: time.Now().UTC(), Labels: labels, Options: opts, Anonymous: anonymous}
		if anonymous {
			rec.For = forID
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		created = true
		return b.Put([]byte(name), v)
	})
	if err != nil {
		// A record that could not be written (a full disk) leaves no
		// folder behind; the words are dockerd's: "create NAME: write
		// …: no space left on device".
		if madeDir {
			os.RemoveAll(d.volumeDir(name))
		}
		if errno := syscall.Errno(0); errors.As(err, &errno) && !strings.HasPrefix(err.Error(), "create ") {
			err = fmt.Errorf("create %s: %w", name, err)
		}
		return rec, err
	}
	if created {
		d.emit(events.VolumeEventType, events.ActionCreate, name, map[string]string{"driver": "local"})
	}
	return rec, nil
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
	// Warnings stays null when there are none, as dockerd answers.
	out := volume.ListResponse{Volumes: []volume.Volume{}}
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
	if r, err := d.getVolume(name); err == nil {
		if err := d.unmountLocalVolume(r); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	if err := os.RemoveAll(d.volumeDir(name)); err != nil {
		return err
	}
	crashpoint.At("volume rm: the folder is gone, the record is not")
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

// resolveMounts turns --volumes-from, -v, --mount and the container's
// VOLUMEs (the request's and the image's) into the container's mounts, as
// dockerd's registerMountPoints and createContainerOSSpecificSettings do,
// with their texts; it creates the named and anonymous volumes only once
// everything parsed. --tmpfs mounts are not among them (inspect does not
// list them): the spec adds them at start.
func (d *Daemon) resolveMounts(host *container.HostConfig, volumes map[string]struct{}, id string) ([]mountPoint, error) {
	var out []mountPoint
	byDest := map[string]int{}
	// put adds m, or replaces a mount of the same destination taken from
	// another container (later sources win, as in dockerd).
	put := func(m mountPoint) {
		if i, ok := byDest[m.Destination]; ok {
			out[i] = m
			return
		}
		byDest[m.Destination] = len(out)
		out = append(out, m)
	}
	for _, v := range host.VolumesFrom {
		ref, mode, err := parseVolumesFrom(v)
		if err != nil {
			return nil, err
		}
		c, err := d.lookup(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrNotFound.Error()), errdefs.ErrInvalidArgument)
		}
		c.mu.Lock()
		ms := slices.Clone(c.rec.Mounts)
		c.mu.Unlock()
		for _, m := range ms {
			m.RW = m.RW && readWrite(mode)
			m.Mode, m.NoCopy = "", true
			put(m)
		}
	}
	binds := map[string]bool{}
	for _, b := range host.Binds {
		m, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		if _, tmpfs := host.Tmpfs[m.Destination]; binds[m.Destination] || tmpfs {
			return nil, invalid("Duplicate mount point: %s", m.Destination)
		}
		if err := checkNotOverKernelFS(m.Destination); err != nil {
			return nil, err
		}
		if m.Type == mount.TypeBind {
			if _, err := os.Stat(m.Source); os.IsNotExist(err) {
				// -v creates a missing host folder, as Docker does.
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					return nil, err
				}
			}
		}
		binds[m.Destination] = true
		put(m)
	}
	for _, mm := range host.Mounts {
		if err := validateMountConfig(&mm, true); err != nil {
			return nil, err
		}
		m := mountPoint{Type: mm.Type, Destination: path.Clean(filepath.ToSlash(mm.Target)), RW: !mm.ReadOnly}
		if binds[m.Destination] {
			return nil, invalid("Duplicate mount point: %s", mm.Target)
		}
		if err := checkNotOverKernelFS(m.Destination); err != nil {
			return nil, err
		}
		switch mm.Type {
		case mount.TypeBind:
			m.Source = path.Clean(filepath.ToSlash(mm.Source))
			m.Propagation = mount.PropagationRPrivate
			if mm.BindOptions != nil && mm.BindOptions.Propagation != "" {
				m.Propagation = mm.BindOptions.Propagation
			}
			m.RecursiveReadOnly = mm.BindOptions != nil && mm.BindOptions.ReadOnlyForceRecursive
		case mount.TypeVolume:
			m.Name, m.Mode, m.zDefault = mm.Source, "z", true
			if o := mm.VolumeOptions; o != nil {
				m.NoCopy, m.Labels, m.Subpath = o.NoCopy || o.Subpath != "", o.Labels, o.Subpath
			}
		case mount.TypeTmpfs:
			if o := mm.TmpfsOptions; o != nil {
				// The API's mode is the Unix mode as a number (tmpfs-mode=1770),
				// as dockerd reads it.
				m.TmpfsSize, m.TmpfsMode = o.SizeBytes, uint32(o.Mode)
			}
		}
		binds[m.Destination] = true
		put(m)
	}
	for _, dest := range slices.Sorted(maps.Keys(volumes)) {
		dest = filepath.Clean(dest)
		if _, ok := byDest[dest]; ok {
			continue // a mount is there already (also from --volumes-from)
		}
		if _, ok := host.Tmpfs[dest]; ok {
			continue
		}
		put(mountPoint{Type: mount.TypeVolume, Destination: dest, RW: true})
	}
	for i, m := range out {
		if m.Type != mount.TypeVolume || m.Source != "" {
			continue
		}
		if pm, ok, err := d.pluginMountPoint(host, m); ok {
			if err != nil {
				d.releaseAnonymous(out[:i])
				return nil, err
			}
			out[i] = pm
			continue
		}
		_, opts, _ := mountDriver(host, m.Destination)
		rec, err := d.createVolume(m.Name, m.Labels, opts, m.Name == "", id)
		if err != nil {
			d.releaseAnonymous(out[:i])
			return nil, err
		}
		out[i].Name = rec.Name
		out[i].Source = filepath.Join(d.volumeDir(rec.Name), "_data")
	}
	return out, nil
}

// checkNotOverKernelFS refuses a mount over the container's own /proc or
// /sys, which dockerd lets through: over them a container reaches the
// host's kernel interfaces. hull keeps refusing it (a difference).
func checkNotOverKernelFS(dest string) error {
	if dest == "/proc" || dest == "/sys" {
		return invalid("invalid mount config: %s is the container's own %sfs; nothing may be mounted over it", dest, dest[1:])
	}
	return nil
}

// releaseAnonymous removes the anonymous volumes among ms that no
// container uses: a create that failed after making them.
func (d *Daemon) releaseAnonymous(ms []mountPoint) {
	for _, name := range usedVolumes(ms, nil) {
		if r, err := d.getVolume(name); err == nil && r.Anonymous && len(d.volumeUsers(name)) == 0 {
			d.removeVolume(name)
		}
	}
}

// Mount modes of -v and --volumes-from (moby's linux parser).
var (
	rwModes         = map[string]bool{"rw": true, "ro": true}
	labelModes      = map[string]bool{"z": true, "Z": true}
	consistencyMode = map[string]bool{"consistent": true, "cached": true, "delegated": true}
)

// validMountMode: each option known, and at most one of each kind.
func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	var rw, label, prop, cp, cons int
	for _, o := range strings.Split(mode, ",") {
		switch {
		case rwModes[o]:
			rw++
		case labelModes[o]:
			label++
		case propagationModes[mount.Propagation(o)]:
			prop++
		case o == "nocopy":
			cp++
		case consistencyMode[o]:
			cons++
		default:
			return false
		}
	}
	return rw <= 1 && label <= 1 && prop <= 1 && cp <= 1 && cons <= 1
}

func readWrite(mode string) bool {
	return validMountMode(mode) && !slices.Contains(strings.Split(mode, ","), "ro")
}

func modePropagation(mode string) (mount.Propagation, bool) {
	for _, o := range strings.Split(mode, ",") {
		if propagationModes[mount.Propagation(o)] {
			return mount.Propagation(o), true
		}
	}
	return mount.PropagationRPrivate, false
}

// parseVolumesFrom is moby's ParseVolumesFrom: CONTAINER[:ro|rw].
func parseVolumesFrom(spec string) (string, string, error) {
	if spec == "" {
		return "", "", invalid("volumes-from specification cannot be an empty string")
	}
	ref, mode, ok := strings.Cut(spec, ":")
	if !ok {
		return ref, "rw", nil
	}
	if !validMountMode(mode) {
		return "", "", invalid("invalid mode: %v", mode)
	}
	if _, ok := modePropagation(mode); ok || slices.Contains(strings.Split(mode, ","), "nocopy") {
		return "", "", invalid("invalid mode: %v", mode)
	}
	return ref, mode, nil
}

// parseBind is moby's ParseMountRaw for Linux: [SOURCE:]TARGET[:MODE],
// SOURCE an absolute host path (bind) or a volume name.
func parseBind(raw string) (mountPoint, error) {
	errSpec := invalid("invalid volume specification: '%s'", raw)
	if strings.Count(raw, ":") > 2 {
		return mountPoint{}, errSpec
	}
	arr := strings.SplitN(raw, ":", 3)
	if arr[0] == "" {
		return mountPoint{}, errSpec
	}
	var src, dst, mode string
	switch len(arr) {
	case 1:
		dst = arr[0]
	case 2:
		if validMountMode(arr[1]) {
			// TARGET:MODE is not a volume: a volume has no mode.
			return mountPoint{}, errSpec
		}
		src, dst = arr[0], arr[1]
	case 3:
		src, dst, mode = arr[0], arr[1], arr[2]
	}
	if !validMountMode(mode) {
		return mountPoint{}, invalid("invalid mode: %v", mode)
	}
	mm := mount.Mount{Type: mount.TypeVolume, Source: src, Target: dst, ReadOnly: !readWrite(mode)}
	if path.IsAbs(src) {
		mm.Type = mount.TypeBind
	}
	// As moby's parser: a copy mode is a volume option and a propagation
	// a bind option, which the other type refuses.
	if slices.Contains(strings.Split(mode, ","), "nocopy") {
		mm.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
	}
	if p, ok := modePropagation(mode); ok {
		mm.BindOptions = &mount.BindOptions{Propagation: p}
	}
	if err := validateMountConfig(&mm, false); err != nil {
		return mountPoint{}, invalid("invalid volume specification: '%s': %s", raw, strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalidArgument.Error()))
	}
	m := mountPoint{Type: mm.Type, Destination: path.Clean(filepath.ToSlash(dst)), RW: !mm.ReadOnly, Mode: mode,
		NoCopy: slices.Contains(strings.Split(mode, ","), "nocopy")}
	if m.Type == mount.TypeBind {
		m.Source = path.Clean(filepath.ToSlash(src))
		m.Propagation, _ = modePropagation(mode)
	} else {
		m.Name = src
		if m.Mode == "" {
			m.Mode, m.zDefault = "z", true
		}
	}
	return m, nil
}

// mountPointsAPI is the Mounts of docker inspect.
func mountPointsAPI(ms []mountPoint) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range ms {
		mp := container.MountPoint{Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination, RW: m.RW, Mode: m.Mode, Propagation: m.Propagation}
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
