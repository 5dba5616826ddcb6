package leaninit

import (
	"errors"
	"os"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// The init's descriptors, as the shim lays them out.
const (
	SyncFd = 3 // the socket to the shim
	FifoFd = 4 // the exec fifo, O_PATH
	// FirstExtraFd is where the console socket (when Terminal) and the
	// namespaces the init joins itself begin, in Config's order.
	FirstExtraFd = 5
)

// PreforkArg, as the init's first argument, makes it a pre-forked init:
// forked ahead of its container into a new pid namespace, with /dev/null
// for stdio and the sync socket on SyncFd; its descriptors come with its
// config (see the package's doc).
const PreforkArg = "prefork"

// PreforkPlaces is how many descriptors past the sync socket (4…) a
// pre-forked init is forked with, on /dev/null: places for the ones its
// config comes with, taken before its Go runtime opens files of its own,
// which must never be overwritten.
const PreforkPlaces = 16

// Config is everything the init needs, sent by the shim.
type Config struct {
	// ID is the container's id (the session keyring's name).
	ID string `json:"id"`
	// Container is what the init builds, made by the shim from
	// libcontainer's configuration (specconv's, from the bundle) once it
	// checked the init supports all of it.
	Container *Container `json:"container"`
	// The process.
	Args             []string `json:"args"`
	Env              []string `json:"env"`
	Cwd              string   `json:"cwd"`
	UID              int      `json:"uid"`
	GID              int      `json:"gid"`
	AdditionalGroups []int    `json:"additional_groups,omitempty"`
	// Capabilities are the process's, by number (the shim's names,
	// known to this host), nil for none changed.
	Capabilities    *Capabilities `json:"capabilities,omitempty"`
	NoNewPrivileges bool          `json:"no_new_privileges,omitempty"`
	// Terminal: the init makes a pty in the container, sends its master on
	// the console socket (fd ConsoleFd) and takes the peer as its stdio.
	Terminal      bool   `json:"terminal,omitempty"`
	ConsoleFd     int    `json:"console_fd,omitempty"`
	ConsoleWidth  uint16 `json:"console_width,omitempty"`
	ConsoleHeight uint16 `json:"console_height,omitempty"`
	// Seccomp is the file of the container's compiled seccomp filter
	// (internal/runtime/seccompprog), "" for none.
	Seccomp string `json:"seccomp,omitempty"`
	// Join are namespaces the init enters with setns before anything
	// else (network, IPC, UTS — those a multi-threaded process may join).
	Join []Join `json:"join,omitempty"`
	// Rlimits are the process's resource limits, set by the init itself
	// where libcontainer's parent sets them (once the rootfs is ready);
	// RLIMIT_AS last of all, just before the execve.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Unshare are the namespaces (unix.CLONE_NEWNS, _NEWNET, _NEWIPC,
	// _NEWUTS) a pre-forked init makes itself, on its main thread, once it
	// has its config: it was forked into a new pid namespace only, before
	// its container was known (PreforkArg).
	Unshare int `json:"unshare,omitempty"`
}

// Rlimit is one resource limit (Type: unix.RLIMIT_*).
type Rlimit struct {
	Type int    `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

// Container is the part of libcontainer's configs.Config the init reads,
// in types of its own: the init does not start up libcontainer's
// configuration packages (cgroups, systemd, D-Bus, logrus) for it, and
// decodes only this.
type Container struct {
	Rootfs          string            `json:"rootfs"`
	Readonlyfs      bool              `json:"readonlyfs,omitempty"`
	NoPivotRoot     bool              `json:"no_pivot_root,omitempty"`
	RootPropagation int               `json:"rootPropagation,omitempty"`
	Umask           *uint32           `json:"umask,omitempty"`
	Mounts          []*Mount          `json:"mounts,omitempty"`
	Devices         []*Device         `json:"devices,omitempty"`
	MaskPaths       []string          `json:"mask_paths,omitempty"`
	ReadonlyPaths   []string          `json:"readonly_paths,omitempty"`
	Hostname        string            `json:"hostname,omitempty"`
	Domainname      string            `json:"domainname,omitempty"`
	Sysctl          map[string]string `json:"sysctl,omitempty"`
	// CgroupNS: the init unshares a cgroup namespace once in its cgroups.
	CgroupNS bool `json:"cgroup_ns,omitempty"`
	// NoNewKeyring keeps the host's session keyring (else the init joins
	// a new one named after the container).
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// Loopback: the init sets lo up in its network namespace.
	Loopback bool `json:"loopback,omitempty"`
}

// Mount is a mount the init makes inside the root (libcontainer's
// configs.Mount, of the kinds the lean path takes).
type Mount struct {
	Source           string `json:"source"`
	Destination      string `json:"destination"`
	Device           string `json:"device"`
	Flags            int    `json:"flags,omitempty"`
	ClearedFlags     int    `json:"cleared_flags,omitempty"`
	PropagationFlags []int  `json:"propagation_flags,omitempty"`
	Data             string `json:"data,omitempty"`
}

// IsBind says whether m is a bind mount.
func (m *Mount) IsBind() bool { return m.Flags&unix.MS_BIND != 0 }

// Device is a device node the init makes in the container's /dev.
type Device struct {
	Path string `json:"path"`
	// Type is 'b' (block), 'c' (character) or 'p' (fifo).
	Type     rune        `json:"type"`
	Major    int64       `json:"major"`
	Minor    int64       `json:"minor"`
	FileMode os.FileMode `json:"file_mode"`
	UID      uint32      `json:"uid"`
	GID      uint32      `json:"gid"`
}

// wildcard is a major or minor number of -1 (a device rule's "any").
const wildcard = -1

// mkdev is the device number of d.
func (d *Device) mkdev() (uint64, error) {
	if d.Major == wildcard || d.Minor == wildcard {
		return 0, errors.New("cannot mkdev() device with wildcards")
	}
	return unix.Mkdev(uint32(d.Major), uint32(d.Minor)), nil
}

// Capabilities are the capability sets of the process.
type Capabilities struct {
	Bounding    []capability.Cap `json:"bounding,omitempty"`
	Effective   []capability.Cap `json:"effective,omitempty"`
	Inheritable []capability.Cap `json:"inheritable,omitempty"`
	Permitted   []capability.Cap `json:"permitted,omitempty"`
	Ambient     []capability.Cap `json:"ambient,omitempty"`
}

// Join is a namespace to enter: its type (unix.CLONE_NEWNET, _NEWIPC or
// _NEWUTS) and the descriptor the init got it on.
type Join struct {
	Type int `json:"type"`
	Fd   int `json:"fd"`
}
