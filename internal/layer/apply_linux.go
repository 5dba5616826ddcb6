package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// The overlayfs on-disk format a layer folder keeps, and the tar names that
// stand for it (the OCI image spec's whiteouts).
const (
	tarWhiteoutMetaPrefix = ".wh..wh."
	paxXattrPrefix        = "SCHILY.xattr."
)

const (
	// applyCopyBufSize is the size of the buffer file content is copied
	// through: large writes keep the syscall count per byte low.
	applyCopyBufSize = 1 << 20
	// maxApplyEntries bounds the entries of one tar, so that a stream of
	// empty headers cannot exhaust the inodes of the store's file system.
	maxApplyEntries = 1 << 22
	// maxApplySkipped bounds ApplyResult.Skipped; further skips are counted.
	maxApplySkipped = 1000
	// applyDirCacheSize is how many resolved directories are kept open: tars
	// list a directory's entries together, so a few cover most entries.
	applyDirCacheSize = 8
	// maxNameComponent is the longest file name the kernel takes (NAME_MAX).
	maxNameComponent = 255
)

// applyZeros is compared with each chunk copied to find holes; being
// never written, it costs no memory.
var applyZeros [applyCopyBufSize]byte

var applyCopyBufs = sync.Pool{New: func() any { b := make([]byte, applyCopyBufSize); return &b }}

// applyTar applies the tar diff read from r into the folder root (the
// layer's files folder, which exists), in overlayfs's format: a whiteout
// becomes a character device 0/0 and an opaque marker the
// trusted.overlay.opaque xattr. It reads r to the end of the tar.
//
// Every name is resolved inside root by the kernel (openat2 with
// RESOLVE_IN_ROOT) and only the final component is acted on, with *at
// syscalls relative to its parent directory, so no entry of the tar (a name
// with "..", an absolute name, a symbolic link followed by a write through
// it, a hard link to an outside file) can reach outside root. Names that
// climb out of root are refused with errdefs.ErrInvalidArgument; content
// beyond opts.MaxBytes is refused with errdefs.ErrLimit before it is
// written. Device nodes, overlay metadata and entry types hull does not
// apply are skipped and listed in the result.
//
// Preconditions: the caller is root (ownership, whiteouts and trusted
// xattrs need it), and nothing else writes under root meanwhile. On error
// root holds part of the tar; the caller removes it.
func applyTar(ctx context.Context, root string, r io.Reader, opts ApplyOptions) (ApplyResult, error) {
	return applyTarObserved(ctx, root, r, opts, nil)
}

// applyTarObserved is applyTar that tells observe, when not nil, of each
// header before the entry's content is read (the tar-split recorder needs
// to know where content starts).
func applyTarObserved(ctx context.Context, root string, r io.Reader, opts ApplyOptions, observe func(*tar.Header)) (ApplyResult, error) {
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("open layer files folder %s: %w", root, &os.PathError{Op: "open", Path: root, Err: err})
	}
	defer unix.Close(rootfd)
	bufp := applyCopyBufs.Get().(*[]byte)
	defer applyCopyBufs.Put(bufp)
	a := &applier{rootfd: rootfd, max: opts.maxBytes(), buf: *bufp, skipDev: map[string]struct{}{}, observe: observe}
	defer a.closeAll()

	if err := a.run(ctx, tar.NewReader(r)); err != nil {
		return a.result(), err
	}
	if err := a.finishDirs(); err != nil {
		return a.result(), err
	}
	if err := unix.Syncfs(rootfd); err != nil {
		return a.result(), fmt.Errorf("sync layer files folder %s: %w", root, err)
	}
	return a.result(), nil
}

// applier holds the state of one applyTar.
type applier struct {
	rootfd   int
	max      int64
	consumed int64 // content bytes of the entries read so far
	entries  int
	buf      []byte

	res         ApplyResult
	moreSkipped int

	// cache holds directories resolved inside root, by their cleaned
	// name, most recent last. Its fds are closed only through pending,
	// at the end of an entry, so an fd evicted or invalidated while an
	// entry still uses it stays valid until the entry is done.
	cache   []cachedDir
	pending []int

	// dirs are the directory entries whose times are set at the end, so
	// that writing their children does not change them.
	dirs []dirTimes
	// skipDev names the device nodes skipped, so hard links to them are
	// skipped too rather than failing.
	skipDev map[string]struct{}
	// observe, when not nil, is told of each header before its content
	// is read.
	observe func(*tar.Header)
}

type cachedDir struct {
	rel string
	fd  int
}

type dirTimes struct {
	rel string
	ts  []unix.Timespec
}

func (a *applier) result() ApplyResult {
	res := a.res
	if a.moreSkipped > 0 {
		res.Skipped = append(slices.Clip(res.Skipped), fmt.Sprintf("%d more entries skipped", a.moreSkipped))
	}
	return res
}

func (a *applier) skip(name, reason string) {
	if len(a.res.Skipped) >= maxApplySkipped {
		a.moreSkipped++
		return
	}
	a.res.Skipped = append(a.res.Skipped, name+": "+reason)
}

func (a *applier) run(ctx context.Context, tr *tar.Reader) error {
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("apply tar: %w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		// archive/tar flags names it finds insecure only when asked to
		// (GODEBUG tarinsecurepath=0); they are checked below either way.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return tarReadError(err, last)
		}
		if a.observe != nil {
			a.observe(hdr)
		}
		a.entries++
		if a.entries > maxApplyEntries {
			return fmt.Errorf("tar has more than %d entries: %w", maxApplyEntries, errdefs.ErrLimit)
		}
		err = a.entry(ctx, tr, hdr)
		a.flush()
		if err != nil {
			return err
		}
		last = hdr.Name
	}
}

// tarReadError classifies an error of archive/tar: a truncated tar is
// data loss, a malformed one bad input. Errors of the underlying reader
// pass as they are.
func tarReadError(err error, after string) error {
	where := "read tar"
	if after != "" {
		where = fmt.Sprintf("read tar after entry %q", after)
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: tar is truncated: %w: %w", where, errdefs.ErrDataLoss, err)
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrFieldTooLong):
		return fmt.Errorf("%s: %w: %w", where, errdefs.ErrInvalidArgument, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// hasContent reports whether entries of type t carry content in the tar.
func hasContent(t byte) bool {
	switch t {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return false
	}
	return true
}

func (a *applier) entry(ctx context.Context, tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanEntryName(hdr.Name)
	if err != nil {
		return err
	}
	// Count before anything is written: content that is skipped must
	// still be decompressed and read, so it counts too.
	if hasContent(hdr.Typeflag) {
		if hdr.Size < 0 {
			return fmt.Errorf("tar entry %q: negative size %d: %w", name, hdr.Size, errdefs.ErrInvalidArgument)
		}
		if hdr.Size > a.max-a.consumed {
			return fmt.Errorf("tar exceeds the byte limit of %d bytes at entry %q: %w", a.max, name, errdefs.ErrLimit)
		}
		a.consumed += hdr.Size
	}
	if name == "." {
		return a.rootEntry(hdr)
	}
	dir, base := path.Split(name)
	dir = path.Clean(dir) // "" becomes "."
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteoutEntry(name, dir, base)
	}
	if err := checkOwner(hdr, name); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.dirEntry(hdr, name, dir, base)
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
		return a.fileEntry(ctx, tr, hdr, name, dir, base)
	case tar.TypeSymlink:
		return a.symlinkEntry(hdr, name, dir, base)
	case tar.TypeLink:
		return a.linkEntry(hdr, name, dir, base)
	case tar.TypeFifo:
		return a.fifoEntry(hdr, name, dir, base)
	case tar.TypeChar, tar.TypeBlock:
		// A layer cannot bring devices into a container; the name is
		// still taken from what an earlier entry put there.
		pfd, err := a.dirFd(dir, true)
		if err != nil {
			return entryError(name, "resolve parent directory", err)
		}
		if err := a.removeAt(pfd, base); err != nil {
			return entryError(name, "remove the earlier entry", err)
		}
		a.skipDev[name] = struct{}{}
		a.skip(name, "device node skipped")
		return nil
	}
	a.skip(name, fmt.Sprintf("tar entry type %q not supported, skipped", hdr.Typeflag))
	return nil
}

// cleanEntryName turns a tar name into a cleaned name relative to the
// layer root ("." for the root itself). A leading "/" is dropped, as tar
// does; a name that climbs out of the root is refused, and so are names
// the kernel could not hold.
func cleanEntryName(raw string) (string, error) {
	shown := shortName(raw)
	if raw == "" {
		return "", fmt.Errorf("tar entry with an empty name: %w", errdefs.ErrInvalidArgument)
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", fmt.Errorf("tar entry %q: name holds a NUL byte: %w", shown, errdefs.ErrInvalidArgument)
	}
	name := path.Clean(strings.TrimLeft(raw, "/"))
	if name == "" {
		name = "."
	}
	if name == ".." || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("tar entry %q: name climbs out of the layer root: %w", shown, errdefs.ErrInvalidArgument)
	}
	if len(name) >= unix.PathMax {
		return "", fmt.Errorf("tar entry %q: name is longer than %d bytes: %w", shown, unix.PathMax-1, errdefs.ErrInvalidArgument)
	}
	rest := name
	for rest != "" {
		comp, after, more := strings.Cut(rest, "/")
		if len(comp) > maxNameComponent {
			return "", fmt.Errorf("tar entry %q: name component longer than %d bytes: %w", shown, maxNameComponent, errdefs.ErrInvalidArgument)
		}
		// Whiteout names only make sense as the last component.
		if more && strings.HasPrefix(comp, whiteoutPrefix) {
			return "", fmt.Errorf("tar entry %q: whiteout name %q used as a directory: %w", shown, comp, errdefs.ErrInvalidArgument)
		}
		rest = after
	}
	return name, nil
}

// checkOwner refuses ids chown cannot take: -1 (0xffffffff) would mean
// "leave as it is".
func checkOwner(hdr *tar.Header, name string) error {
	if hdr.Uid < 0 || int64(hdr.Uid) >= 1<<32-1 || hdr.Gid < 0 || int64(hdr.Gid) >= 1<<32-1 {
		return fmt.Errorf("tar entry %q: bad owner %d:%d: %w", name, hdr.Uid, hdr.Gid, errdefs.ErrInvalidArgument)
	}
	return nil
}

// shortName cuts a name for an error message: a tar name can be as long
// as a PAX header (a megabyte).
func shortName(name string) string {
	const max = 256
	if len(name) <= max {
		return name
	}
	return name[:max] + "..."
}

// entryError names the entry and the step that failed; errors that come
// from what the tar holds (a name too long, a symbolic link loop, a
// parent that is not a directory) are bad input.
func entryError(name, op string, err error) error {
	if errors.Is(err, unix.ENAMETOOLONG) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("tar entry %q: %s: %w: %w", name, op, errdefs.ErrInvalidArgument, err)
	}
	return fmt.Errorf("tar entry %q: %s: %w", name, op, err)
}

func (a *applier) rootEntry(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeDir {
		return fmt.Errorf("tar entry %q: the layer root can only be a directory, not type %q: %w",
			hdr.Name, hdr.Typeflag, errdefs.ErrInvalidArgument)
	}
	if err := checkOwner(hdr, "."); err != nil {
		return err
	}
	if err := a.fdMeta(a.rootfd, hdr, "."); err != nil {
		return entryError(".", "set metadata", err)
	}
	a.dirs = append(a.dirs, dirTimes{rel: ".", ts: tarTimespecs(hdr)})
	return nil
}

func (a *applier) whiteoutEntry(name, dir, base string) error {
	if base == opaqueMarker {
		pfd, err := a.dirFd(dir, true)
		if err != nil {
			return entryError(name, "resolve the opaque directory", err)
		}
		if err := setOpaqueAt(pfd, "."); err != nil {
			return entryError(name, "mark the directory opaque", err)
		}
		return nil
	}
	if strings.HasPrefix(base, tarWhiteoutMetaPrefix) {
		a.skip(name, "whiteout metadata entry not supported, skipped")
		return nil
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("tar entry %q: whiteout names no file: %w", name, errdefs.ErrInvalidArgument)
	}
	pfd, err := a.dirFd(dir, true)
	if err != nil {
		return entryError(name, "resolve parent directory", err)
	}
	if err := a.removeAt(pfd, target); err != nil {
		return entryError(name, "remove the whited-out file", err)
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return entryError(name, "create whiteout", err)
	}
	return nil
}

// setOpaqueAt marks the directory name in pfd opaque, overlayfs's way.
func setOpaqueAt(pfd int, name string) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0)
}

func statIsWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func (a *applier) dirEntry(hdr *tar.Header, name, dir, base string) error {
	pfd, err := a.dirFd(dir, true)
	if err != nil {
		return entryError(name, "resolve parent directory", err)
	}
	opaque := false
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
		if err != unix.EEXIST {
			return entryError(name, "create directory", err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return entryError(name, "inspect the earlier entry", err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// A directory made where this layer whites a name out
			// replaces what the lower layers had there: it is opaque.
			opaque = statIsWhiteout(&st)
			if err := a.removeAt(pfd, base); err != nil {
				return entryError(name, "remove the earlier entry", err)
			}
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return entryError(name, "create directory", err)
			}
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return entryError(name, "open directory", err)
	}
	// The directory is what name resolves to inside root: keep it for
	// its children, which usually follow.
	a.cachePut(name, fd)
	if err := a.fdMeta(fd, hdr, name); err != nil {
		return entryError(name, "set metadata", err)
	}
	if opaque {
		if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
			return entryError(name, "mark the directory opaque", err)
		}
	}
	a.dirs = append(a.dirs, dirTimes{rel: name, ts: tarTimespecs(hdr)})
	return nil
}

func (a *applier) fileEntry(ctx context.Context, tr *tar.Reader, hdr *tar.Header, name, dir, base string) error {
	pfd, err := a.dirFd(dir, true)
	if err != nil {
		return entryError(name, "resolve parent directory", err)
	}
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(pfd, base, flags, 0o600)
	if err == unix.EEXIST {
		if err := a.removeAt(pfd, base); err != nil {
			return entryError(name, "remove the earlier entry", err)
		}
		fd, err = unix.Openat(pfd, base, flags, 0o600)
	}
	if err != nil {
		return entryError(name, "create file", err)
	}
	defer unix.Close(fd)
	n, err := a.copyContent(ctx, fd, tr, hdr.Size)
	a.res.Size += n
	if err != nil {
		// This entry made the file (O_EXCL): no half of it stays (a cp
		// into a container on a full disk).
		_ = unix.Unlinkat(pfd, base, 0)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("tar entry %q: tar is truncated: %w: %w", name, errdefs.ErrDataLoss, err)
		}
		return entryError(name, "write file", err)
	}
	if err := a.fdMeta(fd, hdr, name); err != nil {
		return entryError(name, "set metadata", err)
	}
	if err := unix.UtimesNanoAt(fd, "", tarTimespecs(hdr), unix.AT_EMPTY_PATH); err != nil {
		return entryError(name, "set times", err)
	}
	return nil
}

// copyContent copies size bytes from r to fd through the applier's buffer.
// Chunks of zeros are skipped over rather than written, so sparse files
// (a GNU sparse entry, /var/log/lastlog) stay sparse on disk.
func (a *applier) copyContent(ctx context.Context, fd int, r io.Reader, size int64) (int64, error) {
	var n int64
	hole := false // the file ends in a hole not yet given its size
	for n < size {
		chunk := a.buf
		if rem := size - n; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		m, err := io.ReadFull(r, chunk)
		if m > 0 {
			if bytes.Equal(chunk[:m], applyZeros[:m]) {
				if _, err := unix.Seek(fd, int64(m), io.SeekCurrent); err != nil {
					return n, err
				}
				hole = true
			} else {
				if err := writeFullFd(fd, chunk[:m]); err != nil {
					return n, err
				}
				hole = false
			}
			n += int64(m)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
	if hole {
		if err := unix.Ftruncate(fd, n); err != nil {
			return n, err
		}
	}
	return n, nil
}

func writeFullFd(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

func (a *applier) symlinkEntry(hdr *tar.Header, name, dir, base string) error {
	if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
		return fmt.Errorf("tar entry %q: bad symbolic link target %q: %w", name, hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	pfd, err := a.dirFd(dir, true)
	if err != nil {
		return entryError(name, "resolve parent directory", err)
	}
	// The link's text is kept as it is: it is only ever followed inside
	// a container's root, or inside this root by RESOLVE_IN_ROOT.
	err = unix.Symlinkat(hdr.Linkname, pfd, base)
	if err == unix.EEXIST {
		if err := a.removeAt(pfd, base); err != nil {
			return entryError(name, "remove the earlier entry", err)
		}
		err = unix.Symlinkat(hdr.Linkname, pfd, base)
	}
	if err != nil {
		return entryError(name, "create symbolic link", err)
	}
	a.res.Size += int64(len(hdr.Linkname)) // a link's size is its target's length
	return a.atMeta(pfd, base, hdr, name, false)
}

func (a *applier) fifoEntry(hdr *tar.Header, name, dir, base string) error {
	pfd, err := a.dirFd(dir, true)
	if err != nil {
		return entryError(name, "resolve parent directory", err)
	}
	err = unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0)
	if err == unix.EEXIST {
		if err := a.removeAt(pfd, base); err != nil {
			return entryError(name, "remove the earlier entry", err)
		}
		err = unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0)
	}
	if err != nil {
		return entryError(name, "create fifo", err)
	}
	return a.atMeta(pfd, base, hdr, name, true)
}

func (a *applier) linkEntry(hdr *tar.Header, name, dir, base string) error {
	if hdr.Linkname == "" {
		return fmt.Errorf("tar entry %q: hard link names no target: %w", name, errdefs.ErrInvalidArgument)
	}
	target, err := cleanEntryName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("tar entry %q: hard link target: %w", name, err)
	}
	if target == "." {
		return fmt.Errorf("tar entry %q: hard link to the layer root: %w", name, errdefs.ErrInvalidArgument)
	}
	if _, ok := a.skipDev[target]; ok {
		a.skipDev[name] = struct{}{}
		a.skip(name, "hard link to a skipped device node skipped")
		return nil
	}
	tdir, tbase := path.Split(target)
	tfd, err := a.dirFd(path.Clean(tdir), false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("tar entry %q: hard link target %q is not in the layer: %w", name, target, errdefs.ErrInvalidArgument)
		}
		return entryError(name, "resolve hard link target", err)
	}
	if target == name {
		// A link to itself leaves the file as it is, if it is there.
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("tar entry %q: hard link target %q is not in the layer: %w", name, target, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	pfd, err := a.dirFd(dir, true)
	if err != nil {
		return entryError(name, "resolve parent directory", err)
	}
	// Flags 0: a symbolic link as target is linked, not followed.
	err = unix.Linkat(tfd, tbase, pfd, base, 0)
	if err == unix.EEXIST {
		if err := a.removeAt(pfd, base); err != nil {
			return entryError(name, "remove the earlier entry", err)
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
	}
	switch {
	case err == unix.ENOENT:
		return fmt.Errorf("tar entry %q: hard link target %q is not in the layer: %w", name, target, errdefs.ErrInvalidArgument)
	case err == unix.EPERM:
		return fmt.Errorf("tar entry %q: hard link target %q is a directory: %w", name, target, errdefs.ErrInvalidArgument)
	case err != nil:
		return entryError(name, "create hard link", err)
	}
	return nil
}

// fdMeta applies an entry's owner, mode and xattrs to the file or
// directory open as fd, in the order that keeps them: chown clears the
// setuid bits and file capabilities, so it comes first.
func (a *applier) fdMeta(fd int, hdr *tar.Header, name string) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	return a.xattrs(hdr, name, func(attr string, val []byte) error {
		return unix.Fsetxattr(fd, attr, val, 0)
	})
}

// atMeta applies an entry's metadata to base in pfd without following it:
// for symbolic links and fifos, which cannot be opened for it.
func (a *applier) atMeta(pfd int, base string, hdr *tar.Header, name string, chmod bool) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return entryError(name, "set owner", err)
	}
	if chmod {
		// Only fifos come here with chmod: base was just made a fifo
		// and nothing else writes under root.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return entryError(name, "set mode", err)
		}
	}
	err := a.xattrs(hdr, name, func(attr string, val []byte) error {
		// The parent is reached through its fd's magic link in procfs;
		// the final component is not followed.
		p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
		return unix.Lsetxattr(p, attr, val, 0)
	})
	if err != nil {
		return entryError(name, "set xattrs", err)
	}
	if err := unix.UtimesNanoAt(pfd, base, tarTimespecs(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return entryError(name, "set times", err)
	}
	return nil
}

// xattrs applies the entry's SCHILY.xattr PAX records through set. Overlay
// metadata is refused: a tar must not forge opaque directories or
// redirects. An attribute the file system will not take is skipped.
func (a *applier) xattrs(hdr *tar.Header, name string, set func(string, []byte) error) error {
	if len(hdr.PAXRecords) == 0 {
		return nil
	}
	var keys []string
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattrPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		attr := k[len(paxXattrPrefix):]
		if strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.") {
			a.skip(name, fmt.Sprintf("xattr %q skipped: overlay metadata cannot come from a tar", attr))
			continue
		}
		err := set(attr, []byte(hdr.PAXRecords[k]))
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL),
			errors.Is(err, unix.E2BIG), errors.Is(err, unix.ERANGE), errors.Is(err, unix.ENOSPC),
			errors.Is(err, unix.ENOENT): // ENOENT: no /proc to reach a link or fifo by
			a.skip(name, fmt.Sprintf("xattr %q skipped: %v", attr, err))
		default:
			return fmt.Errorf("set xattr %q: %w", attr, err)
		}
	}
	return nil
}

func tarTimespecs(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return []unix.Timespec{
		{Sec: at.Unix(), Nsec: int64(at.Nanosecond())},
		{Sec: hdr.ModTime.Unix(), Nsec: int64(hdr.ModTime.Nanosecond())},
	}
}

// finishDirs sets the times of the directory entries, now that their
// children are written.
func (a *applier) finishDirs() error {
	for _, d := range a.dirs {
		var err error
		if d.rel == "." {
			err = unix.UtimesNanoAt(a.rootfd, "", d.ts, unix.AT_EMPTY_PATH)
		} else {
			err = a.setDirTimes(d)
		}
		a.flush()
		if err != nil {
			return entryError(d.rel, "set directory times", err)
		}
	}
	return nil
}

func (a *applier) setDirTimes(d dirTimes) error {
	dir, base := path.Split(d.rel)
	pfd, err := a.dirFd(path.Clean(dir), false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // a later entry removed it
		}
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil // a later entry replaced it; that one set its times
	}
	return unix.UtimesNanoAt(pfd, base, d.ts, unix.AT_SYMLINK_NOFOLLOW)
}

// removeAt removes name in pfd, whatever it is, without following it: a
// directory goes with everything in it. A missing name is not an error.
func (a *applier) removeAt(pfd int, name string) error {
	err := unix.Unlinkat(pfd, name, 0)
	switch err {
	case nil:
	case unix.ENOENT:
		return nil
	case unix.EISDIR:
		if err := removeTreeAt(pfd, name); err != nil {
			return err
		}
	default:
		return err
	}
	// What was removed may have been a directory or a symbolic link on
	// the way to a cached directory.
	a.invalidate()
	return nil
}

// removeTreeAt removes the directory name in pfd and everything in it,
// through directory fds: nothing is followed and no path is built.
func removeTreeAt(pfd int, name string) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		err := unix.Unlinkat(fd, n, 0)
		if err == unix.EISDIR {
			err = removeTreeAt(fd, n)
		}
		if err != nil && err != unix.ENOENT {
			return err
		}
	}
	return unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
}

// openInRoot resolves rel inside the tree of rootfd, with rootfd as the
// root of the resolution (chroot semantics), and opens it with flags.
func openInRoot(rootfd int, rel string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for range 16 {
		fd, err := unix.Openat2(rootfd, rel, &how)
		// EAGAIN: a rename raced the resolution; it is safe to retry.
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// dirFd returns an fd of the directory rel (a cleaned name, "." for the
// root) resolved inside root. With create, missing directories are made
// (mode 0755, owned by root), one component at a time. The fd belongs to
// the applier's cache and stays valid until the end of the entry.
func (a *applier) dirFd(rel string, create bool) (int, error) {
	if rel == "." {
		return a.rootfd, nil
	}
	for i := len(a.cache) - 1; i >= 0; i-- {
		if a.cache[i].rel == rel {
			return a.cache[i].fd, nil
		}
	}
	fd, err := openInRoot(a.rootfd, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil && create && (err == unix.ENOENT || err == unix.ENOTDIR) {
		fd, err = a.mkdirAll(rel)
	}
	if err != nil {
		return -1, err
	}
	a.cachePut(rel, fd)
	return fd, nil
}

// mkdirAll makes the missing directories of rel. Each component is
// resolved inside root from root, so a symbolic link among them is
// followed as a container would follow it, and never out of root. A
// whiteout in the way becomes an opaque directory; anything else that is
// not a directory is an error.
func (a *applier) mkdirAll(rel string) (int, error) {
	cur, owned := a.rootfd, false
	closeCur := func() {
		if owned {
			unix.Close(cur)
		}
	}
	fresh := false // cur was just made, so nothing below it exists
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		comp := rel[start:i]
		start = i + 1
		var fd int
		var err error
		if !fresh {
			fd, err = openInRoot(a.rootfd, rel[:i], unix.O_PATH|unix.O_DIRECTORY)
		}
		if fresh || err != nil {
			switch {
			case fresh || err == unix.ENOENT:
				if err := unix.Mkdirat(cur, comp, 0o755); err != nil {
					closeCur()
					if err == unix.EEXIST {
						return -1, fmt.Errorf("%q is a symbolic link to a missing directory: %w", rel[:i], errdefs.ErrInvalidArgument)
					}
					return -1, fmt.Errorf("create directory %q: %w", rel[:i], err)
				}
				// Whatever the process's umask, as a directory of a
				// container image would be made.
				if err := unix.Fchmodat(cur, comp, 0o755, 0); err != nil {
					closeCur()
					return -1, fmt.Errorf("set mode of directory %q: %w", rel[:i], err)
				}
				fresh = true
			case err == unix.ENOTDIR:
				var st unix.Stat_t
				if err := unix.Fstatat(cur, comp, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					closeCur()
					return -1, fmt.Errorf("inspect %q: %w", rel[:i], err)
				}
				if !statIsWhiteout(&st) {
					closeCur()
					return -1, fmt.Errorf("%q is not a directory: %w", rel[:i], errdefs.ErrInvalidArgument)
				}
				if err := unix.Unlinkat(cur, comp, 0); err != nil {
					closeCur()
					return -1, fmt.Errorf("remove whiteout %q: %w", rel[:i], err)
				}
				a.invalidate()
				if err := unix.Mkdirat(cur, comp, 0o755); err != nil {
					closeCur()
					return -1, fmt.Errorf("create directory %q: %w", rel[:i], err)
				}
				if err := unix.Fchmodat(cur, comp, 0o755, 0); err != nil {
					closeCur()
					return -1, fmt.Errorf("set mode of directory %q: %w", rel[:i], err)
				}
				if err := setOpaqueAt(cur, comp); err != nil {
					closeCur()
					return -1, fmt.Errorf("mark directory %q opaque: %w", rel[:i], err)
				}
				fresh = true
			default:
				closeCur()
				return -1, err
			}
			fd, err = unix.Openat(cur, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				closeCur()
				return -1, fmt.Errorf("open directory %q: %w", rel[:i], err)
			}
		}
		closeCur()
		cur, owned = fd, true
	}
	return cur, nil
}

// cachePut keeps fd as the directory rel resolves to; the cache owns it.
func (a *applier) cachePut(rel string, fd int) {
	for i := range a.cache {
		if a.cache[i].rel == rel {
			a.pending = append(a.pending, a.cache[i].fd)
			a.cache = slices.Delete(a.cache, i, i+1)
			break
		}
	}
	if len(a.cache) >= applyDirCacheSize {
		a.pending = append(a.pending, a.cache[0].fd)
		a.cache = slices.Delete(a.cache, 0, 1)
	}
	a.cache = append(a.cache, cachedDir{rel: rel, fd: fd})
}

// invalidate forgets every cached directory: a removal may have changed
// what their names resolve to.
func (a *applier) invalidate() {
	for _, c := range a.cache {
		a.pending = append(a.pending, c.fd)
	}
	a.cache = a.cache[:0]
}

// flush closes the fds let go of during an entry.
func (a *applier) flush() {
	for _, fd := range a.pending {
		unix.Close(fd)
	}
	a.pending = a.pending[:0]
}

func (a *applier) closeAll() {
	a.invalidate()
	a.flush()
}

// openLayerFile opens, for reading, the regular file at rel (a cleaned
// slash path, relative, not empty) inside the layer whose folder is dir.
// rel is resolved by the kernel inside the layer's files folder, as a
// container would resolve it, so a symbolic link in the layer never leads
// out of it; the file itself is not followed if it is a link.
func openLayerFile(dir, rel string) (io.ReadCloser, error) {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") ||
		strings.IndexByte(rel, 0) >= 0 {
		return nil, fmt.Errorf("open layer file %q: not a relative name inside the layer: %w", rel, errdefs.ErrInvalidArgument)
	}
	root := filepath.Join(dir, "diff")
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		err = &os.PathError{Op: "open", Path: root, Err: err}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open layer file %q: %w: %w", rel, errdefs.ErrNotFound, err)
		}
		return nil, fmt.Errorf("open layer file %q: %w", rel, err)
	}
	defer unix.Close(rootfd)
	// O_NONBLOCK: opening a fifo must not wait for a writer.
	fd, err := openInRoot(rootfd, rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		err = &os.PathError{Op: "open", Path: filepath.Join(root, filepath.FromSlash(rel)), Err: err}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open layer file %q: %w: %w", rel, errdefs.ErrNotFound, err)
		}
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("open layer file %q: a symbolic link (or a loop of them) stands where a file should: %w: %w", rel, errdefs.ErrDataLoss, err)
		}
		return nil, fmt.Errorf("open layer file %q: %w", rel, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open layer file %q: %w", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("open layer file %q: not a regular file: %w", rel, errdefs.ErrDataLoss)
	}
	// Reads of a regular file never block; clear the flag all the same.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open layer file %q: %w", rel, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, filepath.FromSlash(rel))), nil
}

// ExtractTar extracts the tar read from r into the folder dir, which the
// caller resolved safely (a folder of a container's root file system:
// docker cp). Every name is resolved inside dir by the kernel, as for a
// layer, so no entry — "..", an absolute name, a symbolic link in the
// folder or in the tar — writes outside it.
func ExtractTar(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (ApplyResult, error) {
	return applyTar(ctx, dir, r, opts)
}
