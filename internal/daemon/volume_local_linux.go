package daemon

import (
	"errors"
	"fmt"

	"github.com/docker/go-units"
	"github.com/moby/sys/mount"
	"github.com/moby/sys/mountinfo"

	"github.com/hullproject/hull/internal/errdefs"
)

// checkLocalOptionsImpl is dockerd's local driver's check on Linux: type,
// device, o and size; hull has no quota support, so a size above zero is
// refused in dockerd's words for a daemon without it.
func checkLocalOptionsImpl(opts map[string]string) error {
	if err := checkLocalOptionKeys(opts); err != nil {
		return err
	}
	if v, ok := opts["size"]; ok {
		size, err := units.RAMInBytes(v)
		if err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		if size > 0 {
			return fmt.Errorf("quota size requested but no quota support: %w", errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// mountLocalImpl mounts a volume's device on its folder with its type and
// options (mount(8)'s option words: flags such as ro or bind, the rest
// given to the file system), as dockerd's local driver does.
func mountLocalImpl(opts map[string]string, dir string) error {
	if opts["device"] == "" {
		return errors.New("missing device in volume options")
	}
	return mount.Mount(opts["device"], dir, opts["type"], opts["o"])
}

// unmountLocalImpl unmounts a volume's folder; one that is not mounted is
// left as it is.
func unmountLocalImpl(dir string) error {
	if err := mount.Unmount(dir); err != nil {
		if mounted, merr := mountinfo.Mounted(dir); mounted || merr != nil {
			return err
		}
	}
	return nil
}
