package monitor

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// destroyStopped deletes a container whose init has been reaped without a
// helper process: it removes the container's cgroup folders (CgroupPaths)
// and libcontainer's state folder, what libcontainer's destroy does for a
// stopped container with its own pid namespace and nothing else to undo.
// The kernel may still be tearing down the namespace's last processes, so
// a busy cgroup is retried for a while. It returns false, having changed
// nothing that matters, when it cannot: the backend's destroy then does
// the whole job.
func (m *Monitor) destroyStopped() bool {
	if !m.cfg.DeleteStopped || len(m.cfg.CgroupPaths) == 0 || m.cfg.SharedPidNS {
		return false
	}
	if err := removeCgroups(m.cfg.CgroupPaths, time.Now().Add(2*time.Second)); err != nil {
		// Sub-cgroups, or processes that will not go: libcontainer's
		// destroy knows how to deal with them.
		slog.Info("delete: cgroup not removable here; the runtime's destroy takes over", "container", m.cfg.ID, "error", err)
		return false
	}
	if err := os.RemoveAll(filepath.Join(m.cfg.Root, "state", m.cfg.ID)); err != nil {
		slog.Warn("delete: remove the runtime state", "container", m.cfg.ID, "error", err)
		return false
	}
	return true
}
