package runtime

// Reading and checking a bundle's config.json, and turning it into
// libcontainer's configuration. Every refusal here is InvalidArgument with
// a sentence a person can act on; what the host cannot give (capabilities
// outside its bounding set, rlimits above its hard limits, an oom_score_adj
// below its own) is reduced with a warning instead.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// loadSpec reads bundle/config.json and checks what libcontainer would
// otherwise refuse late (in the container's init) or not at all. It returns
// the warnings of what it reduced to fit the host.
func loadSpec(bundle string) (*specs.Spec, string, []string, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil, invalid("bundle %s has no config.json", bundle)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("read config.json of %s: %w", bundle, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, "", nil, invalid("%s: not a valid OCI config: %v", filepath.Join(bundle, "config.json"), err)
	}
	if err := ValidateSpec(&spec, bundle); err != nil {
		return nil, "", nil, fmt.Errorf("config.json of %s: %w", bundle, err)
	}
	if spec.Process.Cwd == "" || !path.IsAbs(spec.Process.Cwd) {
		return nil, "", nil, invalid("config.json of %s: process.cwd %q must be an absolute path", bundle, spec.Process.Cwd)
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	var warnings []string
	fitLegacy(&spec, &warnings)
	if err := fitCapabilities(spec.Process.Capabilities, &warnings); err != nil {
		return nil, "", nil, invalid("config.json of %s: %v", bundle, err)
	}
	if err := fitRlimits(spec.Process.Rlimits, &warnings); err != nil {
		return nil, "", nil, invalid("config.json of %s: %v", bundle, err)
	}
	fitOOMScoreAdj(spec.Process, &warnings)
	return &spec, rootfs, warnings, nil
}

// fitLegacy accepts, with a warning, two things runc 1.1 took silently and
// libcontainer now refuses: a major:minor on a FIFO device (a FIFO has
// none), and data options ("mode=755") on a bind mount, which a bind
// cannot take.
func fitLegacy(spec *specs.Spec, warnings *[]string) {
	if spec.Linux != nil {
		for i := range spec.Linux.Devices {
			d := &spec.Linux.Devices[i]
			if d.Type == "p" && (d.Major != 0 || d.Minor != 0) {
				*warnings = append(*warnings, fmt.Sprintf("device %s: a FIFO has no major:minor; %d:%d ignored", d.Path, d.Major, d.Minor))
				d.Major, d.Minor = 0, 0
			}
		}
	}
	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			continue
		}
		kept := m.Options[:0:0]
		for _, o := range m.Options {
			if strings.Contains(o, "=") {
				*warnings = append(*warnings, fmt.Sprintf("mount %s: a bind mount takes no data option; %q ignored", m.Destination, o))
				continue
			}
			kept = append(kept, o)
		}
		m.Options = kept
	}
}

// knownCaps maps "CAP_CHOWN" to its number, for every capability this
// library knows.
func knownCaps() map[string]capability.Cap { return capsByName(capability.ListKnown()) }

// supportedCaps is knownCaps of the capabilities this host supports, as
// libcontainer's own table has them.
var supportedCaps = sync.OnceValue(func() map[string]capability.Cap {
	list, _ := capability.ListSupported()
	return capsByName(list)
})

// capsByName maps the names libcontainer's configuration gives the
// capabilities in list ("CAP_…") to their numbers.
func capsByName(list []capability.Cap) map[string]capability.Cap {
	m := make(map[string]capability.Cap, len(list))
	for _, c := range list {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}

// hostBounding reads the bounding set of this process.
func hostBounding() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapBnd in /proc/self/status")
}

// fitCapabilities refuses unknown capability names and drops, with a
// warning, those outside the host's bounding set (which no process here
// can have).
func fitCapabilities(caps *specs.LinuxCapabilities, warnings *[]string) error {
	if caps == nil {
		return nil
	}
	known := knownCaps()
	bnd, err := hostBounding()
	if err != nil {
		return err
	}
	dropped := map[string]bool{}
	fit := func(list []string) ([]string, error) {
		out := list[:0:0]
		for _, name := range list {
			c, ok := known[strings.ToUpper(name)]
			if !ok {
				return nil, fmt.Errorf("unknown capability %q", name)
			}
			if bnd&(1<<uint(c)) == 0 {
				dropped[strings.ToUpper(name)] = true
				continue
			}
			out = append(out, name)
		}
		return out, nil
	}
	for _, l := range []*[]string{&caps.Bounding, &caps.Effective, &caps.Permitted, &caps.Inheritable, &caps.Ambient} {
		v, err := fit(*l)
		if err != nil {
			return err
		}
		*l = v
	}
	for name := range dropped {
		*warnings = append(*warnings, fmt.Sprintf("capability %s is not in the host's bounding set; the container runs without it", name))
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// HostRlimitMax is this process's hard limit of the rlimit typ
// ("RLIMIT_NOFILE"), the most a container's can be: fitRlimits lowers a
// higher one to it. ok is false for an unknown type or a limit that cannot
// be read.
func HostRlimitMax(typ string) (max uint64, ok bool) {
	res, known := rlimitNames[typ]
	var host unix.Rlimit
	if !known || unix.Getrlimit(res, &host) != nil {
		return 0, false
	}
	return host.Max, true
}

// fitRlimits clamps limits above the host's hard limit to it: raising a
// hard limit needs CAP_SYS_RESOURCE, which this host may not grant.
func fitRlimits(limits []specs.POSIXRlimit, warnings *[]string) error {
	for i := range limits {
		l := &limits[i]
		if _, ok := rlimitNames[l.Type]; !ok {
			return fmt.Errorf("unknown rlimit %q", l.Type)
		}
		if l.Soft > l.Hard {
			return fmt.Errorf("rlimit %s: soft limit %d above hard limit %d", l.Type, l.Soft, l.Hard)
		}
		if max, ok := HostRlimitMax(l.Type); ok && l.Hard > max {
			*warnings = append(*warnings, fmt.Sprintf("rlimit %s: hard limit %d is above the host's %d; clamped", l.Type, l.Hard, max))
			l.Hard = max
			l.Soft = min(l.Soft, max)
		}
	}
	return nil
}

// fitOOMScoreAdj raises an oom_score_adj below what this process can give
// (OOMScoreAdjFloor): lowering it needs CAP_SYS_RESOURCE.
func fitOOMScoreAdj(p *specs.Process, warnings *[]string) {
	if p.OOMScoreAdj == nil {
		return
	}
	floor, limited := OOMScoreAdjFloor()
	if !limited || *p.OOMScoreAdj >= floor {
		return
	}
	*warnings = append(*warnings, fmt.Sprintf("oom_score_adj %d is below the runtime's own %d; raised to it", *p.OOMScoreAdj, floor))
	v := floor
	p.OOMScoreAdj = &v
}

// libcontainerConfig converts spec; the caller's working folder must be
// the bundle (specconv resolves relative paths against it).
func libcontainerConfig(id string, spec *specs.Spec, noPivot bool) (*configs.Config, error) {
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:  id,
		NoPivotRoot: noPivot,
		Spec:        spec,
	})
	if err != nil {
		return nil, invalid("config.json: %v", err)
	}
	// The container dies with its shim: nothing else could reap it.
	cfg.ParentDeathSignal = int(unix.SIGKILL)
	return cfg, nil
}

// newProcess turns an OCI process into libcontainer's.
func newProcess(p *specs.Process) (*libcontainer.Process, error) {
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		NoNewPrivileges: &p.NoNewPrivileges,
		AppArmorProfile: p.ApparmorProfile,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
	}
	if p.ConsoleSize != nil {
		lp.ConsoleWidth, lp.ConsoleHeight = uint16(p.ConsoleSize.Width), uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable,
			Permitted: c.Permitted, Ambient: c.Ambient,
		}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, l := range p.Rlimits {
		res, ok := rlimitNames[l.Type]
		if !ok {
			return nil, invalid("unknown rlimit %q", l.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: res, Hard: l.Hard, Soft: l.Soft})
	}
	aff, err := configs.ConvertCPUAffinity(p.ExecCPUAffinity)
	if err != nil {
		return nil, invalid("process.execCPUAffinity: %v", err)
	}
	lp.CPUAffinity = aff
	return lp, nil
}

// applyResources copies the resources `update` may change onto the cgroup
// configuration.
func applyResources(r *cgroups.Resources, res *specs.LinuxResources) {
	if m := res.Memory; m != nil {
		if m.Limit != nil {
			r.Memory = *m.Limit
		}
		if m.Reservation != nil {
			r.MemoryReservation = *m.Reservation
		}
		if m.Swap != nil {
			r.MemorySwap = *m.Swap
		}
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil {
			r.CpuShares = *c.Shares
		}
		if c.Quota != nil {
			r.CpuQuota = *c.Quota
		}
		if c.Period != nil {
			r.CpuPeriod = *c.Period
		}
		if c.Cpus != "" {
			r.CpusetCpus = c.Cpus
		}
		if c.Mems != "" {
			r.CpusetMems = c.Mems
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		r.PidsLimit = p.Limit
	}
	if b := res.BlockIO; b != nil && b.Weight != nil {
		r.BlkioWeight = *b.Weight
	}
}

// takeRlimit removes the limit of type res from limits and returns it.
//
// The shim applies RLIMIT_AS itself, once the init has been created: the
// init is a Go program that reserves more than a gigabyte of address space
// and compiles the seccomp filter after libcontainer has set the limits, so
// a low RLIMIT_AS made that compilation fail ("cannot allocate memory").
// Set after create, the limit holds from the execve of the user's process
// on, as the spec asks.
func takeRlimit(limits *[]configs.Rlimit, res int) *configs.Rlimit {
	for i, l := range *limits {
		if l.Type == res {
			*limits = append((*limits)[:i], (*limits)[i+1:]...)
			return &l
		}
	}
	return nil
}
