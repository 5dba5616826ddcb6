package runtime

import (
	"fmt"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fscommon"
)

// oomKills reads the oom_kill counter of the container's memory cgroup:
// memory.events on cgroup v2, memory.oom_control on v1 (kernel 4.13 on).
// The cgroup outlives the init's exit until destroy.
func (s *shim) oomKills() (uint64, error) {
	st, err := s.c.State()
	if err != nil {
		return 0, conflict("oomkills", s.id, err)
	}
	path, file := st.CgroupPaths["memory"], "memory.oom_control"
	if cgroups.IsCgroup2UnifiedMode() {
		path, file = st.CgroupPaths[""], "memory.events"
	}
	if path == "" {
		return 0, fmt.Errorf("oomkills %s: no memory cgroup", s.id)
	}
	n, err := fscommon.GetValueByKey(path, file, "oom_kill")
	if err != nil {
		return 0, fmt.Errorf("oomkills %s: %w", s.id, err)
	}
	return n, nil
}
