package daemon

import (
	"fmt"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyHost applies the HostConfig fields hull supports so far: network
// mode none/host (user networks and the bridge arrive with the network
// service: until then a container gets a network namespace of its own with
// loopback only), the cgroup resources (resources.go), capabilities,
// privileged.
func applyHost(s *specs.Spec, h *container.HostConfig) error {
	if h.NetworkMode == "host" {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
		for k := range s.Linux.Sysctl {
			if strings.HasPrefix(k, "net.") {
				delete(s.Linux.Sysctl, k)
			}
		}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	res := s.Linux.Resources
	lr, err := linuxResources(h.Resources, false)
	if err != nil {
		return err
	}
	res.Memory, res.CPU, res.BlockIO, res.Pids = lr.Memory, lr.CPU, lr.BlockIO, lr.Pids
	caps := s.Process.Capabilities
	if h.Privileged {
		all := allCapabilities()
		caps.Bounding, caps.Effective, caps.Permitted = all, all, all
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Linux.Seccomp = nil, nil, nil
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range s.Mounts {
			if m.Destination == "/sys" {
				s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
		return nil
	}
	set := slices.Clone(caps.Bounding)
	for _, c := range h.CapAdd {
		name, err := capName(c)
		if err != nil {
			return err
		}
		if name == "ALL" {
			set = allCapabilities()
			continue
		}
		if !slices.Contains(set, name) {
			set = append(set, name)
		}
	}
	for _, c := range h.CapDrop {
		name, err := capName(c)
		if err != nil {
			return err
		}
		if name == "ALL" {
			set = nil
			continue
		}
		set = slices.DeleteFunc(set, func(x string) bool { return x == name })
	}
	caps.Bounding, caps.Effective, caps.Permitted = set, slices.Clone(set), slices.Clone(set)
	return nil
}

var capNames = func() []string {
	var out []string
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if n := capabilityName(c); n != "" {
			out = append(out, n)
		}
	}
	return out
}()

func allCapabilities() []string { return slices.Clone(capNames) }

func capName(c string) (string, error) {
	u := strings.ToUpper(c)
	if u == "ALL" {
		return u, nil
	}
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	if !slices.Contains(capNames, u) {
		return "", fmt.Errorf("unknown capability: %q: %w", c, errdefs.ErrInvalidArgument)
	}
	return u, nil
}

func capabilityName(c int) string {
	names := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
	if c < len(names) {
		return names[c]
	}
	return ""
}

func unixSignalName(s syscall.Signal) string { return unix.SignalName(s) }

// applyNamespaces sets the namespaces a container joins — another
// container's network, PID or IPC namespace (j's /proc/<pid>/ns/ paths) —
// or shares with the host (--pid, --ipc, --uts host), and /dev/shm as its
// IPC mode wants it: the peer's (or the host's) bind-mounted, none for
// --ipc none.
func applyNamespaces(s *specs.Spec, h *container.HostConfig, j joins) {
	set := func(t specs.LinuxNamespaceType, path string) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == t {
				s.Linux.Namespaces[i].Path = path
				return
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t, Path: path})
	}
	remove := func(t specs.LinuxNamespaceType) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
	}
	if j.net != "" {
		set(specs.NetworkNamespace, j.net)
		// The network's default sysctls are the peer's, as dockerd leaves
		// them; the container's own --sysctl net.* are set in the peer's
		// namespace, as dockerd sets them (runc refuses them when that is
		// the host's).
		for k := range s.Linux.Sysctl {
			if _, own := h.Sysctls[k]; !own && strings.HasPrefix(k, "net.") {
				delete(s.Linux.Sysctl, k)
			}
		}
	}
	switch {
	case j.pid != "":
		set(specs.PIDNamespace, j.pid)
	case h.PidMode == "host":
		remove(specs.PIDNamespace)
	}
	switch {
	case j.ipc != "":
		set(specs.IPCNamespace, j.ipc)
	case h.IpcMode == "host":
		remove(specs.IPCNamespace)
	}
	if h.IpcMode == "none" || j.shm != "" {
		i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
		if i >= 0 {
			s.Mounts = slices.Delete(s.Mounts, i, i+1)
		}
		if j.shm != "" {
			m := specs.Mount{Destination: "/dev/shm", Type: "bind", Source: j.shm, Options: []string{"rbind", "rprivate"}}
			if i >= 0 {
				s.Mounts = slices.Insert(s.Mounts, i, m)
			} else {
				s.Mounts = append(s.Mounts, m)
			}
		}
	}
	if h.UTSMode == "host" {
		remove(specs.UTSNamespace)
		s.Hostname = ""
	}
}
