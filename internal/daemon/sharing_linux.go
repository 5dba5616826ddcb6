package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// defaultShmSize is Docker's /dev/shm: 64 MiB.
const defaultShmSize = 64 << 20

// setupShm mounts the tmpfs that is a shareable container's /dev/shm on
// the host (what a mount left by a failed start is replaced), so that the
// containers that join its IPC namespace bind-mount the same one.
func (d *Daemon) setupShm(id string, size int64) (string, error) {
	p := d.shmPath(id)
	d.releaseShm(id)
	if err := os.MkdirAll(p, 0o700); err != nil {
		return "", fmt.Errorf("the IPC mount of %s: %w", id, err)
	}
	if size <= 0 {
		size = defaultShmSize
	}
	if err := unix.Mount("shm", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+strconv.FormatInt(size, 10)); err != nil {
		return "", fmt.Errorf("the IPC mount of %s: mount tmpfs on %s: %w", id, p, err)
	}
	return p, nil
}

// releaseShm unmounts a shareable container's /dev/shm from the host (the
// containers that joined it keep theirs until they stop).
func (d *Daemon) releaseShm(id string) {
	p := d.shmPath(id)
	for i := 0; i < 8; i++ {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			if err != unix.EINVAL && err != unix.ENOENT {
				slog.Warn("unmount the container's IPC mount", "id", id, "path", p, "error", err)
			}
			return
		}
	}
}
