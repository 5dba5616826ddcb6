package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// Config is what the monitor knows of its container. The shim hands it to
// hull-monitor as JSON on the command line.
type Config struct {
	ID string `json:"id"`
	// Root is the runtime's root: the shim folder is <root>/shims/<id>,
	// libcontainer's state <root>/state/<id>.
	Root   string             `json:"root"`
	Record shimapi.ShimRecord `json:"record"`
	// Annotations are the bundle's, for the OCI state.
	Annotations map[string]string `json:"annotations,omitempty"`
	Terminal    bool              `json:"terminal,omitempty"`
	StdinOnce   bool              `json:"stdinOnce,omitempty"`
	// SharedPidNS: the container has no pid namespace of its own, so a
	// SIGKILL of its init must be sent to every process in its cgroup.
	SharedPidNS bool   `json:"sharedPidNs,omitempty"`
	LogPath     string `json:"logPath"`
	// LogFormat is "" (Docker's json-file) or "cri" (NewCRILog).
	LogFormat string `json:"logFormat,omitempty"`
	// Helper is hull-shim, run as `hull-shim helper` for the requests that
	// need the container runtime (see HelperBackend).
	Helper string `json:"helper,omitempty"`
	// Fds are the descriptor numbers of Files across the execve.
	Fds Fds `json:"fds"`
	// CgroupPaths are the container's cgroups by controller ("" the v2
	// one), as in its libcontainer state: the OOM-kill count is read from
	// them (oom_linux.go).
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// DeleteStopped: deleting the container once stopped is only removing
	// its cgroup folders and its state (a pid namespace of its own, which
	// the kernel emptied with its init; no poststop hooks; no Intel RDT),
	// which the monitor then does itself instead of running a helper
	// (stopped_linux.go). False: every destroy goes to the backend.
	DeleteStopped bool `json:"deleteStopped,omitempty"`
	// Pending is a create the init has not finished: the shim execs
	// hull-monitor while a lean init sets itself up, and hull-monitor
	// finishes it (FinishCreate) before it serves.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a lean create handed over unfinished.
type Pending struct {
	// SyncFd is the socket on which the init answers "r" once it waits
	// on the exec fifo, or its error; ReadyFd is the shim's caller's pipe.
	SyncFd  int `json:"syncFd"`
	ReadyFd int `json:"readyFd"`
	// Response is the shim's answer for the create once the init is
	// ready: its pid, warnings and steps so far.
	Response shimapi.Response `json:"response"`
}

// Files are the descriptors the monitor takes over. Nil ones are absent.
type Files struct {
	Listener *net.UnixListener
	// Stdin (the write end of the init's stdin pipe, held for attached
	// clients), Stdout and Stderr (read ends of its output pipes).
	Stdin, Stdout, Stderr *os.File
	// Console is the init's pty master when the monitor holds it.
	Console *os.File
	// CallerIn and CallerOut are a foreground caller's streams, copied to
	// and from Console.
	CallerIn, CallerOut *os.File
	// Ports are the container's published ports, relayed until its init
	// exits.
	Ports []PublishedPort
}

// Fds are the numbers of Files' descriptors; -1 for an absent one.
type Fds struct {
	Listener  int `json:"listener"`
	Stdin     int `json:"stdin"`
	Stdout    int `json:"stdout"`
	Stderr    int `json:"stderr"`
	Console   int `json:"console"`
	CallerIn  int `json:"callerIn"`
	CallerOut int `json:"callerOut"`
	// Ports are the published ports, each with its socket's number in Fd.
	Ports []PortFd `json:"ports,omitempty"`
}

// PortFd is a PublishedPort across the execve: its socket by number.
type PortFd struct {
	Proto  string `json:"proto"`
	Target string `json:"target"`
	Fd     int    `json:"fd"`
}

func (f *Files) all() []**os.File {
	return []**os.File{&f.Stdin, &f.Stdout, &f.Stderr, &f.Console, &f.CallerIn, &f.CallerOut}
}

func (n *Fds) all() []*int {
	return []*int{&n.Stdin, &n.Stdout, &n.Stderr, &n.Console, &n.CallerIn, &n.CallerOut}
}

// Handover makes f's descriptors survive an execve and returns their
// numbers. f must not be used afterwards in this process.
func Handover(f Files) (Fds, error) {
	n := Fds{Listener: -1}
	if f.Listener != nil {
		lf, err := f.Listener.File()
		if err != nil {
			return n, err
		}
		n.Listener = int(lf.Fd())
		if err := keepOnExec(n.Listener); err != nil {
			return n, err
		}
	}
	nums := n.all()
	for i, p := range f.all() {
		*nums[i] = -1
		if *p == nil {
			continue
		}
		*nums[i] = int((*p).Fd())
		if err := keepOnExec(*nums[i]); err != nil {
			return n, err
		}
	}
	for _, p := range f.Ports {
		fd := int(p.File.Fd())
		if err := keepOnExec(fd); err != nil {
			return n, err
		}
		n.Ports = append(n.Ports, PortFd{Proto: p.Proto, Target: p.Target, Fd: fd})
	}
	return n, nil
}

func keepOnExec(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	return err
}

// Adopt turns the descriptors Handover numbered into Files, in the process
// that execve started.
func Adopt(n Fds) (Files, error) {
	var f Files
	if n.Listener >= 0 {
		unix.CloseOnExec(n.Listener)
		lf := os.NewFile(uintptr(n.Listener), "shim.sock")
		l, err := net.FileListener(lf)
		lf.Close()
		if err != nil {
			return f, fmt.Errorf("adopt the shim's socket: %w", err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			return f, fmt.Errorf("adopt the shim's socket: not a unix socket")
		}
		f.Listener = ul
	}
	nums := n.all()
	for i, p := range f.all() {
		if *nums[i] >= 0 {
			unix.CloseOnExec(*nums[i])
			*p = os.NewFile(uintptr(*nums[i]), "stdio")
		}
	}
	for _, p := range n.Ports {
		unix.CloseOnExec(p.Fd)
		f.Ports = append(f.Ports, PublishedPort{Proto: p.Proto, Target: p.Target, File: os.NewFile(uintptr(p.Fd), "port")})
	}
	return f, nil
}

// Backend does what needs the container runtime.
type Backend interface {
	// Exec runs the exec request req on c, answering there until the
	// process exits; files came with req. It owns c and files.
	Exec(c *net.UnixConn, req shimapi.Request, files []*os.File)
	// Do runs pause, resume, ps, stats, oomkills, update, kill (of every
	// process with All, or a SIGKILL that needs the runtime) and destroy.
	Do(req shimapi.Request) (shimapi.Response, error)
}

// Monitor serves one container.
type Monitor struct {
	cfg     Config
	files   Files
	backend Backend
	dir     string
	init    *os.Process

	// io counts the goroutines copying the init's output; the exit is
	// reported once they have drained it, and outputEnded is closed.
	io          sync.WaitGroup
	outputEnded chan struct{}
	// holdsStdio says the monitor holds the init's streams (pipes or the
	// pty master), so clients can attach to them.
	holdsStdio bool
	attached   Fanout
	// stdin is the init's stdin held open for attached clients, or the pty
	// master; closed after the first attach with StdinOnce.
	stdin      *os.File
	stdinClose sync.Once

	forks chan func() // run by Run's goroutine (OnMain)

	exited     chan struct{} // closed when the init has been reaped
	exitStatus int           // valid once exited is closed

	// initExe is the executable the init was created with (the runtime's
	// init, until it execs the container's program); ran is set once it
	// has exec'd. See signalInit.
	initExe    fileID
	hasInitExe bool
	ran        atomic.Bool

	// mu serialises start, pause, resume and delete.
	mu      sync.Mutex
	paused  atomic.Bool
	done    chan int // takes the exit code once the container is deleted
	closing atomic.Bool

	// ports are the relays of the published ports, closed when the init
	// exits (the host ports are free again for the next start).
	ports []io.Closer
}

// New starts serving the container's streams and reaping its init; Run
// serves the socket. With a create still pending (cfg.Pending) the init
// is reaped only from Created on: until then FinishCreate may have to
// kill and reap it itself.
func New(cfg Config, files Files, backend Backend) (*Monitor, error) {
	init, err := os.FindProcess(cfg.Record.Pid)
	if err != nil {
		return nil, fmt.Errorf("monitor %s: find the init: %w", cfg.ID, err)
	}
	m := &Monitor{
		cfg: cfg, files: files, backend: backend, init: init,
		dir:    filepath.Join(cfg.Root, "shims", cfg.ID),
		forks:  make(chan func()),
		exited: make(chan struct{}), outputEnded: make(chan struct{}), done: make(chan int, 1),
	}
	m.attached.Log = NewJSONLog(cfg.LogPath)
	if cfg.LogFormat == "cri" {
		m.attached.Log = NewCRILog(cfg.LogPath)
	}
	if files.Stdout != nil {
		m.holdsStdio = true
		m.io.Add(1)
		go func() { defer m.io.Done(); m.pump("stdout", files.Stdout) }()
	}
	if files.Stderr != nil {
		m.holdsStdio = true
		m.io.Add(1)
		go func() { defer m.io.Done(); m.pump("stderr", files.Stderr) }()
	}
	m.stdin = files.Stdin
	if c := files.Console; c != nil {
		if files.CallerIn != nil && files.CallerOut != nil {
			// Foreground with a terminal: the caller's streams meet the pty here.
			go func() { io.Copy(c, files.CallerIn); files.CallerIn.Close() }()
			m.io.Add(1)
			go func() { defer m.io.Done(); io.Copy(files.CallerOut, c); files.CallerOut.Close() }()
		} else {
			m.holdsStdio = true
			m.stdin = c
			m.io.Add(1)
			go func() { defer m.io.Done(); m.pump("stdout", c) }()
		}
	}
	for i, p := range files.Ports {
		r, err := Relay(p)
		if err != nil {
			for _, q := range files.Ports[i+1:] {
				q.File.Close()
			}
			m.closePorts()
			return nil, fmt.Errorf("monitor %s: %w", cfg.ID, err)
		}
		m.ports = append(m.ports, r)
	}
	m.initExe, m.hasInitExe = exeOf(init.Pid)
	go func() { m.io.Wait(); close(m.outputEnded) }()
	if cfg.Pending == nil {
		go m.reap()
	}
	return m, nil
}

// Created starts reaping the init of a create that was pending when New
// made m, once FinishCreate has reported it created.
func (m *Monitor) Created() { go m.reap() }

// OnMain runs fn on the goroutine that called Run (the shim's main thread;
// see the shim's note on forks and the parent death signal).
func (m *Monitor) OnMain(fn func()) {
	done := make(chan struct{})
	m.forks <- func() { defer close(done); fn() }
	<-done
}

// Run serves the socket until the container is deleted and returns the
// process's exit code. With report (a foreground run) it deletes the
// container itself when the init exits and sends the exit status there.
func (m *Monitor) Run(report io.Writer) int {
	failed := make(chan struct{})
	go func() {
		for {
			c, err := m.files.Listener.AcceptUnix()
			if err != nil {
				if !m.closing.Load() {
					slog.Error("accept", "error", err)
					close(failed)
				}
				return
			}
			go m.serve(c)
		}
	}()
	var exited chan struct{} // the init's exit, watched only for a foreground run
	if report != nil {
		exited = m.exited
	}
	for {
		select {
		case fn := <-m.forks:
			fn()
		case <-failed:
			return 1
		case code := <-m.done:
			if report != nil {
				// Deleted through the socket before the init exited.
				b, _ := json.Marshal(shimapi.Response{Exit: m.exitStatus, Done: true})
				report.Write(b)
			}
			return code
		case <-exited:
			m.closing.Store(true)
			m.files.Listener.Close()
			resp := shimapi.Response{Exit: m.exitStatus, Done: true}
			if err := m.delete(true); err != nil {
				resp = shimapi.ErrorResponse(err)
				resp.Exit = m.exitStatus
			}
			b, _ := json.Marshal(resp)
			report.Write(b)
			return 0
		}
	}
}

// reap waits for the init, records its exit status and lets waiters go.
func (m *Monitor) reap() {
	status := 255
	if ps, err := m.init.Wait(); err == nil {
		status = ExitCode(ps)
	} else {
		slog.Error("wait for the init", "container", m.cfg.ID, "error", err)
	}
	m.closePorts()
	// Give the output a moment to drain; processes outside a private pid
	// namespace may still hold the pipes.
	select {
	case <-m.outputEnded:
	case <-time.After(2 * time.Second):
	}
	if err := writeJSON(filepath.Join(m.dir, "exit.json"), shimapi.ExitRecord{Status: status, At: time.Now().UTC()}); err != nil {
		slog.Error("record exit status", "container", m.cfg.ID, "error", err)
	}
	m.exitStatus = status
	close(m.exited)
}

// closePorts stops relaying the published ports and frees them.
func (m *Monitor) closePorts() {
	for _, r := range m.ports {
		r.Close()
	}
}

// ExitCode is a process's exit status as a shell reports it: the code, or
// 128+signal for a killed one.
func ExitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (m *Monitor) hasExited() bool {
	select {
	case <-m.exited:
		return true
	default:
		return false
	}
}

// serve answers the requests of one connection.
func (m *Monitor) serve(c *net.UnixConn) {
	var req shimapi.Request
	files, err := shimapi.Recv(c, &req)
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		c.Close()
		return
	}
	switch req.Op {
	case "exec":
		if m.hasExited() {
			shimapi.Send(c, shimapi.ErrorResponse(fmt.Errorf("exec in %s: the container is stopped: %w", m.cfg.ID, errdefs.ErrConflict)))
			closeAll(files)
			c.Close()
			return
		}
		m.backend.Exec(c, req, files)
		return
	case "attach":
		defer c.Close()
		m.attach(c, req, files)
		return
	}
	defer c.Close()
	closeAll(files)
	resp, err := m.handle(req)
	if err != nil {
		resp = shimapi.ErrorResponse(err)
	}
	shimapi.Send(c, resp)
	if req.Op == "delete" && err == nil {
		m.closing.Store(true)
		m.files.Listener.Close()
		m.done <- 0
		// Keep c open: the client takes its closing, when this process
		// exits, as the sign that the shim is gone.
		select {}
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (m *Monitor) fifo() string { return filepath.Join(m.cfg.Root, "state", m.cfg.ID, "exec.fifo") }

func (m *Monitor) status() string {
	switch {
	case m.hasExited():
		return shimapi.StatusStopped
	case m.paused.Load():
		return shimapi.StatusPaused
	}
	if _, err := os.Lstat(m.fifo()); err == nil {
		return shimapi.StatusCreated
	}
	return shimapi.StatusRunning
}

func (m *Monitor) state() *shimapi.State {
	r := m.cfg.Record
	st := &shimapi.State{
		OCIVersion: specs.Version, ID: m.cfg.ID, Bundle: r.Bundle, Rootfs: r.Rootfs,
		Annotations: m.cfg.Annotations, Created: r.Created, Owner: r.Owner, ShimPID: os.Getpid(),
		Status: m.status(), LogDropped: m.attached.Log.Dropped(),
	}
	if st.Status == shimapi.StatusStopped {
		exit := m.exitStatus
		st.ExitStatus = &exit
	} else {
		st.Pid = r.Pid
	}
	return st
}

func conflict(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrConflict)...)
}

func (m *Monitor) handle(req shimapi.Request) (shimapi.Response, error) {
	switch req.Op {
	case "state":
		return shimapi.Response{State: m.state()}, nil
	case "start":
		return shimapi.Response{}, m.Start()
	case "kill":
		return shimapi.Response{}, m.kill(req)
	case "wait":
		<-m.exited
		resp := shimapi.Response{Exit: m.exitStatus}
		// The cgroup stays until delete: its OOM kills are final now.
		if n, ok := m.oomKills(); ok {
			resp.ExitOOMKills = &n
		}
		return resp, nil
	case "resize":
		if m.files.Console == nil {
			return shimapi.Response{}, conflict("resize %s: the shim holds no terminal for it", m.cfg.ID)
		}
		return shimapi.Response{}, unix.IoctlSetWinsize(int(m.files.Console.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: req.Width, Row: req.Height})
	case "delete":
		return shimapi.Response{}, m.delete(req.Force)
	case "reopen-log":
		return shimapi.Response{}, m.attached.Log.Reopen()
	case "pause", "resume":
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.hasExited() {
			return shimapi.Response{}, conflict("%s %s: the container is stopped", req.Op, m.cfg.ID)
		}
		resp, err := m.backend.Do(req)
		if err == nil {
			m.paused.Store(req.Op == "pause")
		}
		return resp, err
	case "oomkills":
		// Asked after the exit too: the cgroup stays until delete.
		if n, ok := m.oomKills(); ok {
			return shimapi.Response{OOMKills: n}, nil
		}
		return m.backend.Do(req)
	case "stats", "ps", "update":
		if m.hasExited() {
			return shimapi.Response{}, conflict("%s %s: the container is stopped", req.Op, m.cfg.ID)
		}
		return m.backend.Do(req)
	}
	return shimapi.Response{}, fmt.Errorf("unknown request %q: %w", req.Op, errdefs.ErrInvalidArgument)
}

// Start lets the init exec the container's process: the init waits,
// blocked opening libcontainer's exec fifo for writing, until it is opened
// for reading; it then writes a byte and execs.
func (m *Monitor) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.status(); st != shimapi.StatusCreated {
		return conflict("start %s: the container is %s, not created", m.cfg.ID, st)
	}
	opened := make(chan *os.File, 1)
	openErr := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(m.fifo(), os.O_RDONLY, 0)
		if err != nil {
			openErr <- err
			return
		}
		opened <- f
	}()
	var f *os.File
	select {
	case f = <-opened:
	case err := <-openErr:
		return fmt.Errorf("start %s: exec fifo: %w", m.cfg.ID, err)
	case <-m.exited:
		// The init died: before it opened the fifo (unblock our open), or
		// after it wrote to it and ran the process, which was quick (both
		// cases were ready together): what the fifo holds tells.
		if w, err := os.OpenFile(m.fifo(), os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		select {
		case f = <-opened:
		case <-openErr:
			return conflict("start %s: the container's process is already dead", m.cfg.ID)
		}
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("start %s: exec fifo: %w", m.cfg.ID, err)
	}
	if len(b) == 0 {
		return conflict("start %s: the container's process is already dead", m.cfg.ID)
	}
	if err := os.Remove(m.fifo()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start %s: %w", m.cfg.ID, err)
	}
	return nil
}

func (m *Monitor) kill(req shimapi.Request) error {
	if m.hasExited() {
		return conflict("kill %s: the container is stopped", m.cfg.ID)
	}
	sig := unix.Signal(req.Signal)
	if req.Signal == 0 {
		sig = unix.SIGTERM
	}
	req.Signal = int(sig)
	// Every process, or a SIGKILL that must reach every process (no pid
	// namespace of its own) or thaw a paused container: the runtime's work.
	if req.All || (sig == unix.SIGKILL && (m.cfg.SharedPidNS || m.paused.Load())) {
		_, err := m.backend.Do(req)
		return err
	}
	// The init is this process's child and reaped only here, so its pid
	// (held as a pidfd) cannot name another process.
	if err := m.signalInit(sig, req.Redeliver); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return conflict("kill %s: the container is stopped", m.cfg.ID)
		}
		return fmt.Errorf("kill %s: %w", m.cfg.ID, err)
	}
	return nil
}

// delete destroys the container (through the backend), waits for the init
// to be reaped and removes the shim folder.
func (m *Monitor) delete(force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.hasExited() && !force {
		if st := m.status(); st == shimapi.StatusRunning || st == shimapi.StatusPaused {
			return conflict("delete %s: the container is %s; stop it or delete with force", m.cfg.ID, st)
		}
	}
	if !m.hasExited() || !m.destroyStopped() {
		if _, err := m.backend.Do(shimapi.Request{Op: "destroy"}); err != nil {
			return err
		}
	}
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		slog.Warn("delete: the init was not reaped in time", "container", m.cfg.ID)
	}
	if err := os.RemoveAll(m.dir); err != nil {
		return fmt.Errorf("delete %s: %w", m.cfg.ID, err)
	}
	return nil
}

// closeStdin closes the container's stdin once (StdinOnce).
func (m *Monitor) closeStdin() {
	m.stdinClose.Do(func() {
		if m.stdin != nil && !m.cfg.Terminal {
			m.stdin.Close()
		}
	})
}

func writeJSON(p string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
