package daemon

import (
	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/filters"
)

// excludedByIsolation: Linux containers have no isolation to filter on;
// dockerd on Linux accepts the isolation filter and ignores it.
func excludedByIsolation(f filters.Args, h *container.HostConfig) bool { return false }
