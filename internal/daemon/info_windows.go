package daemon

import (
	goruntime "runtime"

	"github.com/moby/moby/api/types/container"
)

// readHostFacts is what /info tells of a Windows host: no cgroups; the
// containers are HCS compute systems, process-isolated.
func readHostFacts() hostFacts {
	return hostFacts{
		architecture:   goruntime.GOARCH,
		isolation:      container.IsolationProcess,
		ipv4Forwarding: true,
		memTotal:       int64(hostMemory()),
	}
}
