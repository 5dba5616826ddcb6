package daemon

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// CgroupSample: Windows has no cgroups.
func (d *Daemon) CgroupSample(ctx context.Context, cgroupPath string) (container.StatsResponse, error) {
	return container.StatsResponse{}, fmt.Errorf("cgroup %s: there are no cgroups on Windows: %w", cgroupPath, errdefs.ErrNotImplemented)
}
