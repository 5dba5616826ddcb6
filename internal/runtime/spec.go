package runtime

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultPathEnv is the PATH a Linux container gets when its environment
// names none, as in Docker.
const DefaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// CgroupnsMode says whether a container gets a cgroup namespace of its own.
type CgroupnsMode string

// The cgroup namespace modes, spelled as Docker's --cgroupns flag.
const (
	// CgroupnsDefault lets DefaultSpec decide from the host as Docker does:
	// private on a cgroup v2 (unified) host, host on a v1 or hybrid one.
	CgroupnsDefault CgroupnsMode = ""
	CgroupnsHost    CgroupnsMode = "host"
	CgroupnsPrivate CgroupnsMode = "private"
)

// SpecOptions are the few things a caller of DefaultSpec chooses. The zero
// value asks for Docker's default container running "sh".
type SpecOptions struct {
	// Args is the command; default ["sh"] on Linux, ["cmd"] on Windows.
	Args []string
	// Terminal gives the process a TTY and, on Linux, TERM=xterm unless Env
	// names TERM.
	Terminal bool
	// RootPath is root.path, relative to the bundle or absolute; default
	// "rootfs" on Linux. On Windows it stays unset unless given: HCS works
	// from the layer folders, which the caller fills in.
	RootPath string
	// Readonly mounts the root filesystem read-only (docker run --read-only).
	Readonly bool
	// Hostname of the container; default "hull" on Linux, so that a
	// container never shows the host's name through its UTS namespace.
	Hostname string
	// Cwd is the working directory; default "/" on Linux, `C:\` on Windows.
	Cwd string
	// Env is the environment. On Linux the default PATH is added when Env
	// names no PATH, as Docker does for an image without one.
	Env []string
	// NoSeccomp leaves out the seccomp section (docker run --security-opt
	// seccomp=unconfined).
	NoSeccomp bool
	// NoNewPrivileges sets process.noNewPrivileges (docker run
	// --security-opt no-new-privileges). Docker's default is false.
	NoNewPrivileges bool
	// Cgroupns chooses the cgroup namespace (docker run --cgroupns).
	Cgroupns CgroupnsMode
}

// DefaultSpec returns the OCI runtime configuration of Docker's default
// container profile for this platform, with opts applied. On Linux that is
// moby's default spec plus what dockerd adds to every container: the 14
// default capabilities, the masked and read-only /proc and /sys paths, the
// device cgroup allowlist, the default network sysctls, a cgroup namespace
// where Docker would make one, and Docker's default seccomp profile. On
// Windows it is a Windows-shaped spec whose layer folders the caller fills.
//
// The result reads the host (cgroup version, sysctls, kernel version for the
// seccomp profile), so a spec written on one machine may differ on another.
func DefaultSpec(opts SpecOptions) (*specs.Spec, error) {
	if opts.Cgroupns != CgroupnsDefault && opts.Cgroupns != CgroupnsHost && opts.Cgroupns != CgroupnsPrivate {
		return nil, fmt.Errorf("cgroup namespace mode %q: use %q or %q: %w", opts.Cgroupns, CgroupnsHost, CgroupnsPrivate, errdefs.ErrInvalidArgument)
	}
	return defaultSpecImpl(opts)
}

// hostFacts are what the Linux default spec depends on besides the options;
// probeHost (spec_linux.go) reads them, tests fix them.
type hostFacts struct {
	// cgroup2 is true when /sys/fs/cgroup is the unified (v2) hierarchy.
	cgroup2 bool
	// sysctls lists the sysctls that exist on the host, among those
	// Docker sets by default (see defaultSysctls).
	sysctls []string
	// inUserNS is true when this process runs in a user namespace, where
	// net.ipv4.ping_group_range cannot be set.
	inUserNS bool
	// extraMaskedPaths are host paths Docker also masks when they exist: the
	// per-CPU thermal_throttle directories (GHSA-jq35-85cj-fj4p).
	extraMaskedPaths []string
}

// defaultCapabilities are the capabilities Docker grants a container that
// asks for none (moby's oci/caps), in Docker's order.
var defaultCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// defaultSysctls are the network sysctls dockerd sets in a container with a
// network namespace of its own (Docker ≥ 20.10): ping without CAP_NET_RAW
// and binding ports below 1024 without CAP_NET_BIND_SERVICE, which the
// default capabilities grant anyway. A caller that puts the container in the
// host's network namespace must delete them.
var defaultSysctls = map[string]string{
	"net.ipv4.ping_group_range":           "0 2147483647",
	"net.ipv4.ip_unprivileged_port_start": "0",
}

// defaultCgroupns is Docker's default cgroup namespace mode: private on a
// cgroup v2 host, the host's on v1 and hybrid hosts (where a private cgroup
// namespace breaks tools that read /proc/self/cgroup against v1 mounts).
func defaultCgroupns(cgroup2 bool) CgroupnsMode {
	if cgroup2 {
		return CgroupnsPrivate
	}
	return CgroupnsHost
}

// linuxSpec builds the Linux default spec, without its seccomp section, from
// the options and the host's facts. It is portable so that the document is
// golden-tested on any build host.
func linuxSpec(opts SpecOptions, host hostFacts) *specs.Spec {
	args := opts.Args
	if len(args) == 0 {
		args = []string{"sh"}
	}
	root := opts.RootPath
	if root == "" {
		root = "rootfs"
	}
	hostname := opts.Hostname
	if hostname == "" {
		hostname = "hull"
	}
	cwd := opts.Cwd
	if cwd == "" {
		cwd = "/"
	}
	env := slices.Clone(opts.Env)
	if !hasEnv(env, "PATH") {
		env = append([]string{DefaultPathEnv}, env...)
	}
	if opts.Terminal && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	// Docker sets the score to 0 explicitly, so that a container does not
	// inherit the daemon's (or shim's) protection from the OOM killer.
	oomScoreAdj := 0

	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: hostname,
		Root:     &specs.Root{Path: root, Readonly: opts.Readonly},
		Process: &specs.Process{
			Terminal: opts.Terminal,
			User:     specs.User{UID: 0, GID: 0},
			Args:     slices.Clone(args),
			Env:      env,
			Cwd:      cwd,
			// Docker ≥ 20.10 leaves the inheritable and ambient sets
			// empty, so that file capabilities cannot regain what the
			// container was not given (CVE-2022-24769).
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  slices.Clone(defaultCapabilities),
				Effective: slices.Clone(defaultCapabilities),
				Permitted: slices.Clone(defaultCapabilities),
			},
			NoNewPrivileges: opts.NoNewPrivileges,
			OOMScoreAdj:     &oomScoreAdj,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
			},
			MaskedPaths: append([]string{
				"/proc/asound",
				"/proc/acpi",
				"/proc/interrupts",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/proc/scsi",
				"/sys/firmware",
				"/sys/devices/virtual/powercap",
			}, host.extraMaskedPaths...),
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
			Resources: &specs.LinuxResources{Devices: defaultDeviceRules()},
		},
	}

	mode := opts.Cgroupns
	if mode == CgroupnsDefault {
		mode = defaultCgroupns(host.cgroup2)
	}
	if mode == CgroupnsPrivate {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}

	for _, name := range host.sysctls {
		value, ok := defaultSysctls[name]
		if !ok || (name == "net.ipv4.ping_group_range" && host.inUserNS) {
			continue
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		s.Linux.Sysctl[name] = value
	}
	return s
}

// defaultDeviceRules is Docker's device cgroup list: deny everything, then
// allow the character devices runc creates in /dev (null, zero, full,
// random, urandom, tty, console), and deny /dev/fuse explicitly.
//
// runc's libcontainer appends its own rules after these in every container
// and they cannot be turned off: mknod of any device (c *:* m, b *:* m),
// /dev/pts/* (c 136:*), /dev/ptmx (c 5:2) and /dev/net/tun (c 10:200). A
// runtime other than libcontainer must add those to behave like Docker.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	allow := func(major, minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}
	}
	fuseMajor, fuseMinor := int64(10), int64(229)
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		allow(1, 5), // /dev/zero
		allow(1, 3), // /dev/null
		allow(1, 9), // /dev/urandom
		allow(1, 8), // /dev/random
		allow(5, 0), // /dev/tty
		allow(5, 1), // /dev/console
		{Allow: false, Type: "c", Major: &fuseMajor, Minor: &fuseMinor, Access: "rwm"}, // /dev/fuse
	}
}

// windowsSpec builds the Windows default spec: a process in C:\ and an
// empty list of layer folders that the caller (the HCS backend) fills with
// the container's layers, scratch layer first. It is portable so that the
// document is golden-tested on Linux.
func windowsSpec(opts SpecOptions) *specs.Spec {
	args := opts.Args
	if len(args) == 0 {
		args = []string{"cmd"}
	}
	cwd := opts.Cwd
	if cwd == "" {
		cwd = `C:\`
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: opts.Hostname,
		Process: &specs.Process{
			Terminal: opts.Terminal,
			Args:     slices.Clone(args),
			Env:      slices.Clone(opts.Env),
			Cwd:      cwd,
		},
		Windows: &specs.Windows{LayerFolders: []string{}},
	}
	if opts.RootPath != "" {
		s.Root = &specs.Root{Path: opts.RootPath, Readonly: opts.Readonly}
	}
	return s
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// ValidateSpec checks the mistakes in a runtime configuration that would
// otherwise surface half-way through creating a container: a missing
// ociVersion, an empty process.args, a root.path (relative to bundle) that is
// not a directory, a capability name the kernel does not define, a relative
// mount destination, and a mount onto /proc that is not procfs. Each is
// reported as errdefs.ErrInvalidArgument naming the bad field and value.
// A Windows-shaped spec (s.Windows set) may leave root unset and is not held
// to the Linux mount rules.
//
// ValidateSpec reads the file system only to stat root.path; it does not
// prove that the runtime will accept everything else.
func ValidateSpec(s *specs.Spec, bundle string) error {
	if s == nil {
		return fmt.Errorf("runtime configuration is empty: %w", errdefs.ErrInvalidArgument)
	}
	if s.Version == "" {
		return fmt.Errorf("ociVersion is missing; set it to the runtime-spec version the document follows, such as %q: %w", specs.Version, errdefs.ErrInvalidArgument)
	}
	if !strings.HasPrefix(s.Version, "1.") {
		return fmt.Errorf("ociVersion %q is not a 1.x version of the runtime-spec, the only major version hull reads: %w", s.Version, errdefs.ErrInvalidArgument)
	}
	if err := validateProcess(s.Process); err != nil {
		return err
	}
	if err := validateRoot(s, bundle); err != nil {
		return err
	}
	if s.Windows == nil {
		for i, m := range s.Mounts {
			if err := validateLinuxMount(i, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	if p == nil {
		return fmt.Errorf("process is missing; give at least process.args, such as [\"sh\"]: %w", errdefs.ErrInvalidArgument)
	}
	if len(p.Args) == 0 && p.CommandLine == "" {
		return fmt.Errorf("process.args is empty; name the program to run, such as [\"sh\"]: %w", errdefs.ErrInvalidArgument)
	}
	if len(p.Args) > 0 && p.Args[0] == "" {
		return fmt.Errorf("process.args[0] is empty; it must name the program to run: %w", errdefs.ErrInvalidArgument)
	}
	if c := p.Capabilities; c != nil {
		sets := []struct {
			name string
			caps []string
		}{
			{"bounding", c.Bounding},
			{"effective", c.Effective},
			{"inheritable", c.Inheritable},
			{"permitted", c.Permitted},
			{"ambient", c.Ambient},
		}
		for _, set := range sets {
			for _, name := range set.caps {
				if err := validateCapability(set.name, name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func validateCapability(set, name string) error {
	if slices.Contains(knownCapabilities, name) {
		return nil
	}
	hint := "capability names are the kernel's, such as CAP_NET_ADMIN"
	canonical := strings.ToUpper(name)
	if !strings.HasPrefix(canonical, "CAP_") {
		canonical = "CAP_" + canonical
	}
	if slices.Contains(knownCapabilities, canonical) {
		hint = fmt.Sprintf("did you mean %s?", canonical)
	}
	return fmt.Errorf("process.capabilities.%s: unknown capability %q; %s: %w", set, name, hint, errdefs.ErrInvalidArgument)
}

func validateRoot(s *specs.Spec, bundle string) error {
	if s.Root == nil || s.Root.Path == "" {
		if s.Windows != nil {
			return nil // HCS builds the root from windows.layerFolders
		}
		return fmt.Errorf("root.path is missing; set it to the container's root filesystem, such as \"rootfs\" inside the bundle: %w", errdefs.ErrInvalidArgument)
	}
	dir := s.Root.Path
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(bundle, dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("root.path %q (%s) does not exist; create the root filesystem there or point root.path at it: %w", s.Root.Path, dir, errdefs.ErrInvalidArgument)
	case err != nil:
		return fmt.Errorf("root.path %q: %w: %w", s.Root.Path, errdefs.ErrInvalidArgument, err)
	case !fi.IsDir():
		return fmt.Errorf("root.path %q (%s) is not a directory; point it at the root filesystem's directory: %w", s.Root.Path, dir, errdefs.ErrInvalidArgument)
	}
	return nil
}

// procFiles are the files under /proc that may be mounted over, so that
// lxcfs can emulate them; runc allows the same set and refuses the rest.
var procFiles = []string{
	"/proc/cpuinfo",
	"/proc/diskstats",
	"/proc/meminfo",
	"/proc/stat",
	"/proc/swaps",
	"/proc/uptime",
	"/proc/loadavg",
	"/proc/slabinfo",
	"/proc/sys/kernel/ns_last_pid",
	"/proc/sys/crypto/fips_enabled",
}

func validateLinuxMount(i int, m specs.Mount) error {
	if m.Destination == "" {
		return fmt.Errorf("mounts[%d]: destination is missing: %w", i, errdefs.ErrInvalidArgument)
	}
	if !path.IsAbs(m.Destination) {
		return fmt.Errorf("mounts[%d]: destination %q is relative; use an absolute path inside the container, such as %q: %w", i, m.Destination, "/"+m.Destination, errdefs.ErrInvalidArgument)
	}
	dest := path.Clean(m.Destination)
	switch {
	case dest == "/proc":
		bind := slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") || m.Type == "bind"
		if m.Type == "proc" || (bind && path.Clean(m.Source) == "/proc") {
			return nil
		}
		return fmt.Errorf("mounts[%d]: destination /proc needs a procfs (type \"proc\", source \"proc\"), not type %q from %q; anything else would hide the container's processes or expose the host's: %w", i, m.Type, m.Source, errdefs.ErrInvalidArgument)
	case strings.HasPrefix(dest, "/proc/"):
		if slices.Contains(procFiles, dest) {
			return nil
		}
		return fmt.Errorf("mounts[%d]: destination %q is inside /proc, where only %s may be mounted over: %w", i, m.Destination, strings.Join(procFiles, ", "), errdefs.ErrInvalidArgument)
	}
	return nil
}

// knownCapabilities are the capability names the Linux kernel defines, in
// the kernel's numbering (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40, Linux
// 5.9 up to at least 6.18). spec_linux_test.go checks it against x/sys/unix.
// A name known here but missing from an older running kernel is dropped by
// libcontainer with a warning, so a spec stays portable between kernels.
var knownCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// WindowsSpec is the Windows-shaped OCI spec of opts on any OS (the
// daemon's Windows container flow builds on it; its windows section's layer
// folders and network are the caller's).
func WindowsSpec(opts SpecOptions) *specs.Spec { return windowsSpec(opts) }
