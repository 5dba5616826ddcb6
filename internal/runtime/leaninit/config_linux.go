package leaninit

import (
	"github.com/opencontainers/runc/libcontainer/configs"
)

// The init's descriptors, as the shim lays them out.
const (
	SyncFd = 3 // the socket to the shim
	FifoFd = 4 // the exec fifo, O_PATH
	// FirstExtraFd is where the console socket (when Terminal) and the
	// namespaces the init joins itself begin, in Config's order.
	FirstExtraFd = 5
)

// Config is everything the init needs, sent by the shim.
type Config struct {
	// ID is the container's id (the session keyring's name).
	ID string `json:"id"`
	// Container is libcontainer's configuration of the container, as
	// specconv made it from the bundle; the init reads the parts the shim
	// checked it supports (Supported).
	Container *configs.Config `json:"container"`
	// The process.
	Args             []string              `json:"args"`
	Env              []string              `json:"env"`
	Cwd              string                `json:"cwd"`
	UID              int                   `json:"uid"`
	GID              int                   `json:"gid"`
	AdditionalGroups []int                 `json:"additional_groups,omitempty"`
	Capabilities     *configs.Capabilities `json:"capabilities,omitempty"`
	NoNewPrivileges  bool                  `json:"no_new_privileges,omitempty"`
	// Terminal: the init makes a pty in the container, sends its master on
	// the console socket (fd ConsoleFd) and takes the peer as its stdio.
	Terminal      bool   `json:"terminal,omitempty"`
	ConsoleFd     int    `json:"console_fd,omitempty"`
	ConsoleWidth  uint16 `json:"console_width,omitempty"`
	ConsoleHeight uint16 `json:"console_height,omitempty"`
	// Seccomp is the file of the container's compiled seccomp filter
	// (internal/runtime/seccompbpf), "" for none.
	Seccomp string `json:"seccomp,omitempty"`
	// Join are namespaces the init enters with setns before anything
	// else (network, IPC, UTS — those a multi-threaded process may join).
	Join []Join `json:"join,omitempty"`
}

// Join is a namespace to enter: its type and the descriptor the init got
// it on.
type Join struct {
	Type configs.NamespaceType `json:"type"`
	Fd   int                   `json:"fd"`
}
