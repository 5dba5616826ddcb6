package runtime

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func defaultSpecImpl(opts SpecOptions) (*specs.Spec, error) {
	s := linuxSpec(opts, probeHost())
	if !opts.NoSeccomp {
		if err := withDefaultSeccomp(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// withDefaultSeccomp sets s.Linux.Seccomp to Docker's default profile,
// resolved for this architecture, the host's kernel version and the
// capabilities in s.Process.Capabilities.Bounding (the profile allows, for
// instance, the mount family only with CAP_SYS_ADMIN). Preconditions: the
// capabilities are final; a caller that changes them afterwards must call it
// again. moby/profiles/seccomp is pure Go: this needs neither cgo nor
// libseccomp, which only the runtime needs when it loads the filter.
func withDefaultSeccomp(s *specs.Spec) error {
	profile, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return fmt.Errorf("resolve Docker's default seccomp profile: %w", err)
	}
	s.Linux.Seccomp = profile
	return nil
}

// probeHost reads the host facts the default spec depends on. It does not
// fail: a fact it cannot read takes the value of a cgroup v1 host without
// the optional paths, which is the conservative choice.
func probeHost() hostFacts {
	var h hostFacts
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil {
		h.cgroup2 = st.Type == unix.CGROUP2_SUPER_MAGIC
	}
	for _, name := range slices.Sorted(maps.Keys(defaultSysctls)) {
		if _, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))); err == nil {
			h.sysctls = append(h.sysctls, name)
		}
	}
	h.inUserNS = inUserNS()
	h.extraMaskedPaths = thermalThrottlePaths()
	return h
}

// inUserNS reports whether this process is in a user namespace: outside
// one, /proc/self/uid_map maps all 2^32-1 ids onto themselves.
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(bytes.TrimSpace(b)))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// thermalThrottlePaths lists /sys/devices/system/cpu/cpuN/thermal_throttle
// for each CPU that has one, in CPU order, as Docker masks them.
func thermalThrottlePaths() []string {
	matches, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle")
	cpu := func(p string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "cpu"))
		return n
	}
	slices.SortFunc(matches, func(a, b string) int { return cpu(a) - cpu(b) })
	return matches
}
