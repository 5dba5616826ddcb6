package leaninit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const defaultMountFlags = unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV

// procRootIno is the inode of every procfs's root.
const procRootIno = 1

// fdPath names an open descriptor for mount(2): the kernel follows the
// magic link to the very inode the descriptor holds, so a mount lands
// where the path was resolved (inside the root), whatever the container's
// files did to the path since.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// checkProcfs makes sure /proc is a real procfs before any /proc/self/fd
// path is trusted (CVE-2019-19921 class: a container's file system must
// not stand in for it).
func checkProcfs(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not a procfs (type %#x)", p, st.Type)
	}
	var s unix.Stat_t
	if err := unix.Stat(p, &s); err != nil {
		return &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if s.Ino != procRootIno {
		return fmt.Errorf("%s is not the root of a procfs (inode %d)", p, s.Ino)
	}
	return nil
}

// openInRoot opens path resolved inside root: ".." and symlinks, absolute
// ones included, never leave it, and no magic link is followed
// (CVE-2021-30465).
func openInRoot(root int, path string, flags int) (int, error) {
	rel := strings.TrimLeft(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, &os.PathError{Op: "openat2", Path: path, Err: err}
	}
	return fd, nil
}

// mkdirAllInRoot opens the directory path inside root, making what is
// missing (mode) one component at a time, each resolved inside root. A
// component that is a dangling link has its target made, inside root, as
// libcontainer does (an image's /data -> /var/lib/data that the image
// lacks, with a volume on /data).
func mkdirAllInRoot(root int, path string, mode uint32) (int, error) {
	return mkdirAllInRootDepth(root, path, mode, 0)
}

func mkdirAllInRootDepth(root int, path string, mode uint32, links int) (int, error) {
	clean := filepath.Clean("/" + path)
	if fd, err := openInRoot(root, clean, unix.O_PATH|unix.O_DIRECTORY); err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, err := openInRoot(root, "/", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	sofar := ""
	for _, name := range strings.Split(strings.TrimPrefix(clean, "/"), "/") {
		sofar += "/" + name
		fd, err := openInRoot(root, sofar, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			err = unix.Mkdirat(parent, name, mode)
			if errors.Is(err, unix.EEXIST) {
				// Made meanwhile, or a link to something missing.
				if target, lerr := readlinkat(parent, name); lerr == nil {
					if links >= 40 {
						unix.Close(parent)
						return -1, &os.PathError{Op: "mkdir", Path: sofar, Err: unix.ELOOP}
					}
					if !filepath.IsAbs(target) {
						target = filepath.Join(filepath.Dir(sofar), target)
					}
					made, merr := mkdirAllInRootDepth(root, target, mode, links+1)
					if merr != nil {
						unix.Close(parent)
						return -1, merr
					}
					unix.Close(made)
				}
				err = nil
			}
			if err != nil {
				unix.Close(parent)
				return -1, &os.PathError{Op: "mkdirat", Path: sofar, Err: err}
			}
			fd, err = openInRoot(root, sofar, unix.O_PATH|unix.O_DIRECTORY)
		}
		unix.Close(parent)
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

func readlinkat(dir int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// createInRoot makes an empty file at path inside root (its folder made as
// needed) and opens it O_PATH. A dangling link there has its target made,
// inside root (an image's /etc/resolv.conf -> ../run/…/stub-resolv.conf
// that it lacks, with Docker's file bound over it), as libcontainer does.
func createInRoot(root int, path string, mode uint32) (int, error) {
	return createInRootDepth(root, path, mode, 0)
}

func createInRootDepth(root int, path string, mode uint32, links int) (int, error) {
	clean := filepath.Clean("/" + path)
	dir, err := mkdirAllInRoot(root, filepath.Dir(clean), 0o755)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, filepath.Base(clean), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, mode)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, &os.PathError{Op: "create", Path: clean, Err: err}
	}
	if err == nil {
		unix.Close(fd)
	}
	opened, err := openInRoot(root, clean, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		if target, lerr := readlinkat(dir, filepath.Base(clean)); lerr == nil {
			if links >= 40 {
				return -1, &os.PathError{Op: "create", Path: clean, Err: unix.ELOOP}
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(clean), target)
			}
			made, cerr := createInRootDepth(root, target, mode, links+1)
			if cerr != nil {
				return -1, cerr
			}
			unix.Close(made)
			return openInRoot(root, clean, unix.O_PATH)
		}
	}
	return opened, err
}

// fdRealPath is where an open descriptor is, as the kernel names it.
func fdRealPath(fd int) (string, error) {
	p, err := os.Readlink(fdPath(fd))
	if err != nil {
		return "", err
	}
	return p, nil
}

func inRoot(rootfs, p string) bool {
	return p == rootfs || strings.HasPrefix(p, rootfs+"/")
}

// prepareRootfs makes the container's mount namespace: the root's
// propagation, the rootfs bound onto itself, the configured mounts, /dev,
// then pivot_root into it.
func prepareRootfs(cfg *Config) error {
	c := cfg.Container
	if err := checkProcfs("/proc"); err != nil {
		return err
	}
	flag := unix.MS_SLAVE | unix.MS_REC
	if c.RootPropagation != 0 {
		flag = c.RootPropagation
	}
	if err := unix.Mount("", "/", "", uintptr(flag), ""); err != nil {
		return &os.PathError{Op: "mount propagation", Path: "/", Err: err}
	}
	// The rootfs's parent mount must not be shared: pivot_root refuses
	// it, and the bind below would propagate to the host.
	parentFlag := uintptr(unix.MS_PRIVATE)
	if c.RootPropagation&unix.MS_SLAVE != 0 {
		parentFlag = unix.MS_SLAVE
	}
	for p := c.Rootfs; ; p = filepath.Dir(p) {
		err := unix.Mount("", p, "", parentFlag, "")
		if err == nil {
			break
		}
		if err != unix.EINVAL || p == "/" {
			return &os.PathError{Op: "remount-propagation", Path: p, Err: err}
		}
	}
	if err := unix.Mount(c.Rootfs, c.Rootfs, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "bind rootfs", Path: c.Rootfs, Err: err}
	}
	root, err := unix.Open(c.Rootfs, unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open rootfs", Path: c.Rootfs, Err: err}
	}
	defer unix.Close(root)
	for _, m := range c.Mounts {
		if err := mountToRootfs(root, c.Rootfs, m); err != nil {
			return fmt.Errorf("mount %s (%s): %w", m.Destination, m.Device, err)
		}
	}
	setupDev := needsSetupDev(c)
	if setupDev {
		if err := setupDevices(root, c); err != nil {
			return fmt.Errorf("configuring container /dev: %w", err)
		}
	}
	if err := unix.Fchdir(root); err != nil {
		return &os.PathError{Op: "chdir", Path: c.Rootfs, Err: err}
	}
	if c.NoPivotRoot {
		err = msMoveRoot(c.Rootfs)
	} else {
		err = pivotRoot(root)
	}
	if err != nil {
		return fmt.Errorf("error jailing process inside rootfs: %w", err)
	}
	if c.RootPropagation != 0 && c.RootPropagation&(unix.MS_PRIVATE|unix.MS_SLAVE) == 0 {
		if err := unix.Mount("", "/", "", uintptr(c.RootPropagation), ""); err != nil {
			return fmt.Errorf("unable to apply root propagation flags: %w", err)
		}
	}
	if setupDev {
		if err := reopenDevNull(); err != nil {
			return fmt.Errorf("error reopening /dev/null inside container: %w", err)
		}
	}
	if cfg.Cwd != "" {
		if err := os.MkdirAll(cfg.Cwd, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func pivotRoot(root int) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	if err := unix.Fchdir(root); err != nil {
		return &os.PathError{Op: "chdir", Path: "rootfs", Err: err}
	}
	// The old root is stacked under the new one, then detached.
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: ".", Err: err}
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return &os.PathError{Op: "fchdir", Path: "old root", Err: err}
	}
	// Nothing of the unmount below may reach the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "mount", Path: "old root", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount", Path: "old root", Err: err}
	}
	return unix.Chdir("/")
}

func msMoveRoot(rootfs string) error {
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return &os.PathError{Op: "move mount", Path: rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: ".", Err: err}
	}
	return unix.Chdir("/")
}

// checkProcMount allows a mount under the container's /proc only where
// libcontainer does: procfs at /proc itself and the few files lxcfs
// emulates.
func checkProcMount(rootfs, dest string, m *Mount, src int) error {
	rel, err := filepath.Rel(filepath.Join(rootfs, "/proc"), dest)
	if err != nil {
		return err
	}
	if strings.HasPrefix(rel, "..") {
		return nil
	}
	if rel == "." {
		if m.IsBind() && src >= 0 {
			var st unix.Statfs_t
			if err := unix.Fstatfs(src, &st); err != nil {
				return err
			}
			if st.Type == unix.PROC_SUPER_MAGIC {
				return nil
			}
		} else if m.Device == "proc" {
			return nil
		}
		return fmt.Errorf("%q cannot be mounted because it is not of type proc", dest)
	}
	for _, ok := range []string{"cpuinfo", "diskstats", "meminfo", "stat", "swaps", "uptime", "loadavg", "slabinfo", "sys/kernel/ns_last_pid", "sys/crypto/fips_enabled"} {
		if rel == ok {
			return nil
		}
	}
	return fmt.Errorf("%q cannot be mounted because it is inside /proc", dest)
}

// mountToRootfs mounts m inside the root. Its destination is resolved
// inside the root and created there when missing; the mount goes onto the
// resolved descriptor, so a symlink swapped in cannot send it elsewhere.
func mountToRootfs(root int, rootfs string, m *Mount) error {
	if m.Device == "cgroup" {
		return mountCgroupV1(root, rootfs, m)
	}
	src := -1
	if m.IsBind() {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open bind source", Path: m.Source, Err: err}
		}
		defer unix.Close(fd)
		src = fd
	}
	var dst int
	var err error
	existed := false
	switch m.Device {
	case "proc", "sysfs":
		if fi, err := os.Lstat(filepath.Join(rootfs, filepath.Clean("/"+m.Destination))); err == nil && !fi.IsDir() {
			// Lexically: a symlink here is refused, not followed.
			return fmt.Errorf("filesystem %q must be mounted on ordinary directory", m.Device)
		}
		dst, err = mkdirAllInRoot(root, m.Destination, 0o755)
	default:
		dst, err = openInRoot(root, m.Destination, unix.O_PATH)
		existed = err == nil
		if errors.Is(err, unix.ENOENT) {
			isFile := false
			if src >= 0 {
				var st unix.Stat_t
				if err := unix.Fstat(src, &st); err != nil {
					return err
				}
				isFile = st.Mode&unix.S_IFMT != unix.S_IFDIR
			}
			if isFile {
				dst, err = createInRoot(root, m.Destination, 0o644)
			} else {
				dst, err = mkdirAllInRoot(root, m.Destination, 0o755)
			}
		}
	}
	if err != nil {
		return err
	}
	defer func() { unix.Close(dst) }()
	real, err := fdRealPath(dst)
	if err != nil {
		return err
	}
	if !inRoot(rootfs, real) {
		return fmt.Errorf("mountpoint %q is outside of rootfs %q", real, rootfs)
	}
	if real == rootfs {
		return fmt.Errorf("mountpoint %q is on the top of rootfs %q", real, rootfs)
	}
	if err := checkProcMount(rootfs, real, m, src); err != nil {
		return err
	}
	data := m.Data
	if m.Device == "tmpfs" && existed {
		// A tmpfs keeps the mode of the folder it covers unless told (a
		// folder made for it leaves tmpfs's own default, 1777).
		var st unix.Stat_t
		if err := unix.Fstat(dst, &st); err != nil {
			return err
		}
		mode := fmt.Sprintf("mode=%04o", st.Mode&0o7777)
		if data != "" {
			mode += "," + data
		}
		data = mode
	}
	flags := m.Flags
	if m.Device == "tmpfs" || filepath.Clean(m.Destination) == "/dev" {
		// Made read-only once populated (finalizeRootfs).
		flags &^= unix.MS_RDONLY
	}
	source := m.Source
	if src >= 0 {
		source = fdPath(src)
	}
	if err := unix.Mount(source, fdPath(dst), m.Device, uintptr(flags), data); err != nil {
		return &os.PathError{Op: "mount", Path: m.Destination, Err: err}
	}
	// The descriptor still names what the mount covers; the mount's root
	// is found again by path, inside the root.
	unix.Close(dst)
	if dst, err = openInRoot(root, m.Destination, unix.O_PATH); err != nil {
		return fmt.Errorf("reopen mountpoint after mount: %w", err)
	}
	if src >= 0 {
		// What the path leads to now must be this bind mount's root (its
		// source's inode): a folder swapped in meanwhile would get the
		// flags and propagation below instead, and leave this mount as
		// it is (a read-only volume writable).
		var a, b unix.Stat_t
		if err := unix.Fstat(src, &a); err != nil {
			return err
		}
		if err := unix.Fstat(dst, &b); err != nil {
			return err
		}
		if a.Dev != b.Dev || a.Ino != b.Ino {
			return fmt.Errorf("mountpoint %q was moved while it was mounted", m.Destination)
		}
	}
	for _, pflag := range m.PropagationFlags {
		if err := unix.Mount("", fdPath(dst), "", uintptr(pflag), ""); err != nil {
			return &os.PathError{Op: "mount propagation", Path: m.Destination, Err: err}
		}
	}
	if m.IsBind() && (m.Flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) != 0 || m.ClearedFlags != 0) {
		if err := remountBind(m, src, dst); err != nil {
			return fmt.Errorf("failed to set user-requested vfs flags on bind-mount: %w", err)
		}
	}
	return nil
}

// The flags a mount namespace that is not the owner cannot clear on a
// bind mount's remount.
const (
	mntLockFlags  = unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME
	mntAtimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
)

// remountBind applies a bind mount's own flags, keeping the source's
// locked ones when the kernel insists.
func remountBind(m *Mount, src, dst int) error {
	flags := m.Flags | unix.MS_BIND | unix.MS_REMOUNT
	err := unix.Mount("", fdPath(dst), "", uintptr(flags), "")
	if err == nil {
		return nil
	}
	var st unix.Statfs_t
	if serr := unix.Fstatfs(src, &st); serr != nil {
		return serr
	}
	srcFlags := statfsToMountFlags(st.Flags)
	if locked := srcFlags & m.ClearedFlags & mntLockFlags; locked != 0 {
		return fmt.Errorf("cannot clear locked flags %#x: %w", locked, err)
	}
	if m.Flags&mntAtimeFlags != 0 && m.Flags&mntAtimeFlags != srcFlags&mntAtimeFlags {
		return fmt.Errorf("cannot change locked atime flags %#x: %w", srcFlags&mntAtimeFlags, err)
	}
	flags |= srcFlags & mntLockFlags
	if err := unix.Mount("", fdPath(dst), "", uintptr(flags), ""); err != nil {
		return fmt.Errorf("remount with locked flags re-applied: %w", err)
	}
	return nil
}

// statfsToMountFlags maps statfs's ST_* flags to mount(2)'s MS_*.
func statfsToMountFlags(f int64) int {
	var out int
	for st, ms := range map[int64]int{
		unix.ST_RDONLY: unix.MS_RDONLY, unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV,
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_SYNCHRONOUS: unix.MS_SYNCHRONOUS, unix.ST_MANDLOCK: unix.MS_MANDLOCK,
		unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME,
	} {
		if f&st != 0 {
			out |= ms
		}
	}
	return out
}

// mountCgroupV1 is the cgroup mount on a v1 (or hybrid) host without a
// cgroup namespace, as libcontainer makes it: a tmpfs, and in it each
// hierarchy's folder of this container bound read-only (the flags of m),
// with links for co-mounted controllers (cpu -> cpu,cpuacct).
func mountCgroupV1(root int, rootfs string, m *Mount) error {
	mounts, own, err := cgroupV1Mounts()
	if err != nil {
		return err
	}
	tmpfs := &Mount{
		Source: "tmpfs", Device: "tmpfs", Destination: m.Destination,
		Flags: defaultMountFlags, Data: "mode=755", PropagationFlags: m.PropagationFlags,
	}
	if err := mountToRootfs(root, rootfs, tmpfs); err != nil {
		return err
	}
	var merged []string
	for _, mm := range mounts {
		dir, err := mm.ownCgroup(own)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(mm.Root, dir)
		if err != nil {
			return err
		}
		b := &Mount{
			Device: "bind", Source: filepath.Join(mm.Mountpoint, rel),
			Destination: filepath.Join(m.Destination, filepath.Base(mm.Mountpoint)),
			Flags:       unix.MS_BIND | unix.MS_REC | m.Flags, PropagationFlags: m.PropagationFlags,
		}
		if ss := filepath.Base(b.Destination); strings.Contains(ss, ",") {
			merged = append(merged, ss)
		}
		if err := mountToRootfs(root, rootfs, b); err != nil {
			return err
		}
	}
	dir, err := openInRoot(root, m.Destination, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	for _, mc := range merged {
		for _, ss := range strings.Split(mc, ",") {
			if err := unix.Symlinkat(mc, dir, ss); err != nil && !errors.Is(err, unix.EEXIST) {
				return &os.PathError{Op: "symlink", Path: filepath.Join(m.Destination, ss), Err: err}
			}
		}
	}
	return nil
}

func needsSetupDev(c *Container) bool {
	for _, m := range c.Mounts {
		if m.IsBind() && filepath.Clean(m.Destination) == "/dev" {
			return false
		}
	}
	return true
}

// setupDevices makes the device nodes, /dev/ptmx as a link into the
// container's devpts, and the /dev/fd, stdin, stdout, stderr and core links.
func setupDevices(root int, c *Container) error {
	for _, d := range c.Devices {
		if d.Path == "" || filepath.Clean(d.Path) == "/dev/ptmx" {
			continue
		}
		if err := createDeviceNode(root, d); err != nil {
			return err
		}
	}
	dev, err := mkdirAllInRoot(root, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	if err := unix.Unlinkat(dev, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: "/dev/ptmx", Err: err}
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "symlink", Path: "/dev/" + l[1], Err: err}
		}
	}
	return nil
}

func createDeviceNode(root int, d *Device) error {
	clean := filepath.Clean("/" + d.Path)
	dir, err := mkdirAllInRoot(root, filepath.Dir(clean), 0o755)
	if err != nil {
		return fmt.Errorf("mkdir parent of device inode %q: %w", d.Path, err)
	}
	defer unix.Close(dir)
	name := filepath.Base(clean)
	mode := uint32(d.FileMode)
	switch d.Type {
	case 'b':
		mode |= unix.S_IFBLK
	case 'c':
		mode |= unix.S_IFCHR
	case 'p':
		mode |= unix.S_IFIFO
	default:
		return fmt.Errorf("%c is not a valid device type for device %s", d.Type, d.Path)
	}
	dev, err := d.mkdev()
	if err != nil {
		return err
	}
	if err := unix.Mknodat(dir, name, mode, int(dev)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		if errors.Is(err, unix.EPERM) {
			return bindDeviceNode(root, clean, d)
		}
		return &os.PathError{Op: "mknodat", Path: clean, Err: err}
	}
	// mknod obeys the umask; the node gets its configured mode and owner.
	if err := unix.Fchmodat(dir, name, mode&0o7777, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: clean, Err: err}
	}
	if err := unix.Fchownat(dir, name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: clean, Err: err}
	}
	return nil
}

func bindDeviceNode(root int, clean string, d *Device) error {
	dst, err := createInRoot(root, clean, 0o644)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	if err := unix.Mount(d.Path, fdPath(dst), "bind", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind device", Path: clean, Err: err}
	}
	return nil
}

func isDevNull(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == unix.Mkdev(1, 3)
}

// reopenDevNull points stdio that was the host's /dev/null at the
// container's.
func reopenDevNull() error {
	f, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if !isDevNull(&st) {
		return errors.New("/dev/null is not the null device")
	}
	for fd := range 3 {
		var s unix.Stat_t
		if err := unix.Fstat(fd, &s); err != nil {
			return &os.PathError{Op: "fstat", Path: "fd " + strconv.Itoa(fd), Err: err}
		}
		if isDevNull(&s) {
			if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// finalizeRootfs makes read-only what had to stay writable while the
// rootfs was filled (tmpfs and /dev mounts), the root itself when asked,
// and sets the umask.
func finalizeRootfs(c *Container) error {
	for _, m := range c.Mounts {
		if m.Flags&unix.MS_RDONLY == 0 || (m.Device != "tmpfs" && filepath.Clean(m.Destination) != "/dev") {
			continue
		}
		if err := remountReadonly(m); err != nil {
			return err
		}
	}
	if c.Readonlyfs {
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		if err := unix.Mount("", "/", "", flags, ""); err != nil {
			var st unix.Statfs_t
			if err := unix.Statfs("/", &st); err != nil {
				return &os.PathError{Op: "statfs", Path: "/", Err: err}
			}
			if err := unix.Mount("", "/", "", flags|uintptr(st.Flags), ""); err != nil {
				return fmt.Errorf("error setting rootfs as readonly: %w", err)
			}
		}
	}
	if c.Umask != nil {
		unix.Umask(int(*c.Umask))
	} else {
		unix.Umask(0o022)
	}
	return nil
}

func remountReadonly(m *Mount) error {
	flags := uintptr(m.Flags | unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	for range 5 {
		err := unix.Mount("", m.Destination, "", flags, "")
		if errors.Is(err, unix.EBUSY) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return &os.PathError{Op: "remount read-only", Path: m.Destination, Err: err}
		}
		return nil
	}
	return fmt.Errorf("unable to mount %s as readonly max retries reached", m.Destination)
}

func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	flags := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	return unix.Mount(p, p, "", flags|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// maskPaths covers files with /dev/null and folders with one empty
// read-only tmpfs (the first folder's, bound over the others).
func maskPaths(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	null, err := unix.Open("/dev/null", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("can't mask paths: %w", err)
	}
	defer unix.Close(null)
	var st unix.Stat_t
	if err := unix.Fstat(null, &st); err != nil || !isDevNull(&st) {
		return fmt.Errorf("can't mask paths: /dev/null is not the null device (%v)", err)
	}
	shared := -1
	defer func() {
		if shared >= 0 {
			unix.Close(shared)
		}
	}()
	done := map[string]bool{}
	for _, p := range paths {
		dst, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("can't mask path %q: %w", p, err)
		}
		clean := filepath.Clean(p)
		if done[clean] {
			unix.Close(dst)
			continue
		}
		done[clean] = true
		var s unix.Stat_t
		if err := unix.Fstat(dst, &s); err != nil {
			unix.Close(dst)
			return fmt.Errorf("can't mask path %q: %w", p, err)
		}
		switch {
		case s.Mode&unix.S_IFMT != unix.S_IFDIR:
			err = unix.Mount(fdPath(null), fdPath(dst), "", unix.MS_BIND, "")
		case shared >= 0:
			err = unix.Mount(fdPath(shared), fdPath(dst), "", unix.MS_BIND, "")
		default:
			err = unix.Mount("tmpfs", fdPath(dst), "tmpfs", unix.MS_RDONLY, "nr_blocks=1,nr_inodes=1")
			if err != nil {
				err = unix.Mount("tmpfs", fdPath(dst), "tmpfs", unix.MS_RDONLY, "nr_blocks=1,nr_inodes=2")
			}
			if err == nil {
				shared, err = unix.Open(p, unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
			}
		}
		unix.Close(dst)
		if err != nil {
			return fmt.Errorf("can't mask %q: %w", p, err)
		}
	}
	return nil
}
