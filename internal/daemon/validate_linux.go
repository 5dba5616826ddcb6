package daemon

import (
	"fmt"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
)

// linuxMinMemory is dockerd's smallest memory limit (6 MiB).
const linuxMinMemory = 6 << 20

// validateRealtime is runconfig's validateResources.
func validateRealtime(h *container.HostConfig) error {
	if (h.CPURealtimePeriod != 0 || h.CPURealtimeRuntime != 0) && !hostSysInfo().cpuRealtime {
		return invalid("Your kernel does not support CPU real-time scheduler")
	}
	// Negative values reach the kernel, which refuses them at start (a 500
	// in dockerd): the caller's mistake, said at create.
	if h.CPURealtimePeriod < 0 {
		return invalid("invalid CPU real-time period %d: it cannot be negative", h.CPURealtimePeriod)
	}
	if h.CPURealtimeRuntime < 0 {
		return invalid("invalid CPU real-time runtime %d: it cannot be negative", h.CPURealtimeRuntime)
	}
	if h.CPURealtimePeriod != 0 && h.CPURealtimeRuntime != 0 && h.CPURealtimeRuntime > h.CPURealtimePeriod {
		return invalid("cpu real-time runtime cannot be higher than cpu real-time period")
	}
	return nil
}

// verifyPlatformSettings is dockerd's verifyPlatformContainerSettings: the
// resources against what the host's cgroups can do (dropping, with a
// warning, what they cannot), shm size, OOM score (raised, with a warning,
// to what the host can give), sysctls, runtime, tmpfs destinations, cgroup
// namespace mode.
func verifyPlatformSettings(h *container.HostConfig, update bool) ([]string, error) {
	if h == nil {
		return nil, nil
	}
	warnings, err := verifyResources(&h.Resources, hostSysInfo(), update)
	if err != nil {
		return warnings, err
	}
	if h.ShmSize < 0 {
		return warnings, invalid("SHM size can not be less than 0")
	}
	if h.OomScoreAdj < -1000 || h.OomScoreAdj > 1000 {
		return warnings, invalid("Invalid value %d, range for oom score adj is [-1000, 1000]", h.OomScoreAdj)
	}
	if !update {
		warnings = append(warnings, fitOOMScoreAdj(h)...)
		warnings = append(warnings, fitUlimits(h)...)
		if err := validateSysctls(h); err != nil {
			return warnings, err
		}
	}
	if h.NetworkMode.IsHost() && len(h.PortBindings) > 0 {
		warnings = append(warnings, "Published ports are discarded when using host network mode")
	}
	if h.Runtime != "" && !knownRuntimes[h.Runtime] {
		return warnings, invalid("Unknown runtime specified %s", h.Runtime)
	}
	for dest, opts := range h.Tmpfs {
		if err := validateTmpfsDestination(dest); err != nil {
			return warnings, err
		}
		if err := validateTmpfsOptions(dest, opts); err != nil {
			return warnings, err
		}
	}
	if !h.CgroupnsMode.Valid() {
		return warnings, invalid("invalid cgroup namespace mode: %v", h.CgroupnsMode)
	}
	if h.CgroupnsMode.IsPrivate() && !hostSysInfo().cgroupNamespaces {
		warnings = append(warnings, "Your kernel does not support cgroup namespaces.  Cgroup namespace setting discarded.")
	}
	return warnings, nil
}

// verifyResources is dockerd's verifyPlatformContainerResources, texts
// word for word.
func verifyResources(r *container.Resources, si *sysInfo, update bool) (warnings []string, err error) {
	if r.MemorySwappiness != nil && *r.MemorySwappiness == -1 {
		r.MemorySwappiness = nil
	}
	if r.Memory != 0 && r.Memory < linuxMinMemory {
		return warnings, invalid("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && !si.memoryLimit {
		warnings = append(warnings, "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.Memory, r.MemorySwap = 0, -1
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !si.swapLimit {
		warnings = append(warnings, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return warnings, invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.Memory == 0 && r.MemorySwap > 0 && !update {
		return warnings, invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwappiness != nil && !si.memorySwappiness {
		warnings = append(warnings, "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
		r.MemorySwappiness = nil
	}
	if r.MemorySwappiness != nil {
		if s := *r.MemorySwappiness; s < 0 || s > 100 {
			return warnings, invalid("Invalid value: %v, valid memory swappiness range is 0-100", s)
		}
	}
	if r.MemoryReservation > 0 && !si.memoryReservation {
		warnings = append(warnings, "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.MemoryReservation = 0
	}
	if r.MemoryReservation > 0 && r.MemoryReservation < linuxMinMemory {
		return warnings, invalid("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return warnings, invalid("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.OomKillDisable != nil && !si.oomKillDisable {
		if *r.OomKillDisable {
			warnings = append(warnings, "Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		}
		r.OomKillDisable = nil
	}
	if r.OomKillDisable != nil && *r.OomKillDisable && r.Memory == 0 {
		warnings = append(warnings, "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.")
	}
	if r.PidsLimit != nil && !si.pidsLimit {
		if *r.PidsLimit > 0 {
			warnings = append(warnings, "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.")
		}
		r.PidsLimit = nil
	}

	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return warnings, invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return warnings, invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if r.NanoCPUs > 0 && !si.cpuCfs {
		return warnings, invalid("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
	}
	if n := goruntime.NumCPU(); r.NanoCPUs < 0 || r.NanoCPUs > int64(n)*1e9 {
		return warnings, invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	if r.CPUShares < 0 && si.cpuShares {
		// moby 23 and later (runconfig validateResources); 20.10 failed
		// the start with 500 "shares: invalid argument".
		return warnings, invalid("invalid CPU shares (%d): value must be a positive integer", r.CPUShares)
	}
	if r.CPUShares > 0 && !si.cpuShares {
		warnings = append(warnings, "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
		r.CPUShares = 0
	}
	if (r.CPUPeriod != 0 || r.CPUQuota != 0) && !si.cpuCfs {
		warnings = append(warnings, "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
		r.CPUPeriod, r.CPUQuota = 0, 0
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return warnings, invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return warnings, invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPUPercent > 0 {
		warnings = append(warnings, fmt.Sprintf("%s does not support CPU percent. Percent discarded.", osType))
		r.CPUPercent = 0
	}

	if (r.CpusetCpus != "" || r.CpusetMems != "") && !si.cpuset {
		warnings = append(warnings, "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
		r.CpusetCpus, r.CpusetMems = "", ""
	}
	ok, err := listIsSubset(r.CpusetCpus, si.cpus)
	if err != nil {
		return warnings, invalid("Invalid value %s for cpuset cpus: %v", r.CpusetCpus, err)
	}
	if !ok {
		return warnings, invalid("Requested CPUs are not available - requested %s, available: %s", r.CpusetCpus, si.cpus)
	}
	ok, err = listIsSubset(r.CpusetMems, si.mems)
	if err != nil {
		return warnings, invalid("Invalid value %s for cpuset mems: %v", r.CpusetMems, err)
	}
	if !ok {
		return warnings, invalid("Requested memory nodes are not available - requested %s, available: %s", r.CpusetMems, si.mems)
	}

	if r.BlkioWeight > 0 && !si.blkioWeight {
		warnings = append(warnings, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return warnings, invalid("Range of blkio weight is from 10 to 1000")
	}
	if r.IOMaximumBandwidth != 0 || r.IOMaximumIOps != 0 {
		return warnings, invalid("Invalid QoS settings: %s does not support Maximum IO Bandwidth or Maximum IO IOps", osType)
	}
	if len(r.BlkioWeightDevice) > 0 && !si.blkioWeightDevice {
		warnings = append(warnings, "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.")
		r.BlkioWeightDevice = []*blkiodev.WeightDevice{}
	}
	if len(r.BlkioDeviceReadBps) > 0 && !si.blkioReadBps {
		warnings = append(warnings, "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.")
		r.BlkioDeviceReadBps = []*blkiodev.ThrottleDevice{}
	}
	if len(r.BlkioDeviceWriteBps) > 0 && !si.blkioWriteBps {
		warnings = append(warnings, "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.")
		r.BlkioDeviceWriteBps = []*blkiodev.ThrottleDevice{}
	}
	if len(r.BlkioDeviceReadIOps) > 0 && !si.blkioReadIOps {
		warnings = append(warnings, "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.")
		r.BlkioDeviceReadIOps = []*blkiodev.ThrottleDevice{}
	}
	if len(r.BlkioDeviceWriteIOps) > 0 && !si.blkioWriteIOps {
		warnings = append(warnings, "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.")
		r.BlkioDeviceWriteIOps = []*blkiodev.ThrottleDevice{}
	}
	return warnings, nil
}

// listIsSubset says whether the cpuset list req (moby's parseUintList
// format: "0-2,4") names only members of the host's list avail, as
// dockerd's isCpusetListAvailable: the request may name no number above
// 8192 (or the host's highest, when larger), so that a range such as
// 1-9223372036854775807 is refused before it is expanded (CVE-2018-20699).
func listIsSubset(req, avail string) (bool, error) {
	have, err := parseUintList(avail, 0)
	if err != nil {
		return false, err
	}
	maxCPUs := 8192
	for n := range have {
		maxCPUs = max(maxCPUs, n)
	}
	want, err := parseUintList(req, maxCPUs)
	if err != nil {
		return false, err
	}
	for n := range want {
		if !have[n] {
			return false, nil
		}
	}
	return true, nil
}

// parseUintList reads a cgroup cpuset list ("7", "1-6", "0,3-4,7"),
// refusing numbers above maximum unless it is 0, in dockerd's words.
func parseUintList(val string, maximum int) (map[int]bool, error) {
	out := map[int]bool{}
	if val == "" {
		return out, nil
	}
	errFormat := fmt.Errorf("invalid format: %s", val)
	for _, r := range strings.Split(val, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, errFormat
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, errFormat
			}
		}
		if maximum != 0 && b > maximum {
			return nil, fmt.Errorf("value of out range, maximum is %d", maximum)
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// defaultCgroupnsMode is dockerd's default cgroup namespace mode: private
// on a cgroup v2 host, the host's on v1 (and always the host's for a
// privileged container there).
func defaultCgroupnsMode(privileged bool) container.CgroupnsMode {
	if hostSysInfo().cgroup2 {
		return container.CgroupnsModePrivate
	}
	return container.CgroupnsModeHost
}
