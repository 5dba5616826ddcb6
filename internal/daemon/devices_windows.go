package daemon

import (
	"fmt"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyDevices: Windows containers' devices (class GUIDs) arrive with the
// HCS document (issue 7).
func applyDevices(s *specs.Spec, h *container.HostConfig) error {
	if len(h.Devices) > 0 || len(h.DeviceCgroupRules) > 0 {
		return fmt.Errorf("devices of Windows containers are not supported by hull yet: %w", errdefs.ErrNotImplemented)
	}
	return nil
}
