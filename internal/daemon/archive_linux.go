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
	"strconv"
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

// openInRoot opens p inside root; the last component is not followed when
// nofollow.
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
	fd, err := unix.Openat2(rfd, path.Clean("/"+p), how)
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

func archiveError(p string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("Could not find the file %s in container: %w", p, errdefs.ErrNotFound)
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("%s: %v: %w", p, err, errdefs.ErrInvalidArgument)
	}
	return err
}

// statPath is HEAD /archive: what p is (a symbolic link is reported as
// itself, with its target).
func statPath(root, p string) (PathStat, error) {
	fd, err := openInRoot(root, p, unix.O_PATH, true)
	if err != nil {
		return PathStat{}, archiveError(p, err)
	}
	defer unix.Close(fd)
	ps, _, err := statFd(fd, path.Base(path.Clean("/"+p)))
	if err != nil {
		return ps, err
	}
	if ps.Mode&os.ModeSymlink != 0 {
		buf := make([]byte, 4096)
		if n, err := unix.Readlinkat(fd, "", buf); err == nil {
			ps.LinkTarget = string(buf[:n])
		}
	}
	return ps, nil
}

// archivePath writes p (followed if it is a symbolic link, as docker cp
// does) to w as a tar whose entries are named from p's base name.
func archivePath(ctx context.Context, root, p string, w io.Writer) (PathStat, error) {
	fd, err := openInRoot(root, p, unix.O_RDONLY, false)
	if err != nil {
		return PathStat{}, archiveError(p, err)
	}
	base := path.Base(path.Clean("/" + p))
	if base == "/" {
		base = "."
	}
	ps, st, err := statFd(fd, base)
	if err != nil {
		unix.Close(fd)
		return ps, err
	}
	tw := tar.NewWriter(w)
	if err := tarAt(ctx, tw, fd, &st, base); err != nil {
		return ps, err
	}
	return ps, tw.Close()
}

// tarAt writes the file open at fd (it takes fd), and below it if it is a
// directory, opening every entry relative to its directory without
// following symbolic links.
func tarAt(ctx context.Context, tw *tar.Writer, fd int, st *unix.Stat_t, name string) error {
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
		for _, n := range names {
			var cst unix.Stat_t
			if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue // gone meanwhile
			}
			if cst.Mode&unix.S_IFMT == unix.S_IFLNK {
				buf := make([]byte, 4096)
				k, err := unix.Readlinkat(fd, n, buf)
				if err != nil {
					continue
				}
				if err := tw.WriteHeader(&tar.Header{Name: name + "/" + n, Typeflag: tar.TypeSymlink, Linkname: string(buf[:k]),
					Mode: 0o777, Uid: int(cst.Uid), Gid: int(cst.Gid), ModTime: time.Unix(cst.Mtim.Unix()), Format: tar.FormatPAX}); err != nil {
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
			if err := tarAt(ctx, tw, cfd, &cst, name+"/"+n); err != nil {
				return err
			}
		}
		return nil
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

// extractToPath extracts the tar r into the folder p of the container (p
// must be a folder). Without copyOwner the entries belong to the
// container's root, as docker cp without -a.
func extractToPath(ctx context.Context, root, p string, r io.Reader, copyOwner bool) error {
	fd, err := openInRoot(root, p, unix.O_RDONLY|unix.O_DIRECTORY, false)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("extraction point is not a directory: %s: %w", p, errdefs.ErrInvalidArgument)
		}
		return archiveError(p, err)
	}
	defer unix.Close(fd)
	if !copyOwner {
		r = rewriteOwners(r)
	}
	_, err = layer.ExtractTar(ctx, "/proc/self/fd/"+strconv.Itoa(fd), r, layer.ApplyOptions{})
	return err
}

// rewriteOwners gives every entry of the tar read from r to 0:0.
func rewriteOwners(r io.Reader) io.Reader {
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
				pw.CloseWithError(fmt.Errorf("read the archive: %v: %w", err, errdefs.ErrInvalidArgument))
				return
			}
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
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
