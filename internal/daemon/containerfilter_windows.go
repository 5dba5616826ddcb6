package daemon

import (
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/filters"
)

// excludedByIsolation applies the isolation filter (process, hyperv,
// default) as dockerd on Windows does.
func excludedByIsolation(f filters.Args, h *container.HostConfig) bool {
	i := "default"
	if h != nil && h.Isolation != "" {
		i = strings.ToLower(string(h.Isolation))
	}
	return !f.Match("isolation", i)
}
