package daemon

import (
	"fmt"

	"github.com/hullproject/hull/internal/errdefs"
)

// setupShm: Windows containers have no /dev/shm to share.
func (d *Daemon) setupShm(id string, size int64) (string, error) {
	return "", fmt.Errorf("IPC mode shareable is not supported for Windows containers: %w", errdefs.ErrNotImplemented)
}

func (d *Daemon) releaseShm(id string) {}
