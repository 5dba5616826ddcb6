package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// sysInfo is what the host's cgroups can limit, read as dockerd's
// pkg/sysinfo reads it: create and update check a container's resources
// against it, and drop (with dockerd's warning) what the host cannot apply.
type sysInfo struct {
	cgroup2 bool

	memoryLimit, swapLimit, memoryReservation, oomKillDisable, memorySwappiness bool
	kernelMemory, kernelMemoryTCP                                               bool
	cpuShares, cpuCfs, cpuRealtime                                              bool
	cpuset                                                                      bool
	cpus, mems                                                                  string // what the root cpuset offers
	blkioWeight, blkioWeightDevice                                              bool
	blkioReadBps, blkioWriteBps, blkioReadIOps, blkioWriteIOps                  bool
	pidsLimit                                                                   bool
	cgroupNamespaces                                                            bool
}

var (
	sysInfoOnce sync.Once
	sysInfoVal  *sysInfo
)

// hostSysInfo probes the host once: the cgroup mounts do not change while
// the daemon runs.
func hostSysInfo() *sysInfo {
	sysInfoOnce.Do(func() { sysInfoVal = probeSysInfo("/sys/fs/cgroup") })
	return sysInfoVal
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

func probeSysInfo(root string) *sysInfo {
	si := &sysInfo{cgroupNamespaces: exists("/proc/self/ns/cgroup")}
	if exists(filepath.Join(root, "cgroup.controllers")) {
		si.cgroup2 = true
		ctrls := map[string]bool{}
		for _, c := range strings.Fields(readTrim(filepath.Join(root, "cgroup.controllers"))) {
			ctrls[c] = true
		}
		// The root cgroup has no interface files of the controllers; a
		// child's are known from the controller (dockerd's v2 sysinfo).
		si.memoryLimit, si.memoryReservation = ctrls["memory"], ctrls["memory"]
		si.swapLimit = ctrls["memory"] && swapLimitV2()
		si.cpuShares, si.cpuCfs = ctrls["cpu"], ctrls["cpu"]
		si.cpuset = ctrls["cpuset"]
		si.cpus = readTrim(filepath.Join(root, "cpuset.cpus.effective"))
		si.mems = readTrim(filepath.Join(root, "cpuset.mems.effective"))
		io := ctrls["io"]
		si.blkioWeight, si.blkioWeightDevice = io, io
		si.blkioReadBps, si.blkioWriteBps, si.blkioReadIOps, si.blkioWriteIOps = io, io, io, io
		si.pidsLimit = ctrls["pids"]
		return si
	}
	mounts := cgroup1Mounts()
	if m, ok := mounts["memory"]; ok {
		si.memoryLimit = true
		si.swapLimit = exists(filepath.Join(m, "memory.memsw.limit_in_bytes"))
		si.memoryReservation = exists(filepath.Join(m, "memory.soft_limit_in_bytes"))
		si.oomKillDisable = exists(filepath.Join(m, "memory.oom_control"))
		si.memorySwappiness = exists(filepath.Join(m, "memory.swappiness"))
		si.kernelMemory = exists(filepath.Join(m, "memory.kmem.limit_in_bytes"))
		si.kernelMemoryTCP = exists(filepath.Join(m, "memory.kmem.tcp.limit_in_bytes"))
	}
	if m, ok := mounts["cpu"]; ok {
		si.cpuShares = exists(filepath.Join(m, "cpu.shares"))
		si.cpuCfs = exists(filepath.Join(m, "cpu.cfs_quota_us"))
		si.cpuRealtime = exists(filepath.Join(m, "cpu.rt_period_us"))
	}
	if m, ok := mounts["cpuset"]; ok {
		si.cpuset = true
		si.cpus = readTrim(filepath.Join(m, "cpuset.cpus"))
		si.mems = readTrim(filepath.Join(m, "cpuset.mems"))
	}
	if m, ok := mounts["blkio"]; ok {
		si.blkioWeight = exists(filepath.Join(m, "blkio.weight"))
		si.blkioWeightDevice = exists(filepath.Join(m, "blkio.weight_device"))
		si.blkioReadBps = exists(filepath.Join(m, "blkio.throttle.read_bps_device"))
		si.blkioWriteBps = exists(filepath.Join(m, "blkio.throttle.write_bps_device"))
		si.blkioReadIOps = exists(filepath.Join(m, "blkio.throttle.read_iops_device"))
		si.blkioWriteIOps = exists(filepath.Join(m, "blkio.throttle.write_iops_device"))
	}
	_, si.pidsLimit = mounts["pids"]
	return si
}
