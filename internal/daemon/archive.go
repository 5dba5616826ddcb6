package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
)

// cpPath is a path of docker cp inside a container: abs is absolute and
// clean but keeps a trailing "/" or "/." of the path asked for, which say
// it must be a directory (docker's PreserveTrailingDotOrSeparator).
func cpPath(p string) string {
	abs := path.Clean("/" + p)
	if abs != "/" && (strings.HasSuffix(p, "/.") || p == ".") {
		abs += "/."
	} else if abs != "/" && strings.HasSuffix(p, "/") {
		abs += "/"
	}
	return abs
}

// readOnlyError is why a PUT may not write where it was asked to, in
// dockerd's words.
func readOnlyError(volume bool) error {
	if volume {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "mounted volume is marked read-only")
	}
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "container rootfs is marked read-only")
}

// cpFS is the file system that holds a docker cp path: the container's
// root, or a volume or bind mounted in it.
type cpFS struct {
	c    *ctr
	root string // its folder on the host
	rel  string // the path asked for, relative to root, as cpPath gives it
	// name is the base name the path asked for has in the container
	// when rel cannot tell it (a mount point itself: rel is "/"); "" for
	// rel's.
	name string
	// readOnly is set when the path may not be written to, with the
	// reason.
	readOnly error
	// sub are the container's mounts below root (volumes, binds, its
	// /etc files), by their path relative to root: docker cp reads and
	// writes what the container sees there, as dockerd's does through
	// the container's mounts, not the folder beneath.
	sub map[string]mountPoint
}

// withRootfs runs fn on the file system that holds p in the container:
// a volume or bind mount whose destination p is at or under (then p is
// made relative to it), else the container's scratch layer, mounted
// (mounts are counted, so a running container's is shared).
func (d *Daemon) withRootfs(ctx context.Context, ref, p string, fn func(fs cpFS) error) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	abs := cpPath(p)
	clean := path.Clean(abs)
	c.mu.Lock()
	mounts := append(slices.Clone(c.rec.Mounts), d.etcFileMounts(c.rec.ID)...)
	c.mu.Unlock()
	var best *mountPoint
	for i, m := range mounts {
		if m.Type == mount.TypeTmpfs {
			continue
		}
		if clean == m.Destination || strings.HasPrefix(clean, m.Destination+"/") {
			if best == nil || len(m.Destination) > len(best.Destination) {
				best = &mounts[i]
			}
		}
	}
	if best != nil {
		rel := cpPath(strings.TrimPrefix(abs, best.Destination))
		fs := cpFS{c: c, root: best.Source, rel: rel}
		if clean == best.Destination {
			fs.name = path.Base(abs) // "data" for /data or /data/, "." for /data/.
		}
		if fi, err := os.Stat(best.Source); err == nil && !fi.IsDir() {
			// A mount of one file (a bind of a file, /etc/hosts): paths
			// are resolved in its folder on the host, from its name, so
			// the file itself is read, and a path under it, or an
			// extraction into it, is "not a directory".
			base := "/" + filepath.Base(best.Source)
			fs.root = filepath.Dir(best.Source)
			if fs.rel = base; rel != "/" {
				fs.rel = base + rel
			}
		}
		if !best.RW {
			fs.readOnly = readOnlyError(true)
		}
		if fs.root == best.Source {
			fs.sub = mountsBelow(mounts, best.Destination)
		}
		return fn(fs)
	}
	root, err := d.layers.Mount(ctx, c.rec.ID)
	if err != nil {
		return err
	}
	defer d.layers.Unmount(context.WithoutCancel(ctx), c.rec.ID)
	fs := cpFS{c: c, root: root, rel: abs, sub: mountsBelow(mounts, "/")}
	if c.rec.HostConfig.ReadonlyRootfs {
		fs.readOnly = readOnlyError(false)
	}
	return fn(fs)
}

// mountsBelow are the mounts of ms strictly below the container's path
// top, by their path relative to top ("/data/v" below "/data" is "/v"):
// tmpfs mounts (nothing on the host to read) and mounts whose source is
// not there (a plugin's volume of a stopped container) are left out.
func mountsBelow(ms []mountPoint, top string) map[string]mountPoint {
	out := map[string]mountPoint{}
	for _, m := range ms {
		if m.Type == mount.TypeTmpfs || m.Source == "" || m.Destination == top {
			continue
		}
		rel, ok := strings.CutPrefix(m.Destination, strings.TrimSuffix(top, "/")+"/")
		if !ok {
			continue
		}
		if _, err := os.Stat(m.Source); err != nil {
			continue
		}
		out["/"+rel] = m
	}
	return out
}

// etcFileMounts are the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf, which its starts bind-mount from its folder
// (containerFiles): docker cp reads and writes those, as dockerd's does
// through the container's mounts, not the layer's files beneath. None
// before the first start. A volume or bind of the container's own at the
// same path comes first in withRootfs's list, so it wins.
func (d *Daemon) etcFileMounts(id string) []mountPoint {
	var ms []mountPoint
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		p := filepath.Join(d.containerDir(id), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			ms = append(ms, mountPoint{Type: mount.TypeBind, Source: p, Destination: "/etc/" + name, RW: true})
		}
	}
	return ms
}

// cpError turns what a path of docker cp met into dockerd's answer: a
// path that is not there is "Could not find the file P in container
// NAME", with P and NAME as the client gave them.
func cpError(ref, p string, err error) error {
	if errors.Is(err, errPathNotFound) {
		return errdefs.Dockerf(errdefs.ErrNotFound, "Could not find the file %s in container %s", p, ref)
	}
	return err
}

// errPathNotFound marks a docker cp path that does not exist.
var errPathNotFound = errors.New("no such file or directory")

// ContainerStatPath is HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, p string) (any, error) {
	var ps PathStat
	err := d.withRootfs(ctx, ref, p, func(fs cpFS) (err error) {
		ps, err = statPath(fs.root, fs.rel, fs.name)
		return err
	})
	return ps, cpError(ref, p, err)
}

// ContainerArchivePath is GET /containers/{id}/archive: p as a tar,
// entries named as dockerd names them. started gets the path's stat
// before the first byte.
func (d *Daemon) ContainerArchivePath(ctx context.Context, ref, p string, started func(stat any), w io.Writer) error {
	err := d.withRootfs(ctx, ref, p, func(fs cpFS) error {
		return archivePath(ctx, fs.root, fs.rel, fs.name, fs.sub, func(ps PathStat) {
			started(ps)
			d.containerEvent(fs.c, events.ActionArchivePath, "path", p)
		}, w)
	})
	return cpError(ref, p, err)
}

// ContainerExtractToDir is PUT /containers/{id}/archive: the tar r,
// plain or compressed (gzip, bzip2, xz, zstd), extracted into the
// directory p. noOverwriteDirNonDir refuses to put a directory in place
// of a file or the reverse; copyUIDGID gives every entry to the
// container's user when it has one. Otherwise the entries keep the owners
// the tar gives, as with dockerd.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, ref, p string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error {
	err := d.withRootfs(ctx, ref, p, func(fs cpFS) error {
		// Decompressed here, in the daemon, never by a program of the
		// container's.
		tr, err := image.Decompress(r)
		if err != nil {
			return err
		}
		defer tr.Close()
		var owner *cpOwner
		if copyUIDGID {
			fs.c.mu.Lock()
			user := fs.c.rec.Config.User
			fs.c.mu.Unlock()
			if owner, err = d.containerUser(ctx, fs.c, user); err != nil {
				return err
			}
		}
		if err := extractToPath(ctx, fs.root, fs.rel, cpPath(p), tr, fs.readOnly, noOverwriteDirNonDir, owner, fs.sub); err != nil {
			return tarError(err)
		}
		d.containerEvent(fs.c, events.ActionExtractToDir, "path", p)
		return nil
	})
	return cpError(ref, p, err)
}

// cpOwner is who the entries of a PUT with copyUIDGID belong to.
type cpOwner struct{ uid, gid int }

// containerUser resolves the container's user (name or uid, and group or
// gid) in its own /etc/passwd and /etc/group, as dockerd's copyUIDGID
// does; nil when the container has no user (the tar's owners stay).
func (d *Daemon) containerUser(ctx context.Context, c *ctr, user string) (*cpOwner, error) {
	if user == "" {
		return nil, nil
	}
	root, err := d.layers.Mount(ctx, c.rec.ID)
	if err != nil {
		return nil, err
	}
	defer d.layers.Unmount(context.WithoutCancel(ctx), c.rec.ID)
	uid, gid, err := lookupUserInRoot(root, user)
	if err != nil {
		return nil, err
	}
	return &cpOwner{uid: uid, gid: gid}, nil
}

func errUserLookup(what, name, file string) error {
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "failed to look up %s %q in container: no matching entries in %s file", what, name, file)
}

// userFromFiles resolves user[:group] as dockerd's copyUIDGID does from
// the container's passwd and group files: a name is looked up, a number
// used as it is (its passwd entry, if any, gives the group); an empty
// part is 0.
func userFromFiles(user string, passwd, group []byte) (uid, gid int, err error) {
	name, grp, _ := strings.Cut(user, ":")
	if name != "" {
		n, isID := idOrName(name)
		found := false
		for _, f := range colonLines(passwd) {
			if len(f) < 4 {
				continue
			}
			if isID && f[2] == fmt.Sprint(n) || !isID && f[0] == name {
				uid, _ = atoiOr(f[2])
				gid, _ = atoiOr(f[3])
				found = true
				break
			}
		}
		if !found {
			if !isID {
				return 0, 0, errUserLookup("user", name, "passwd")
			}
			uid, gid = n, 0
		}
	}
	if grp != "" {
		n, isID := idOrName(grp)
		if isID {
			return uid, n, nil
		}
		for _, f := range colonLines(group) {
			if len(f) >= 3 && f[0] == grp {
				gid, _ = atoiOr(f[2])
				return uid, gid, nil
			}
		}
		return 0, 0, errUserLookup("group", grp, "group")
	}
	return uid, gid, nil
}

// idOrName reads s as a 32-bit id when it is one.
func idOrName(s string) (int, bool) {
	n, ok := atoiOr(s)
	return n, ok && n >= 0 && n <= 1<<31-1
}

func atoiOr(s string) (int, bool) {
	n := 0
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func colonLines(b []byte) [][]string {
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}

// tarError words a tar that could not be read (truncated, malformed, or
// badly compressed) as dockerd does, "Error processing tar file(exit
// status 1): " and the cause at the bottom of the chain; dockerd answers
// it with 500, hull with the 400 of bad input.
func tarError(err error) error {
	if _, ok := errdefs.DockerMessage(err); ok || !image.IsCorrupt(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrInvalidArgument, "Error processing tar file(exit status 1): %v", rootCause(err)), err)
}

// rootCause is the error at the bottom of err's chain, past the errdefs
// kinds (and image's marks) wrapped beside it.
func rootCause(err error) error {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next := u.Unwrap()
			if next == nil || isKind(next) {
				return err
			}
			err = next
		case interface{ Unwrap() []error }:
			var next error
			for _, e := range u.Unwrap() {
				if !isKind(e) {
					next = e
					break
				}
			}
			if next == nil {
				return err
			}
			err = next
		default:
			return err
		}
	}
}

// isKind tells whether err is one of errdefs' kinds itself.
func isKind(err error) bool {
	for _, k := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrConflict, errdefs.ErrAlreadyExists,
		errdefs.ErrNotImplemented, errdefs.ErrUnavailable, errdefs.ErrUnauthorized, errdefs.ErrDataLoss, errdefs.ErrLimit,
		errdefs.ErrNotModified, errdefs.ErrForbidden} {
		if err == k {
			return true
		}
	}
	return false
}
