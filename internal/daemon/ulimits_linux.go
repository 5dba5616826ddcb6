package daemon

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// ulimitResources are the ulimit names Docker takes (`--ulimit nofile=…`).
var ulimitResources = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

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
		res, ok := ulimitResources[strings.ToLower(u.Name)]
		if !ok {
			continue
		}
		var host unix.Rlimit
		if unix.Getrlimit(res, &host) != nil || host.Max == unix.RLIM_INFINITY || uint64(u.Hard) <= host.Max {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("The %s hard limit %d is above the daemon's own (%d), which a container cannot exceed. %s limits set to soft %d, hard %d.",
			u.Name, u.Hard, host.Max, u.Name, min(uint64(u.Soft), host.Max), host.Max))
		u.Hard = int64(host.Max)
		u.Soft = min(u.Soft, u.Hard)
	}
	return warnings
}
