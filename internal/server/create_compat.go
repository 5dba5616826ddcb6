package server

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/hullproject/hull/internal/errdefs"
)

// adaptCreate is what dockerd's create route changes or refuses by the
// request's API version before the daemon sees the request: fields a
// version did not have are ignored, older clients get the defaults they
// expect (a shareable IPC namespace below 1.40), options that belong to
// another mount type are refused from 1.42.
func adaptCreate(version string, cfg *container.Config, h *container.HostConfig) error {
	if cfg == nil || h == nil {
		return nil
	}
	if versionLess(version, "1.25") {
		h.AutoRemove = false
	}
	if versionLess(version, "1.40") {
		for _, m := range h.Mounts {
			if m.BindOptions != nil {
				m.BindOptions.NonRecursive = false
			}
		}
		if h.IpcMode == "" {
			h.IpcMode = container.IPCModeShareable
		}
	}
	if versionLess(version, "1.42") {
		for i := range h.Mounts {
			m := &h.Mounts[i]
			if m.BindOptions != nil {
				m.BindOptions.CreateMountpoint = false
			}
			// VolumeOptions on another type is refused, as dockerd 20.10
			// (API 1.41) refused it; a later dockerd drops it below 1.42.
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				m.TmpfsOptions = nil
			}
		}
	} else {
		for _, m := range h.Mounts {
			if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
				return fmt.Errorf("VolumeOptions must not be specified on mount type %q: %w", m.Type, errdefs.ErrInvalidArgument)
			}
			if m.BindOptions != nil && m.Type != mount.TypeBind {
				return fmt.Errorf("BindOptions must not be specified on mount type %q: %w", m.Type, errdefs.ErrInvalidArgument)
			}
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				return fmt.Errorf("TmpfsOptions must not be specified on mount type %q: %w", m.Type, errdefs.ErrInvalidArgument)
			}
		}
	}
	if versionLess(version, "1.43") {
		h.Annotations = nil
	}
	if versionLess(version, "1.44") {
		if cfg.Healthcheck != nil {
			cfg.Healthcheck.StartInterval = 0
		}
		for _, m := range h.Mounts {
			if m.Type == mount.TypeBind && m.BindOptions != nil && m.BindOptions.ReadOnlyForceRecursive {
				return fmt.Errorf("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer: %w", errdefs.ErrInvalidArgument)
			}
		}
	}
	if versionLess(version, "1.45") {
		for _, m := range h.Mounts {
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				return fmt.Errorf("VolumeOptions.Subpath needs API v1.45 or newer: %w", errdefs.ErrInvalidArgument)
			}
		}
	}
	if versionLess(version, "1.48") {
		for _, m := range h.Mounts {
			if m.Type == mount.TypeImage {
				return fmt.Errorf(`Mount type "Image" needs API v1.48 or newer: %w`, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// adaptUpdate: a PidsLimit in an update below 1.40 is ignored.
func adaptUpdate(version string, u *container.UpdateConfig) {
	if versionLess(version, "1.40") {
		u.PidsLimit = nil
	}
}
