// Package runtime is hull's compute service: it runs containers from OCI
// bundles (a folder with config.json and a root file system), each under a
// small monitor process of its own, the shim: cmd/hull-shim creates the
// container and then execs cmd/hull-monitor (package monitor), which keeps
// serving it without libcontainer in memory.
//
// Layout under the runtime's root (default /run/hull/runtime for
// `hull runtime`):
//
//	<root>/shims/<id>/       one folder per container, made by Create, removed by Delete
//	    shim.sock            the shim's socket (SOCK_SEQPACKET, one JSON message each way)
//	    shim.json            how the shim was started (bundle, pid, created)
//	    exit.json            the init's exit status, written when it exits
//	    shim.log             the shim's own diagnostics
//	    container.log        the container's stdout/stderr in Docker's json-file format,
//	                         unless CreateOptions.LogPath names another file
//	<root>/state/<id>/       libcontainer's state of the container
//
// The shim is the parent of the container's init. It outlives the process
// that called Create: a fresh Runtime on the same root finds it through its
// socket. When the shim dies the container dies with it (the init's parent
// death signal is SIGKILL); State then reports the container stopped, with
// exit status 137 unless the shim wrote one, and Delete removes what is left
// (libcontainer state, cgroups, the shim folder).
//
// Platform split: this file holds the API; runtime_linux.go (client side)
// and shim_linux.go (the shim, on libcontainer) implement it on Linux;
// runtime_windows.go returns ErrNotImplemented until HCS arrives (issue 7).
package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/monitor"
	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// DefaultRoot is where `hull runtime` keeps its state unless told otherwise.
const DefaultRoot = "/run/hull/runtime"

// Runtime is the compute service over one state root. Its methods are safe
// for concurrent use; all state lives in the shims and on disk, so any
// number of Runtime values (in any number of processes) may share a root.
type Runtime struct {
	root string
	// initOnce makes initExe, the sealed copy of hull-init shared by
	// every container this runtime creates (Linux).
	initOnce sync.Once
	initExe  *os.File
	// spares holds the spare shim started ahead of the next create
	// (Linux: spare_linux.go).
	spares spares
}

// New returns the runtime whose state lives under root.
func New(root string) *Runtime {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return &Runtime{root: root}
}

// Root is the runtime's state folder.
func (r *Runtime) Root() string { return r.root }

// The container statuses of the OCI runtime spec.
const (
	StatusCreating = shimapi.StatusCreating
	StatusCreated  = shimapi.StatusCreated
	StatusRunning  = shimapi.StatusRunning
	StatusPaused   = shimapi.StatusPaused
	StatusStopped  = shimapi.StatusStopped
)

// State is the OCI state of a container plus what the shim knows.
type State = shimapi.State

// Stats are a container's resource counters, read from its cgroups.
type Stats = shimapi.Stats

// Blkio and BlkioEntry are a container's block I/O counters (Stats.Blkio).
type (
	Blkio      = shimapi.Blkio
	BlkioEntry = shimapi.BlkioEntry
)

// CreateOptions tune Create.
type CreateOptions struct {
	// ConsoleSocket is the path of a unix socket that receives the pty
	// master when process.terminal is true (runc's --console-socket).
	// Without it a terminal container's pty is held by the shim and its
	// output goes to the log.
	ConsoleSocket string
	// PidFile, when set, receives the init's pid once it is created.
	PidFile string
	// LogPath is the json-file log of the container's stdout and stderr;
	// default <root>/shims/<id>/container.log. Ignored when Stdout is set.
	LogPath string
	// LogFormat is the log's format: "" for Docker's json-file, "cri" for
	// the Kubernetes CRI's (<RFC3339Nano> stdout|stderr P|F <line>).
	LogFormat string
	// NoPivot uses chroot-like MS_MOVE instead of pivot_root (for a rootfs
	// on a ramdisk).
	NoPivot bool
	// ShimPath is the hull-shim binary; default: beside os.Executable(),
	// then $PATH.
	ShimPath string
	// Stdin, Stdout and Stderr, when set, become the init's standard streams
	// directly (foreground `hull runtime run`) instead of the shim's pipes.
	Stdin, Stdout, Stderr *os.File
	// OpenStdin has the shim hold the init's stdin open, for clients that
	// attach (docker's -i); without it the init's stdin is /dev/null
	// unless it has a terminal. StdinOnce closes it when the first attached
	// client's stdin ends.
	OpenStdin, StdinOnce bool
	// Steps, when set, is told when the shim reached each step of the
	// create ("shim started", "container created"), for a creation trace.
	Steps func(TimedStep)
	// Init chooses the container's init: InitAuto (hull-init where it
	// supports the container, libcontainer's otherwise), InitLean (fail
	// when hull-init cannot) or InitLibcontainer. Empty takes the
	// HULL_INIT environment variable's.
	Init string
	// InProcess has the shim serve the container itself for its whole
	// life instead of exec'ing hull-monitor once it is created: the
	// container is ready ~11 ms sooner here (the exec and the start of
	// a new Go program are paid before the create's answer), for ~6 MB
	// more resident beside it (a shim keeps libcontainer in memory). The
	// daemon asks for it for one-off foreground runs (docker run --rm
	// without -d); other containers keep the small resident monitor.
	InProcess bool
	// Ports are the container's published ports: host sockets the shim
	// relays to the container until its init exits, so they answer while
	// the caller (the daemon) is away. Create hands the shim copies; the
	// caller still closes its own.
	Ports []PublishedPort
}

// The container inits a shim can use (CreateOptions.Init, HULL_INIT).
const (
	InitAuto         = ""             // the lean init where it supports the config
	InitLean         = "lean"         // the lean init, or fail
	InitLibcontainer = "libcontainer" // libcontainer's init
)

// PublishedPort is a host socket (listening TCP, bound UDP) and the
// container address it is relayed to.
type PublishedPort = monitor.PublishedPort

// TimedStep is a step of a create and when the shim reached it.
type TimedStep = shimapi.TimedStep

// JSONLog writes a container's output in Docker's json-file format (the
// shim's writer, for a caller that holds a container's streams itself).
type JSONLog = monitor.JSONLog

// Fanout and Subscriber are the shim's attached clients, for a caller that
// holds a container's streams itself.
type (
	Fanout     = monitor.Fanout
	Subscriber = monitor.Subscriber
)

// NewSubscriber returns a client taking stdout and stderr.
func NewSubscriber(stdout, stderr io.Writer) *Subscriber {
	return monitor.NewSubscriber(stdout, stderr)
}

// NewJSONLog returns the json-file log at path.
func NewJSONLog(path string) *JSONLog { return monitor.NewJSONLog(path) }

// PumpLog copies an output stream to out's attached clients as it comes
// and, line by line, to its log, until it ends.
func PumpLog(stream string, r io.Reader, out *Fanout) { monitor.Pump(stream, r, out) }

// AttachOptions are the client's ends of an attach: the shim reads Stdin
// (to the container's stdin) and writes the container's output to Stdout
// and Stderr (both to Stdout with a terminal when Stderr is nil). Any may be
// nil.
type AttachOptions struct {
	Stdin, Stdout, Stderr *os.File
}

// Attachment is an attached client.
type Attachment struct {
	// LogOffset is the log's size when the client joined: output before
	// it is in the log, output after it comes to the client. -1: unknown
	// (the shim has no log, or predates the offset).
	LogOffset int64

	wait  func(ctx context.Context) error
	close func() error
}

// Wait blocks until the container's output has ended (it exited and its
// streams are drained), ctx is done, or the attachment was closed.
func (a *Attachment) Wait(ctx context.Context) error { return a.wait(ctx) }

// Close detaches: the container goes on.
func (a *Attachment) Close() error { return a.close() }

// ExecOptions tune Exec.
type ExecOptions struct {
	// ConsoleSocket receives the pty master when the process asks for a
	// terminal. Without it, Exec returns the master in Process.Console.
	ConsoleSocket string
	// Stdin, Stdout and Stderr become the process's streams (no terminal);
	// unset ones are /dev/null.
	Stdin, Stdout, Stderr *os.File
}

// Process is a process started by Exec.
type Process struct {
	Pid int
	// Console is the pty master of a terminal process when no console
	// socket was given; the caller copies to and from it and closes it.
	Console *os.File
	wait    func(ctx context.Context) (int, error)
	close   func() error
}

// Wait blocks until the process exits and returns its exit code (128+signal
// when killed by one).
func (p *Process) Wait(ctx context.Context) (int, error) { return p.wait(ctx) }

// Close lets go of the process without waiting for it; it keeps running.
func (p *Process) Close() error { return p.close() }

// validID reports whether id is 1-128 letters, digits and _.+-, not
// starting with a symbol. It is written out rather than a regexp: the
// package is linked into the shim and the container's init, and compiling
// that pattern (the bounded repetition unrolls) cost 0.3 ms and 1700
// allocations at every start of each.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func checkID(id string) error {
	if !validID(id) {
		return fmt.Errorf("container id %q: must be 1-128 letters, digits and _.+-, not starting with a symbol: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (r *Runtime) shimDir(id string) string    { return filepath.Join(r.root, "shims", id) }
func (r *Runtime) stateRoot() string           { return filepath.Join(r.root, "state") }
func (r *Runtime) shimsRoot() string           { return filepath.Join(r.root, "shims") }
func (r *Runtime) shimSocket(id string) string { return filepath.Join(r.shimDir(id), "shim.sock") }

// Create makes the container id from the bundle folder and leaves its init
// waiting for Start. It returns once the container is created, or with the
// reason it could not be, classified: a bad config.json or bundle is
// InvalidArgument, an id in use AlreadyExists. A failed Create leaves no
// state folder, shim, cgroup or mount behind.
func (r *Runtime) Create(ctx context.Context, id, bundle string, opts CreateOptions) error {
	if err := checkID(id); err != nil {
		return err
	}
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", bundle, err)
	}
	return r.createImpl(ctx, id, abs, opts)
}

// Run creates the container, starts it, waits for its init to exit,
// deletes it and returns the exit code: Create, Start, Wait and Delete in
// one step, which the shim does on its own (no round trip between them).
// started, if set, is called once the container runs. Cancelling ctx kills
// the container, which is still deleted; Run then returns ctx's error with
// the exit code.
func (r *Runtime) Run(ctx context.Context, id, bundle string, opts CreateOptions, started func()) (int, error) {
	if err := checkID(id); err != nil {
		return -1, err
	}
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return -1, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	return r.runImpl(ctx, id, abs, opts, started)
}

// Attach connects the files in opts to the streams of a container whose
// shim holds them (it was created without the caller's streams or a console
// socket); it returns once attached. Output is received from then on; the
// log (<shim dir>/container.log or CreateOptions.LogPath) has what came
// before, up to the Attachment's LogOffset.
func (r *Runtime) Attach(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return r.attachImpl(ctx, id, opts)
}

// Start runs the user process of a created container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	_, err := r.call(ctx, id, request{Op: "start"})
	return err
}

// State reports the container's OCI state.
func (r *Runtime) State(ctx context.Context, id string) (State, error) {
	if err := checkID(id); err != nil {
		return State{}, err
	}
	return r.stateImpl(ctx, id)
}

// List reports every container under the runtime's root, sorted by id.
func (r *Runtime) List(ctx context.Context) ([]State, error) {
	return r.listImpl(ctx)
}

// Kill sends sig to the container's init, or to all its processes.
func (r *Runtime) Kill(ctx context.Context, id string, sig int, all bool) error {
	_, err := r.call(ctx, id, request{Op: "kill", Signal: sig, All: all})
	return err
}

// Signal sends sig to the container's init, as Kill does, once the init
// runs the container's program. A signal the init leaves to its default
// action — the kernel discards it for the init of a pid namespace, as a
// program's handler may not be installed yet right after start — is held
// and sent when the init first catches or blocks it, within redeliver.
func (r *Runtime) Signal(ctx context.Context, id string, sig int, redeliver time.Duration) error {
	_, err := r.call(ctx, id, request{Op: "kill", Signal: sig, Redeliver: redeliver})
	return err
}

// Delete removes a stopped container: its shim, libcontainer state and
// cgroups. A running one is refused (Conflict) unless force, which kills it.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	if err := checkID(id); err != nil {
		return err
	}
	return r.deleteImpl(ctx, id, force)
}

// Wait blocks until the container's init exits and returns its exit code.
func (r *Runtime) Wait(ctx context.Context, id string) (int, error) {
	e, err := r.WaitExit(ctx, id)
	return e.Code, err
}

// Exit is how a container's init ended.
type Exit struct {
	Code int
	// OOMKills is what OOMKills would answer, when the shim read it as
	// the init exited; nil: ask OOMKills.
	OOMKills *uint64
}

// WaitExit is Wait, with what the shim knows of the exit.
func (r *Runtime) WaitExit(ctx context.Context, id string) (Exit, error) {
	resp, err := r.call(ctx, id, request{Op: "wait"})
	if err != nil {
		return Exit{Code: -1}, err
	}
	return Exit{Code: resp.Exit, OOMKills: resp.ExitOOMKills}, nil
}

// StartError is a process the runtime could not start (a container's
// init at Create, an exec): the program is missing, not executable, or its
// working directory is not there. Err's message is the runtime's; ExitCode is the status a shell
// gives such a command: 127 when not found, 126 when it cannot run, 128
// for anything else.
type StartError struct {
	Err      error
	ExitCode int
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Exec starts proc in the running container. A process that cannot start
// is a *StartError.
func (r *Runtime) Exec(ctx context.Context, id string, proc *specs.Process, opts ExecOptions) (*Process, error) {
	if proc == nil || len(proc.Args) == 0 {
		return nil, fmt.Errorf("exec in %s: the process has no args: %w", id, errdefs.ErrInvalidArgument)
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	return r.execImpl(ctx, id, proc, opts)
}

// Pause freezes every process of the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	_, err := r.call(ctx, id, request{Op: "pause"})
	return err
}

// ReopenLog has the container's shim close its log and open the file at
// the log's path again (made anew when it was moved away), before it
// answers: the CRI's ReopenContainerLog.
func (r *Runtime) ReopenLog(ctx context.Context, id string) error {
	_, err := r.call(ctx, id, request{Op: "reopen-log"})
	return err
}

// Resume thaws a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	_, err := r.call(ctx, id, request{Op: "resume"})
	return err
}

// Stats reads the container's resource counters.
func (r *Runtime) Stats(ctx context.Context, id string) (Stats, error) {
	resp, err := r.call(ctx, id, request{Op: "stats"})
	if err != nil || resp.Stats == nil {
		return Stats{}, err
	}
	return *resp.Stats, nil
}

// OOMKills is how many of the container's processes the kernel's OOM
// killer killed; asked between the exit of its init and its Delete, it
// says whether the container ended out of memory.
func (r *Runtime) OOMKills(ctx context.Context, id string) (uint64, error) {
	resp, err := r.call(ctx, id, request{Op: "oomkills"})
	return resp.OOMKills, err
}

// Ps lists the host pids of the container's processes.
func (r *Runtime) Ps(ctx context.Context, id string) ([]int, error) {
	resp, err := r.call(ctx, id, request{Op: "ps"})
	return resp.Pids, err
}

// Resize sets the window size of the pty the shim holds for the
// container's init (a terminal container created without a console socket).
func (r *Runtime) Resize(ctx context.Context, id string, width, height uint16) error {
	_, err := r.call(ctx, id, request{Op: "resize", Width: width, Height: height})
	return err
}

// Update changes the container's cgroup resources.
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	if res == nil {
		return fmt.Errorf("update %s: no resources: %w", id, errdefs.ErrInvalidArgument)
	}
	_, err := r.call(ctx, id, request{Op: "update", Resources: res})
	return err
}

// The messages on the shim's socket (package shimapi).
type (
	request  = shimapi.Request
	response = shimapi.Response
)

func errorResponse(err error) response { return shimapi.ErrorResponse(err) }
