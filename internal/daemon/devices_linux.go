package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyDevices adds --device's nodes (a device, or every device under a
// folder) with their cgroup permissions, and --device-cgroup-rule's rules,
// as dockerd's WithDevices does for a container that is not privileged.
func applyDevices(s *specs.Spec, h *container.HostConfig) error {
	if h.Privileged || s.Linux == nil {
		return nil
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	for _, m := range h.Devices {
		devs, err := devicesFromPath(m.PathOnHost, m.PathInContainer, m.CgroupPermissions)
		if err != nil {
			return err
		}
		for _, d := range devs {
			s.Linux.Devices = append(s.Linux.Devices, d)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
				Allow: true, Type: d.Type, Major: ptr(d.Major), Minor: ptr(d.Minor), Access: permissions(m.CgroupPermissions)})
		}
	}
	for _, rule := range h.DeviceCgroupRules {
		r, err := parseDeviceCgroupRule(rule)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, r)
	}
	return nil
}

func permissions(p string) string {
	if p == "" {
		return "rwm"
	}
	return p
}

// devicesFromPath is moby's DevicesFromPath: the device at pathOnHost
// (through a symlink), or each device in the folder there, at the same
// place under pathInContainer.
func devicesFromPath(pathOnHost, pathInContainer, perms string) ([]specs.LinuxDevice, error) {
	resolved := pathOnHost
	if fi, err := os.Lstat(pathOnHost); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if p, err := filepath.EvalSymlinks(pathOnHost); err == nil {
			resolved = p
		}
	}
	d, err := deviceFromPath(resolved, pathInContainer)
	if err == nil {
		return []specs.LinuxDevice{d}, nil
	}
	var out []specs.LinuxDevice
	if err == errNotADevice {
		if fi, e := os.Stat(resolved); e == nil && fi.IsDir() {
			filepath.Walk(resolved, func(p string, _ os.FileInfo, _ error) error {
				if d, err := deviceFromPath(p, strings.Replace(p, resolved, pathInContainer, 1)); err == nil {
					out = append(out, d)
				}
				return nil
			})
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, fmt.Errorf("error gathering device information while adding custom device %q: %s: %w", pathOnHost, err, errdefs.ErrInvalidArgument)
}

var errNotADevice = fmt.Errorf("not a device node")

func deviceFromPath(path, inContainer string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return specs.LinuxDevice{}, err
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFCHR:
		typ = "c"
	default:
		return specs.LinuxDevice{}, errNotADevice
	}
	return specs.LinuxDevice{
		Path: inContainer, Type: typ, Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		FileMode: ptr(os.FileMode(st.Mode &^ unix.S_IFMT)), UID: ptr(st.Uid), GID: ptr(st.Gid),
	}, nil
}

var deviceCgroupRuleRegex = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// parseDeviceCgroupRule is moby's AppendDevicePermissionsFromCgroupRules
// for one rule ("c 1:3 rwm", "b 8:* r").
func parseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	m := deviceCgroupRuleRegex.FindStringSubmatch(rule)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("invalid device cgroup rule format: '%s': %w", rule, errdefs.ErrInvalidArgument)
	}
	num := func(s string) *int64 {
		if s == "*" {
			return ptr(int64(-1))
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		return &n
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Major: num(m[2]), Minor: num(m[3]), Access: m[4]}, nil
}
