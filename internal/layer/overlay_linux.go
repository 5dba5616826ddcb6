package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// driverName is what docker inspect shows as GraphDriver.Name.
const driverName = "overlay"

// scratchInPlace: an overlay scratch layer is made aside and renamed into
// place, like the others.
const scratchInPlace = false

// On Linux a layer folder holds, beside layerchain.json and layer.json:
//
//	diff/    the layer's own files, in overlayfs's format (whiteouts are
//	         0/0 character devices, opaque directories carry the
//	         trusted.overlay.opaque xattr), so it can be a lowerdir or an
//	         upperdir as it is;
//	work/    overlayfs's work folder (scratch layers only);
//	merged/  where the layer is mounted.
const (
	diffDir   = "diff"
	workDir   = "work"
	mergedDir = "merged"
)

func filesDir(dir string) string { return filepath.Join(dir, diffDir) }

// importImpl applies the tar r into the layer's files; observe, when not
// nil, is told of each header before the entry's content is read.
func importImpl(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions, observe func(*tar.Header)) (ApplyResult, error) {
	if err := os.Mkdir(filesDir(dir), 0o755); err != nil {
		return ApplyResult{}, err
	}
	return applyTarObserved(ctx, filesDir(dir), r, opts, observe)
}

func createScratchImpl(ctx context.Context, dir string, parents []string) error {
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{diffDir, 0o755}, {workDir, 0o700}, {mergedDir, 0o755}} {
		if err := os.Mkdir(filepath.Join(dir, d.name), d.mode); err != nil {
			return err
		}
	}
	return nil
}

// isMountRoot reports whether p is the root of a mount, which is how a
// mount left by a crashed process (or counted but lost to a reboot) is
// told apart from an empty folder.
func isMountRoot(p string) (bool, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, 0, &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "statx", Path: p, Err: err}
	}
	if st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, fmt.Errorf("statx %s: kernel does not report mount roots: %w", p, errdefs.ErrNotImplemented)
	}
	return st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

func mountImpl(ctx context.Context, dir string, chain []string, scratch bool, counted bool, volatile bool) (string, error) {
	target := filepath.Join(dir, mergedDir)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", err
	}
	mounted, err := isMountRoot(target)
	if err != nil {
		return "", err
	}
	if mounted {
		return target, nil
	}
	lowers := make([]string, 0, len(chain)+1)
	if !scratch {
		lowers = append(lowers, filesDir(dir))
	}
	for _, p := range chain {
		lowers = append(lowers, filesDir(p))
	}
	switch {
	case scratch && len(lowers) == 0:
		err = bindMount(filesDir(dir), target, false)
	case !scratch && len(lowers) == 1:
		err = bindMount(lowers[0], target, true)
	default:
		var upper, work string
		if scratch {
			upper, work = filesDir(dir), filepath.Join(dir, workDir)
		}
		err = overlayMount(target, lowers, upper, work, volatile && scratch)
		if err != nil && volatile && scratch && errors.Is(err, unix.EINVAL) {
			// A kernel before 5.10 has no volatile option.
			err = overlayMount(target, lowers, upper, work, false)
		}
	}
	if err != nil {
		return "", err
	}
	return target, nil
}

// overlayMount mounts an overlay at target. It uses the new mount API,
// which takes the lower folders one by one ("lowerdir+", Linux 6.8), so a
// long chain is not cut short by the page-sized option string of mount(2);
// on older kernels it falls back to mount(2). volatile (with an upper
// folder) adds overlayfs's volatile option.
func overlayMount(target string, lowers []string, upper, work string, volatile bool) error {
	err := overlayFsmount(target, lowers, upper, work, volatile)
	if err == nil || !(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)) {
		return err
	}
	data := "lowerdir="
	for i, l := range lowers {
		if i > 0 {
			data += ":"
		}
		data += l
	}
	flags := uintptr(0)
	if upper != "" {
		data += ",upperdir=" + upper + ",workdir=" + work
		if volatile {
			data += ",volatile"
		}
	} else {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("overlay", target, "overlay", flags, data); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

func overlayFsmount(target string, lowers []string, upper, work string, volatile bool) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("overlay option %s=%s: %w", k, v, err)
		}
		return nil
	}
	if err := set("source", "overlay"); err != nil {
		return err
	}
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	attrs := 0
	if upper != "" {
		if err := set("upperdir", upper); err != nil {
			return err
		}
		if err := set("workdir", work); err != nil {
			return err
		}
		if volatile {
			if err := unix.FsconfigSetFlag(fd, "volatile"); err != nil {
				return fmt.Errorf("overlay option volatile: %w", err)
			}
		}
	} else {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("create overlay for %s: %w", target, err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("fsmount overlay for %s: %w", target, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move overlay mount to %s: %w", target, err)
	}
	return nil
}

func bindMount(src, target string, readonly bool) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	if readonly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("make %s read-only: %w", target, err)
		}
	}
	return nil
}

func unmountImpl(ctx context.Context, dir string) error {
	target := filepath.Join(dir, mergedDir)
	for {
		mounted, err := isMountRoot(target)
		if err != nil || !mounted {
			return err
		}
		if err := unix.Unmount(target, 0); err != nil {
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("unmount %s: in use: %w", target, errdefs.ErrConflict)
			}
			return fmt.Errorf("unmount %s: %w", target, err)
		}
		// A volatile mount leaves this mark, and overlayfs refuses to
		// mount the layer again while it is there; the host did not
		// crash meanwhile (this unmount was clean), so the layer is
		// whole and may be mounted again (a restarted container).
		if err := os.RemoveAll(filepath.Join(dir, workDir, "work", "incompat", "volatile")); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// removeAll deletes a layer folder, detaching any mount left on it first
// so that removal never descends into the merged view of its parents.
func removeAll(dir string) error {
	target := filepath.Join(dir, mergedDir)
	for {
		mounted, err := isMountRoot(target)
		if err != nil {
			return err
		}
		if !mounted {
			break
		}
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return os.RemoveAll(dir)
}

// withLock runs fn holding an exclusive lock on the layer folder, shared
// with other processes (the daemon and hull layer) through flock(2).
func withLock(dir string, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("layer %s: %w", dir, errdefs.ErrNotFound)
		}
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock layer %s: %w", dir, err)
	}
	return fn()
}
