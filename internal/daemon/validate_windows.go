package daemon

import "github.com/moby/moby/api/types/container"

// validateRealtime: Windows has no real-time CPU scheduler (runconfig's
// Windows check).
func validateRealtime(h *container.HostConfig) error {
	if h.CPURealtimePeriod != 0 || h.CPURealtimeRuntime != 0 {
		return invalid("Windows does not support CPU real-time scheduler")
	}
	return nil
}

// verifyPlatformSettings: the HCS document (issue 7) takes the Windows
// resources; nothing is checked here yet beyond the portable checks.
func verifyPlatformSettings(h *container.HostConfig, update bool) ([]string, error) {
	return nil, nil
}

// capName: Windows containers have no Linux capabilities; the names are
// not checked.
func capName(c string) (string, error) { return normalCapName(c), nil }

// defaultCgroupnsMode: Windows has no cgroups; dockerd leaves it empty.
func defaultCgroupnsMode(privileged bool) container.CgroupnsMode { return "" }
