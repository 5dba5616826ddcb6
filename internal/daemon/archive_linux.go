package daemon

// docker cp: GET/HEAD/PUT /containers/{id}/archive. A path inside the
// container is resolved by the kernel inside the container's root
// (openat2 RESOLVE_IN_ROOT), and a tree is walked from directory fds with
// O_NOFOLLOW: a symbolic link in the container — even one swapped in while
// the copy runs (CVE-2018-15664) — never leads out of it.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// PathStat is the X-Docker-Container-Path-Stat header's content.
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// openInRoot opens p, a path as cpPath gives it (a trailing "/" makes the
// kernel want a directory, and follow a link), inside root; the last
// component is not followed when nofollow.
func openInRoot(root, p string, flags uint64, nofollow bool) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(rfd)
	how := &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if nofollow {
		how.Flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(rfd, p, how)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

func statFd(fd int, name string) (PathStat, unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return PathStat{}, st, err
	}
	ps := PathStat{Name: name, Size: st.Size, Mode: fileMode(st.Mode), Mtime: time.Unix(st.Mtim.Unix())}
	return ps, st, nil
}

func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// pathError turns what the kernel said of a docker cp path into dockerd's
// error: a missing path is errPathNotFound (cpError words it); a file
// where a directory must be is "lstat P: not a directory" — dockerd 20.10
// answers that with 500 and the host's path, newer ones with the
// container's path; hull gives the container's with 400, as it is the
// client's input.
func pathError(abs string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return errPathNotFound
	case errors.Is(err, unix.ENOTDIR):
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "lstat %s: not a directory", abs)
	case errors.Is(err, unix.ELOOP):
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "lstat %s: too many levels of symbolic links", abs)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%s: %v: %w", abs, err, errdefs.ErrInvalidArgument)
	}
	return err
}

// statPath is HEAD /archive: what p (as cpPath gives it) is, named name
// (p's base name when empty); a symbolic link is reported as itself,
// with its target fully resolved inside the container as far as it
// exists, as dockerd does.
func statPath(root, p, name string) (PathStat, error) {
	fd, err := openInRoot(root, p, unix.O_PATH, true)
	if err != nil {
		return PathStat{}, pathError(p, err)
	}
	defer unix.Close(fd)
	if name == "" {
		name = path.Base(p)
	}
	ps, _, err := statFd(fd, name)
	if err != nil {
		return ps, err
	}
	if ps.Mode&os.ModeSymlink != 0 {
		if ps.LinkTarget, err = resolveInRoot(root, p); err != nil {
			return ps, pathError(p, err)
		}
	}
	return ps, nil
}

// resolveInRoot follows the symbolic links of p inside root, as far as
// the path exists (the rest is joined as it is), and returns the
// container's path it leads to (moby's FollowSymlinkInScope).
func resolveInRoot(root, p string) (string, error) {
	const maxLinks = 255
	resolved := "/"
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, name)
		fd, err := openInRoot(root, next, unix.O_PATH, true)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return path.Join(append([]string{next}, rest...)...), nil
		}
		if err != nil {
			return "", err
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			unix.Close(fd)
			if err != nil {
				return "", err
			}
			resolved = next
			continue
		}
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		unix.Close(fd)
		if err != nil {
			return "", err
		}
		if links++; links > maxLinks {
			return "", unix.ELOOP
		}
		target := string(buf[:n])
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return resolved, nil
}

// archivePath writes p (as cpPath gives it) to w as a tar, as dockerd
// does: a directory with its content, its entries named under p's base
// name ("etc/…"; "./…" for a path ending in "/."; "/…" for the root); any
// other file — a symbolic link too, not followed — as one entry under
// its base name. started gets p's stat before the first byte.
// The mounts of sub (by their path relative to root) are read in place
// of what is beneath them.
func archivePath(ctx context.Context, root, p, name string, sub map[string]mountPoint, started func(PathStat), w io.Writer) error {
	ps, err := statPath(root, p, name)
	if err != nil {
		return err
	}
	fd, err := openInRoot(root, p, unix.O_RDONLY|unix.O_NONBLOCK, true)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EOPNOTSUPP) {
		// A symbolic link or a socket: described by its stat alone.
		fd, err = openInRoot(root, p, unix.O_PATH, true)
	}
	if err != nil {
		return pathError(p, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return err
	}
	if name == "" {
		name = path.Base(p)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR && name == "/" {
		name = ""
	}
	started(ps)
	tw := tar.NewWriter(w)
	if err := tarAt(ctx, tw, fd, &st, name, path.Clean(p), sub); err != nil {
		return err
	}
	return tw.Close()
}

// tarAt writes the file open at fd (it takes fd), and below it if it is a
// directory, opening every entry relative to its directory without
// following symbolic links. rel is its path relative to the root; an
// entry that is one of sub's mounts is read from the mount's source.
func tarAt(ctx context.Context, tw *tar.Writer, fd int, st *unix.Stat_t, name, rel string, sub map[string]mountPoint) error {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	hdr := &tar.Header{Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()), Format: tar.FormatPAX}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		if err != nil {
			return err
		}
		for k := range sub {
			// A mount point the layer does not hold (never started).
			if path.Dir(k) == rel && !slices.Contains(names, path.Base(k)) {
				names = append(names, path.Base(k))
			}
		}
		slices.Sort(names)
		for _, n := range names {
			if m, ok := sub[path.Join(rel, n)]; ok {
				if err := tarMount(ctx, tw, m, name+"/"+n, path.Join(rel, n), sub); err != nil {
					return err
				}
				continue
			}
			var cst unix.Stat_t
			if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue // gone meanwhile
			}
			if cst.Mode&unix.S_IFMT == unix.S_IFLNK {
				if err := tarLink(tw, fd, n, &cst, name+"/"+n); err != nil {
					return err
				}
				continue
			}
			cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err != nil {
				continue // a socket, or swapped for a symbolic link: not followed
			}
			if err := unix.Fstat(cfd, &cst); err != nil {
				unix.Close(cfd)
				continue
			}
			if err := tarAt(ctx, tw, cfd, &cst, name+"/"+n, path.Join(rel, n), sub); err != nil {
				return err
			}
		}
		return nil
	case unix.S_IFLNK:
		// Only the top of an archive comes here: fd is the link itself.
		return tarLink(tw, fd, "", st, name)
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.CopyN(tw, f, st.Size)
		return err
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		return tw.WriteHeader(hdr)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return tw.WriteHeader(hdr)
	}
	return nil // sockets are not archived
}

// tarMount writes the mount m, met at rel while walking a folder, from its
// source on the host (a folder, or one file as /etc/hostname).
func tarMount(ctx context.Context, tw *tar.Writer, m mountPoint, name, rel string, sub map[string]mountPoint) error {
	fd, err := unix.Open(m.Source, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil // gone meanwhile
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil
	}
	return tarAt(ctx, tw, fd, &st, name, rel, sub)
}

// tarLink writes the symbolic link n of the directory dirfd (or dirfd
// itself, an O_PATH descriptor of the link, when n is empty).
func tarLink(tw *tar.Writer, dirfd int, n string, st *unix.Stat_t, name string) error {
	buf := make([]byte, unix.PathMax)
	k, err := unix.Readlinkat(dirfd, n, buf)
	if err != nil {
		return nil // gone meanwhile
	}
	return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: string(buf[:k]),
		Mode: 0o777, Uid: int(st.Uid), Gid: int(st.Gid), ModTime: time.Unix(st.Mtim.Unix()), Format: tar.FormatPAX})
}

// extractToPath extracts the tar r into the directory p (as cpPath gives
// it, relative to root; a link to a directory is followed) with the layer
// store's applier. at is p as the container sees it, for messages;
// readOnly, when set, is returned once p is found to be a directory, as
// dockerd checks in that order. noOverwrite refuses to replace a
// directory by a non-directory or the reverse; owner, when set, is given
// every entry.
//
// Entries below one of sub's mounts (by path relative to root) are
// extracted into the mount's source, as the container sees them; one
// that would replace a mount point is refused as dockerd's extraction
// fails on it (unlinkat: device or resource busy).
func extractToPath(ctx context.Context, root, p, at string, r io.Reader, readOnly error, noOverwrite bool, owner *cpOwner, sub map[string]mountPoint) error {
	fd, err := openInRoot(root, p, unix.O_RDONLY|unix.O_DIRECTORY, false)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "extraction point is not a directory")
		}
		return pathError(p, err)
	}
	defer unix.Close(fd)
	if readOnly != nil {
		return readOnly
	}
	if noOverwrite || owner != nil {
		r = filterEntries(r, fd, path.Clean(at), noOverwrite, owner)
	}
	dir := path.Clean(p)
	var mounts map[string]mountPoint
	for k, m := range sub {
		if k == dir || strings.HasPrefix(k, strings.TrimSuffix(dir, "/")+"/") {
			if mounts == nil {
				mounts = map[string]mountPoint{}
			}
			mounts[k] = m
		}
	}
	if mounts == nil {
		_, err = layer.ExtractTar(ctx, "/proc/self/fd/"+strconv.Itoa(fd), r, layer.ApplyOptions{})
		return err
	}
	pr, wait := splitMounts(ctx, r, dir, path.Clean(at), mounts)
	_, err = layer.ExtractTar(ctx, "/proc/self/fd/"+strconv.Itoa(fd), pr, layer.ApplyOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, pr) // what follows the tar's end
	}
	pr.CloseWithError(err) // the splitter stops if the extraction did
	if werr := wait(); werr != nil {
		return werr
	}
	return err
}

// splitMounts passes on the entries of the tar r that belong to the folder
// dir (relative to the root) and extracts those below one of mounts into
// the mount's source. at is dir as the container sees it, for messages.
// wait returns the first error of the split and of the mounts'
// extractions, once they are over.
func splitMounts(ctx context.Context, r io.Reader, dir, at string, mounts map[string]mountPoint) (*io.PipeReader, func() error) {
	type sink struct {
		pw   *io.PipeWriter
		tw   *tar.Writer
		done chan error
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		sinks := map[string]*sink{}
		tr, main := tar.NewReader(r), tar.NewWriter(pw)
		err := func() error {
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					return main.Close()
				}
				if err != nil {
					return err
				}
				name := path.Clean("/" + hdr.Name)
				rel := path.Join(dir, name)
				dest, m, ok := mountOf(mounts, rel)
				tw := main
				if ok {
					if rel == dest {
						if fi, err := os.Stat(m.Source); err == nil && fi.IsDir() && hdr.Typeflag == tar.TypeDir {
							continue // the mount's folder is there already
						}
						return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Error processing tar file(exit status 1): unlinkat %s: device or resource busy", path.Join(at, name))
					}
					if !m.RW {
						return readOnlyError(true)
					}
					s := sinks[dest]
					if s == nil {
						spr, spw := io.Pipe()
						s = &sink{pw: spw, tw: tar.NewWriter(spw), done: make(chan error, 1)}
						sinks[dest] = s
						go func(src string) {
							_, err := layer.ExtractTar(ctx, src, spr, layer.ApplyOptions{})
							if err == nil {
								_, err = io.Copy(io.Discard, spr)
							}
							spr.CloseWithError(err)
							s.done <- err
						}(m.Source)
					}
					h := *hdr
					h.Name = strings.TrimPrefix(rel, dest+"/")
					if hdr.Typeflag == tar.TypeDir {
						h.Name += "/"
					}
					hdr, tw = &h, s.tw
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
		}()
		for _, s := range sinks {
			if err == nil {
				s.pw.CloseWithError(s.tw.Close())
			} else {
				s.pw.CloseWithError(err)
			}
		}
		for _, s := range sinks {
			if serr := <-s.done; err == nil {
				err = serr
			}
		}
		pw.CloseWithError(err)
		done <- err
	}()
	return pr, func() error { return <-done }
}

// mountOf is the mount of mounts (by path relative to the root) that rel
// is at or below, the deepest one.
func mountOf(mounts map[string]mountPoint, rel string) (string, mountPoint, bool) {
	best := ""
	for k := range mounts {
		if (rel == k || strings.HasPrefix(rel, k+"/")) && len(k) > len(best) {
			best = k
		}
	}
	m, ok := mounts[best]
	return best, m, ok
}

// filterEntries passes the tar read from r on, refusing, when noOverwrite,
// an entry that would replace a directory of dirfd by a non-directory or
// the reverse (with dockerd's words; dest is the directory as the
// container sees it), and giving every entry to owner when set.
func filterEntries(r io.Reader, dirfd int, dest string, noOverwrite bool, owner *cpOwner) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if noOverwrite {
				if err := checkOverwrite(dirfd, dest, hdr); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			if owner != nil {
				hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = owner.uid, owner.gid, "", ""
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// checkOverwrite is go-archive's NoOverwriteDirNonDir test for the entry
// hdr extracted into dirfd: what is already at its name, not followed,
// must be a directory when the entry is one, and not one otherwise.
func checkOverwrite(dirfd int, dest string, hdr *tar.Header) error {
	name := path.Clean("/" + hdr.Name)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(dirfd, name, how)
	if err != nil {
		return nil // nothing there (or nothing reachable): no conflict
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return nil
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	target := path.Join(dest, name)
	switch {
	case isDir && hdr.Typeflag != tar.TypeDir:
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Error processing tar file(exit status 1): cannot overwrite directory %q with non-directory %q", target, dest)
	case !isDir && hdr.Typeflag == tar.TypeDir:
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Error processing tar file(exit status 1): cannot overwrite non-directory %q with directory %q", target, dest)
	}
	return nil
}

// lookupUserInRoot resolves user with the passwd and group files of the
// container whose root file system is root, read inside it.
func lookupUserInRoot(root, user string) (uid, gid int, err error) {
	read := func(name string) []byte {
		fd, err := openInRoot(root, name, unix.O_RDONLY, false)
		if err != nil {
			return nil
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		b, _ := io.ReadAll(io.LimitReader(f, 16<<20))
		return b
	}
	return userFromFiles(user, read("/etc/passwd"), read("/etc/group"))
}
