package runtime

import (
	"os"
	"strconv"
	"strings"
)

// warmCgroupAttach starts, in the background, what the container's first
// cgroup attach would otherwise wait for. Moving a process between cgroups
// takes the kernel's cgroup threadgroup lock for writing, which first waits
// for an RCU grace period (5–10 ms here) unless another writer has held it
// within the last grace period. Creating a container attaches its init a
// few milliseconds after the shim starts; a no-op attach of this process to
// the cgroup it is already in, made now, runs that grace period while the
// shim starts and the spec is read, instead of after. Nothing changes if it
// fails (an unknown cgroup layout, no permission).
func warmCgroupAttach() {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || strings.Contains(parts[1], ",") {
			continue
		}
		dirs := []string{"/sys/fs/cgroup/" + strings.TrimPrefix(parts[1], "name=")}
		if parts[1] == "" {
			dirs = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}
		}
		for _, d := range dirs {
			f, err := os.OpenFile(d+parts[2]+"/cgroup.procs", os.O_WRONLY, 0)
			if err != nil {
				continue
			}
			_, err = f.Write(pid)
			f.Close()
			if err == nil {
				return
			}
		}
	}
}
