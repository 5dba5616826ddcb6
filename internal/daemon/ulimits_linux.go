package daemon

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/runtime"
)

// fitUlimits answers a ulimit above the daemon's own hard limit as
// fitOOMScoreAdj answers an OOM score the host cannot give: the runtime
// lowers such a limit to the host's (raising one needs CAP_SYS_RESOURCE,
// which a host may not grant; dockerd fails such a start with a 500), so
// the create says so in its warnings, never quietly, and the container's
// HostConfig holds the limits it gets.
func fitUlimits(h *container.HostConfig) []string {
	var warnings []string
	for _, u := range h.Ulimits {
		if u == nil || u.Soft > u.Hard || u.Hard < 0 {
			continue // refused elsewhere
		}
		max, ok := runtime.HostRlimitMax("RLIMIT_" + strings.ToUpper(u.Name))
		if !ok || max == unix.RLIM_INFINITY || uint64(u.Hard) <= max {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("The %s hard limit %d is above the daemon's own (%d), which a container cannot exceed. %s limits set to soft %d, hard %d.",
			u.Name, u.Hard, max, u.Name, min(uint64(u.Soft), max), max))
		u.Hard = int64(max)
		u.Soft = min(u.Soft, u.Hard)
	}
	return warnings
}
