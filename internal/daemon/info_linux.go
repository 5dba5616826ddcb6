package daemon

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/runtime"
)

// readHostFacts reads what /info tells of the host, from the same files
// dockerd's pkg/sysinfo reads: the cgroup v1 hierarchies' interface files
// (or the v2 root's controllers), /proc/meminfo, /proc/sys/net, the LSMs.
func readHostFacts() hostFacts {
	f := hostFacts{cgroupDriver: "cgroupfs", cgroupVersion: "1"}
	si := hostSysInfo()
	if si.cgroup2 {
		f.cgroupVersion = "2"
	}
	cgroupFacts(&f, si)
	f.ipv4Forwarding = readProcBool("/proc/sys/net/ipv4/ip_forward")
	f.bridgeNfIptables = readProcBool("/proc/sys/net/bridge/bridge-nf-call-iptables")
	f.bridgeNfIp6tables = readProcBool("/proc/sys/net/bridge/bridge-nf-call-ip6tables")
	f.memTotal = memTotal()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.architecture = unix.ByteSliceToString(u.Machine[:])
	}
	f.osVersion = osRelease("VERSION_ID")
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		f.nfd = len(ents)
	}
	f.securityOptions = securityOptions(f.cgroupVersion == "2")
	if p, err := runtime.ShimPath(); err == nil {
		f.runtimePath = p
	}
	// The bridge driver's firewall is one nftables table (firewall_linux.go).
	f.firewall = &system.FirewallInfo{Driver: "nftables"}
	f.warnings = cgroupWarnings(f)
	if !f.ipv4Forwarding {
		f.warnings = append(f.warnings, "WARNING: IPv4 forwarding is disabled")
	}
	return f
}

// cgroupFacts copies what the host's cgroups can limit from the probe
// create and update check resources against (sysinfo_linux.go), so that
// /info and the checks never disagree.
func cgroupFacts(f *hostFacts, si *sysInfo) {
	f.memoryLimit, f.swapLimit, f.oomKillDisable = si.memoryLimit, si.swapLimit, si.oomKillDisable
	f.kernelMemory, f.kernelMemoryTCP = si.kernelMemory, si.kernelMemoryTCP
	f.cpuShares, f.cpuCfs, f.cpuset, f.pidsLimit = si.cpuShares, si.cpuCfs, si.cpuset, si.pidsLimit
	f.blkio = [4]bool{si.blkioReadBps, si.blkioWriteBps, si.blkioReadIOps, si.blkioWriteIOps}
	f.ioWeight = si.cgroup2 && si.blkioWeight // io.weight: a v2 warning only
}

// swapLimitV2: swap can be limited when this process's own cgroup has
// memory.swap.max (the root has none), as dockerd checks.
func swapLimitV2() bool {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if g, ok := strings.CutPrefix(line, "0::"); ok && g != "" {
			return exists(filepath.Join("/sys/fs/cgroup", g, "memory.swap.max"))
		}
	}
	return false
}

// cgroup1Mounts maps each cgroup v1 controller this process is in to the
// mount point of its hierarchy (the first one), from /proc/self/mountinfo.
func cgroup1Mounts() map[string]string {
	mine := map[string]bool{}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || parts[1] == "" {
				continue
			}
			for _, c := range strings.Split(parts[1], ",") {
				mine[strings.TrimPrefix(c, "name=")] = true
			}
		}
	}
	out := map[string]string{}
	fd, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	defer fd.Close()
	sc := bufio.NewScanner(fd)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 || fields[sep+1] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			opt = strings.TrimPrefix(opt, "name=")
			if _, seen := out[opt]; mine[opt] && !seen {
				out[opt] = fields[4]
			}
		}
	}
	return out
}

// cgroupWarnings are dockerd's warnings for what the host's cgroups lack.
func cgroupWarnings(f hostFacts) []string {
	var w []string
	add := func(ok bool, msg string) {
		if !ok {
			w = append(w, "WARNING: "+msg)
		}
	}
	v2 := f.cgroupVersion == "2"
	add(f.memoryLimit, "No memory limit support")
	add(f.swapLimit, "No swap limit support")
	// oom kill disable does not exist on v2: nothing to warn about there.
	add(f.oomKillDisable || v2, "No oom kill disable support")
	add(f.cpuCfs, "No cpu cfs quota support")
	add(f.cpuCfs, "No cpu cfs period support")
	add(f.cpuShares, "No cpu shares support")
	add(f.cpuset, "No cpuset support")
	if v2 {
		add(f.ioWeight, "No io.weight support")
		add(f.ioWeight, "No io.weight (per device) support")
		add(f.blkio[0], "No io.max (rbps) support")
		add(f.blkio[1], "No io.max (wbps) support")
		add(f.blkio[2], "No io.max (riops) support")
		add(f.blkio[3], "No io.max (wiops) support")
	} else {
		add(f.blkio[0], "No blkio throttle.read_bps_device support")
		add(f.blkio[1], "No blkio throttle.write_bps_device support")
		add(f.blkio[2], "No blkio throttle.read_iops_device support")
		add(f.blkio[3], "No blkio throttle.write_iops_device support")
	}
	return w
}

// securityOptions are /info's SecurityOptions as dockerd builds them for
// what hull applies: AppArmor when the host has it (hull loads no profile
// of its own, but the host's confinement applies), Docker's default
// seccomp profile (built in, runtime.DefaultSpec), SELinux when enabled,
// and a cgroup namespace of each container's own on a v2 host (Docker's
// default there, runtime.defaultCgroupns).
func securityOptions(cgroup2 bool) []string {
	var opts []string
	if exists("/sys/kernel/security/apparmor") {
		if _, err := os.ReadFile("/sys/kernel/security/apparmor/profiles"); err == nil {
			opts = append(opts, "name=apparmor")
		}
	}
	if seccompEnabled() {
		opts = append(opts, "name=seccomp,profile=builtin")
	}
	if exists("/sys/fs/selinux/enforce") {
		opts = append(opts, "name=selinux")
	}
	if cgroup2 && exists("/proc/self/ns/cgroup") {
		opts = append(opts, "name=cgroupns")
	}
	return opts
}

// seccompEnabled: the kernel has seccomp when /proc/self/status shows a
// Seccomp line (CONFIG_SECCOMP), as containerd's check.
func seccompEnabled() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	return strings.Contains(string(b), "\nSeccomp:")
}

// memTotal is /proc/meminfo's MemTotal in bytes.
func memTotal() int64 {
	fd, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer fd.Close()
	sc := bufio.NewScanner(fd)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// osRelease is a key of /etc/os-release (or /usr/lib/os-release).
func osRelease(key string) string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key+"="); ok {
				return strings.Trim(v, `"'`)
			}
		}
		return ""
	}
	return ""
}

func readProcBool(p string) bool {
	b, err := os.ReadFile(p)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
