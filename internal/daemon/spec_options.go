package daemon

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyCreateOptions applies the settings of create that shape the spec
// beyond the default profile, as dockerd's createSpec does: the NIS domain
// name, /dev/shm's size (and none with --ipc none), the masked and
// read-only paths the container was created with, the OOM score, sysctls,
// --tmpfs mounts, the terminal's size at start, and --init.
// Preconditions: applyHost ran (a privileged container has no masked
// paths).
func applyCreateOptions(s *specs.Spec, cfg *container.Config, h *container.HostConfig) error {
	s.Domainname = cfg.Domainname
	s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" && h.IpcMode.IsNone() })
	for i, m := range s.Mounts {
		if m.Destination == "/dev/shm" && m.Type == "tmpfs" && h.ShmSize > 0 {
			opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
			s.Mounts[i].Options = append(opts, "size="+strconv.FormatInt(h.ShmSize, 10))
		}
	}
	if s.Linux != nil && !h.Privileged {
		if h.MaskedPaths != nil {
			s.Linux.MaskedPaths = slices.Clone(h.MaskedPaths)
		}
		if h.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = slices.Clone(h.ReadonlyPaths)
		}
	}
	if s.Process != nil {
		score := h.OomScoreAdj
		s.Process.OOMScoreAdj = &score
		if cfg.Tty && h.ConsoleSize != [2]uint{} {
			s.Process.ConsoleSize = &specs.Box{Height: h.ConsoleSize[0], Width: h.ConsoleSize[1]}
		}
	}
	if s.Linux != nil && len(h.Sysctls) > 0 {
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range h.Sysctls {
			s.Linux.Sysctl[k] = v
		}
	}
	if h.Init != nil && *h.Init && s.Process != nil {
		// dockerd's --init: docker-init (tini) from the host's PATH, bound
		// read-only at /sbin/docker-init, runs the command as its child.
		path, err := exec.LookPath("docker-init")
		if err != nil {
			return fmt.Errorf("--init: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		s.Process.Args = append([]string{"/sbin/docker-init", "--"}, s.Process.Args...)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sbin/docker-init", Type: "bind", Source: path, Options: []string{"bind", "ro"}})
	}
	for _, dest := range slices.Sorted(maps.Keys(h.Tmpfs)) {
		opts, err := tmpfsOptions(h.Tmpfs[dest])
		if err != nil {
			return err
		}
		s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == dest })
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	return nil
}

// tmpfsOptions are a tmpfs mount's options as dockerd makes them:
// noexec, nosuid, nodev, rprivate, then the container's own ("rw,size=64k,
// mode=1770"), merged so that a later option overrides an earlier one of
// its kind (moby's MergeTmpfsOptions).
func tmpfsOptions(data string) ([]string, error) {
	opts := []string{"noexec", "nosuid", "nodev", "rprivate"}
	if data != "" {
		opts = append(opts, strings.Split(data, ",")...)
	}
	flagSeen := map[string]bool{}
	dataSeen := map[string]bool{}
	var out []string
	for i := len(opts) - 1; i >= 0; i-- {
		o := opts[i]
		if o == "defaults" {
			continue
		}
		if key, ok := tmpfsFlagKey[o]; ok {
			if !flagSeen[key] {
				out = append([]string{o}, out...)
				flagSeen[key] = true
			}
			continue
		}
		k, _, ok := strings.Cut(o, "=")
		if !ok || !tmpfsDataKeys[k] {
			return nil, fmt.Errorf("invalid tmpfs option %q: %w", strings.SplitN(o, "=", 2), errdefs.ErrInvalidArgument)
		}
		if !dataSeen[k] {
			out = append([]string{o}, out...)
			dataSeen[k] = true
		}
	}
	return out, nil
}

// tmpfsFlagKey maps each mount flag to what it sets: ro and rw collide, as
// do exec and noexec; the propagation modes are one.
var tmpfsFlagKey = map[string]string{
	"ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid", "dev": "nodev", "nodev": "nodev",
	"exec": "noexec", "noexec": "noexec", "sync": "sync", "async": "sync", "dirsync": "dirsync",
	"remount": "remount", "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime",
	"diratime": "nodiratime", "nodiratime": "nodiratime", "bind": "bind", "rbind": "rbind",
	"unbindable": "propagation", "runbindable": "propagation", "private": "propagation", "rprivate": "propagation",
	"shared": "propagation", "rshared": "propagation", "slave": "propagation", "rslave": "propagation",
	"relatime": "relatime", "norelatime": "relatime", "strictatime": "strictatime", "nostrictatime": "strictatime",
}

var tmpfsDataKeys = map[string]bool{"size": true, "mode": true, "uid": true, "gid": true, "nr_inodes": true, "nr_blocks": true, "mpol": true}

// tmpfsMountData is a --mount type=tmpfs's options as dockerd's
// ConvertTmpfsOptions writes them (ro, mode=, size= with the largest unit
// that divides it).
func tmpfsMountData(m mountPoint) string {
	var o []string
	if !m.RW {
		o = append(o, "ro")
	}
	if m.TmpfsMode != 0 {
		o = append(o, "mode="+strconv.FormatUint(uint64(m.TmpfsMode), 8))
	}
	if size := m.TmpfsSize; size != 0 {
		suffix := ""
		for _, u := range []struct {
			s string
			d int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.d == 0 {
				size, suffix = size/u.d, u.s
				break
			}
		}
		o = append(o, strconv.FormatInt(size, 10)+suffix)
		o[len(o)-1] = "size=" + o[len(o)-1]
	}
	return strings.Join(o, ",")
}

// groupAdd is the container's --group-add (docker exec with a user gets
// them too).
func (d *Daemon) groupAdd(id string) []string {
	d.mu.Lock()
	c := d.ctrs[id]
	d.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rec.HostConfig.GroupAdd)
}
