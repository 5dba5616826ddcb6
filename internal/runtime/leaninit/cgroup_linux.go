package leaninit

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// cgroupMount is a cgroup v1 hierarchy as this process sees it mounted.
type cgroupMount struct {
	Mountpoint string
	Root       string
	Subsystems []string
}

// cgroupV1Mounts lists the v1 hierarchies this process is in, one mount
// each, in mountinfo's order, with its controllers ("name=" dropped) — the
// list libcontainer's cgroup mount binds (cgroups.GetCgroupMounts(false)) —
// and this process's cgroup in each controller (/proc/self/cgroup).
func cgroupV1Mounts() ([]cgroupMount, map[string]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, nil, err
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, nil, err
	}
	seen := make(map[string]bool, len(own))
	for s := range own {
		seen[s] = false
	}
	var out []cgroupMount
	found := 0
	for _, mi := range infos {
		m := cgroupMount{Mountpoint: mi.Mountpoint, Root: mi.Root}
		for _, opt := range strings.Split(mi.VFSOptions, ",") {
			if done, known := seen[opt]; !known || done {
				continue
			}
			seen[opt] = true
			m.Subsystems = append(m.Subsystems, strings.TrimPrefix(opt, "name="))
			found++
		}
		if len(m.Subsystems) > 0 {
			out = append(out, m)
		}
		if found >= len(seen) {
			break
		}
	}
	return out, own, nil
}

// ownCgroups reads /proc/self/cgroup: each controller's cgroup.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	own := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) < 3 {
			return nil, fmt.Errorf("invalid cgroup entry: must contain at least two colons: %v", sc.Text())
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own, sc.Err()
}

// ownCgroup is this process's cgroup in m's hierarchy.
func (m cgroupMount) ownCgroup(own map[string]string) (string, error) {
	if len(m.Subsystems) == 0 {
		return "", fmt.Errorf("no subsystem for mount %s", m.Mountpoint)
	}
	if p, ok := own[m.Subsystems[0]]; ok {
		return p, nil
	}
	if p, ok := own["name="+m.Subsystems[0]]; ok {
		return p, nil
	}
	return "", fmt.Errorf("mountpoint for %s not found", m.Subsystems[0])
}
