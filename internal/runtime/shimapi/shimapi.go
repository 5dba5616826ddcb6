// Package shimapi is the protocol between hull's compute service and the
// per-container shim: the messages on shim.sock, the records the shim keeps
// on disk, and the OCI state it reports. It is a leaf (no libcontainer), so
// that the shim's small monitor (cmd/hull-monitor) can speak it without
// carrying the container runtime in its memory.
package shimapi

import (
	"errors"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// The container statuses of the OCI runtime spec.
const (
	StatusCreating = "creating"
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusPaused   = "paused"
	StatusStopped  = "stopped"
)

// State is the OCI state of a container plus what the shim knows.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	// ShimPID is the pid of the container's shim; 0 when it is gone.
	ShimPID int `json:"shimPid,omitempty"`
	// ExitStatus is set once the container has stopped: the exit code, or
	// 128+signal; 137 when the shim was killed before it could record one.
	ExitStatus *int `json:"exitStatus,omitempty"`
	// LogDropped counts the lines of the container's output its log lost
	// because the log could not be written (a full disk).
	LogDropped uint64 `json:"logDropped,omitempty"`
}

// Stats are a container's resource counters, read from its cgroups.
// Network counters belong to the network service (TODO(#6)).
type Stats struct {
	CPUUsageNS  uint64 `json:"cpuUsageNs"`
	MemoryUsage uint64 `json:"memoryUsage"`
	MemoryLimit uint64 `json:"memoryLimit"`
	PidsCurrent uint64 `json:"pidsCurrent"`
	PidsLimit   uint64 `json:"pidsLimit,omitempty"`
	BlkioRead   uint64 `json:"blkioReadBytes"`
	BlkioWrite  uint64 `json:"blkioWriteBytes"`

	// What the cgroup files tell beyond the totals (Linux), in the units
	// dockerd reports them: nanoseconds and bytes.
	Cgroup2     bool     `json:"cgroup2,omitempty"`
	CPUPerCPU   []uint64 `json:"cpuPerCpu,omitempty"` // cgroup v1 only
	CPUKernelNS uint64   `json:"cpuKernelNs,omitempty"`
	CPUUserNS   uint64   `json:"cpuUserNs,omitempty"`
	// CPU throttling: periods, throttled periods, throttled time (ns).
	ThrottlePeriods  uint64            `json:"throttlePeriods,omitempty"`
	ThrottledPeriods uint64            `json:"throttledPeriods,omitempty"`
	ThrottledTimeNS  uint64            `json:"throttledTimeNs,omitempty"`
	MemoryMaxUsage   uint64            `json:"memoryMaxUsage,omitempty"`
	MemoryFailcnt    uint64            `json:"memoryFailcnt,omitempty"`
	MemoryStat       map[string]uint64 `json:"memoryStat,omitempty"` // memory.stat
	// Blkio is nil when the runtime read none (then BlkioRead and
	// BlkioWrite are all there is).
	Blkio *Blkio `json:"blkio,omitempty"`
}

// Blkio are the block I/O counters of cgroup v1's blkio files (v2: the
// bytes read and written per device, in ServiceBytes).
type Blkio struct {
	ServiceBytes []BlkioEntry `json:"serviceBytes"`
	Serviced     []BlkioEntry `json:"serviced"`
	Queued       []BlkioEntry `json:"queued"`
	ServiceTime  []BlkioEntry `json:"serviceTime"`
	WaitTime     []BlkioEntry `json:"waitTime"`
	Merged       []BlkioEntry `json:"merged"`
	Time         []BlkioEntry `json:"time"`
	Sectors      []BlkioEntry `json:"sectors"`
}

// BlkioEntry is one line of a blkio file: a device, an operation (Read,
// Write, …; none in some files) and its count.
type BlkioEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value"`
}

// TimedStep is a step of a create and when the shim reached it.
type TimedStep struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// Request is one message to the shim.
type Request struct {
	Op        string                `json:"op"`
	Signal    int                   `json:"signal,omitempty"`
	All       bool                  `json:"all,omitempty"`
	Force     bool                  `json:"force,omitempty"`
	Width     uint16                `json:"width,omitempty"`
	Height    uint16                `json:"height,omitempty"`
	Resources *specs.LinuxResources `json:"resources,omitempty"`
	Process   *specs.Process        `json:"process,omitempty"`
	// Fds names the descriptors sent with the message, in order:
	// "stdin", "stdout", "stderr", "console".
	Fds []string `json:"fds,omitempty"`
	// Redeliver: how long a kill's signal that the init leaves to its
	// default action — the kernel discards it for a pid namespace's init
	// — is held, to be sent once the init catches it.
	Redeliver time.Duration `json:"redeliver,omitempty"`
}

// Response is one message from the shim. Kind carries the errdefs kind of
// Error across the socket.
type Response struct {
	Error string `json:"error,omitempty"`
	Kind  string `json:"kind,omitempty"`
	State *State `json:"state,omitempty"`
	Stats *Stats `json:"stats,omitempty"`
	Exit  int    `json:"exit,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	Pids  []int  `json:"pids,omitempty"`
	// OOMKills answers oomkills: how many processes the kernel's OOM
	// killer killed in the container's memory cgroup.
	OOMKills uint64 `json:"oomKills,omitempty"`
	// ExitOOMKills comes with wait's answer: OOMKills read as the init
	// exited, which saves the caller asking oomkills; absent, it is not
	// known.
	ExitOOMKills *uint64 `json:"exitOOMKills,omitempty"`
	// Warnings are what Create reduced to fit the host.
	Warnings []string `json:"warnings,omitempty"`
	// Steps are the times the shim reached the steps of a create.
	Steps []TimedStep `json:"steps,omitempty"`
	// Done marks the last message of an exec: the process has exited.
	Done bool `json:"done,omitempty"`
	// LogOffset answers an attach: the log's size when the client
	// joined; it has from there on (absent: the shim has no log).
	LogOffset *int64 `json:"logOffset,omitempty"`
}

// ShimRecord is shim.json: what the shim knows of itself, for a client
// that finds it dead.
type ShimRecord struct {
	Bundle  string    `json:"bundle"`
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	ShimPID int       `json:"shimPid"`
	Pid     int       `json:"pid"`
	Owner   string    `json:"owner"`
}

// ExitRecord is exit.json, written when the init has been reaped.
type ExitRecord struct {
	Status int       `json:"status"`
	At     time.Time `json:"at"`
}

var kinds = []struct {
	name string
	err  error
}{
	{"notfound", errdefs.ErrNotFound},
	{"invalid", errdefs.ErrInvalidArgument},
	{"conflict", errdefs.ErrConflict},
	{"exists", errdefs.ErrAlreadyExists},
	{"notimplemented", errdefs.ErrNotImplemented},
	{"unavailable", errdefs.ErrUnavailable},
	{"limit", errdefs.ErrLimit},
}

// ErrorResponse turns err into a response that keeps its kind.
func ErrorResponse(err error) Response {
	resp := Response{Error: err.Error()}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			resp.Kind = k.name
			break
		}
	}
	return resp
}

// remoteError is an error that came over the shim's socket; it unwraps to
// its kind so that errors.Is works on the caller's side.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// Err is the error the response carries, or nil.
func (resp Response) Err() error {
	if resp.Error == "" {
		return nil
	}
	for _, k := range kinds {
		if k.name == resp.Kind {
			return &remoteError{msg: resp.Error, kind: k.err}
		}
	}
	return &remoteError{msg: resp.Error}
}
