package runtime

// The shim: cmd/hull-shim calls ShimMain. One shim runs per container; it
// is the parent of the container's init, holds its stdio, writes its log,
// reaps it, and answers requests on <shimdir>/shim.sock until Delete.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	// The device cgroup controller registers itself with the cgroup
	// managers; without it libcontainer refuses to apply the device
	// allowlist (and so to start any container).
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

type shim struct {
	id, bundle, dir string
	spec            *specs.Spec
	rec             shimRecord
	c               *libcontainer.Container
	init            *libcontainer.Process
	// console is the init's pty master when the shim holds it.
	console *os.File
	// io counts the goroutines copying the init's output; the exit is
	// reported once they have drained it, and outputEnded is closed.
	io          sync.WaitGroup
	outputEnded chan struct{}
	// holdsStdio says the shim holds the init's streams (pipes or the pty
	// master), so clients can attach to them.
	holdsStdio bool
	attached   attachers
	// stdin is the init's stdin held open for attached clients (OpenStdin),
	// or the pty master; closed after the first attach with stdinOnce.
	stdin      *os.File
	openStdin  bool
	stdinOnce  bool
	stdinClose sync.Once

	forks chan func() // run by the main goroutine (onMain)

	exited     chan struct{} // closed when the init has been reaped
	exitStatus int           // valid once exited is closed

	// mu serialises start, delete and the other changes of state.
	mu sync.Mutex
	// done takes the shim's exit code once the container is deleted.
	done    chan int
	closing atomic.Bool
}

// ShimMain is the shim's main function: it creates the container described
// by the flags in args, reports to the creating process on fd 3 (one JSON
// response, then EOF), and serves its socket until the container is
// deleted. It returns the process's exit code.
//
// With --run (Runtime.Run) it also starts the container at once, and when
// the init exits it deletes the container itself and sends a second
// response on fd 3, the exit status, before it closes it: a foreground run
// needs no start, wait or delete round trip.
func ShimMain(args []string) int {
	steps := []TimedStep{{Name: "shim started", At: time.Now()}}
	fs := flag.NewFlagSet("hull-shim", flag.ContinueOnError)
	root := fs.String("root", DefaultRoot, "the runtime's state root")
	id := fs.String("id", "", "container id")
	bundle := fs.String("bundle", "", "bundle folder")
	pidFile := fs.String("pid-file", "", "file to write the init's pid to")
	logPath := fs.String("log", "", "json-file log of the container's output")
	noPivot := fs.Bool("no-pivot", false, "do not use pivot_root")
	consoleFd := fs.Int("console-fd", -1, "fd of the console socket")
	stdioFd := fs.Int("stdio-fd", -1, "first of three fds for the init's stdin, stdout, stderr")
	openStdin := fs.Bool("open-stdin", false, "hold the init's stdin open for attached clients")
	stdinOnce := fs.Bool("stdin-once", false, "close the init's stdin when the first attached client's ends")
	run := fs.Bool("run", false, "start at once; delete and report the exit status on fd 3 when the init exits")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ready := os.NewFile(3, "ready")
	// The container's init is the grandchild of the process libcontainer
	// forks (nsexec's stages); as a subreaper the shim becomes its parent,
	// so it can reap it and the init's parent death signal follows the shim.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		b, _ := json.Marshal(errorResponse(fmt.Errorf("become a subreaper: %w", err)))
		ready.Write(b)
		return 1
	}
	r := New(*root)
	s := &shim{id: *id, bundle: *bundle, dir: r.shimDir(*id), exited: make(chan struct{}), forks: make(chan func()), done: make(chan int, 1), outputEnded: make(chan struct{}), openStdin: *openStdin, stdinOnce: *stdinOnce}
	var console, stdio []*os.File
	if *consoleFd >= 0 {
		console = []*os.File{os.NewFile(uintptr(*consoleFd), "console")}
	}
	if *stdioFd >= 0 {
		for i := range 3 {
			stdio = append(stdio, os.NewFile(uintptr(*stdioFd+i), "stdio"))
		}
	}
	if *logPath == "" {
		*logPath = filepath.Join(s.dir, "container.log")
	}
	warnings, err := s.create(r, *logPath, *pidFile, *noPivot, console, stdio)
	for _, f := range append(console, stdio...) {
		f.Close()
	}
	var l *net.UnixListener
	if err == nil {
		err = viaShortPath(s.dir, func(dir string) (err error) {
			l, err = net.ListenUnix("unixpacket", &net.UnixAddr{Net: "unixpacket", Name: filepath.Join(dir, "shim.sock")})
			return err
		})
		if err != nil {
			destroyContainer(s.c)
		}
	}
	if err == nil && *run {
		if err = s.c.Exec(); err != nil {
			err = conflict("start", s.id, err)
			l.Close()
			destroyContainer(s.c)
		}
	}
	if err != nil {
		slog.Error("create", "container", s.id, "error", err)
		b, _ := json.Marshal(errorResponse(err))
		ready.Write(b)
		return 1
	}
	for _, w := range warnings {
		slog.Warn(w, "container", s.id)
	}
	steps = append(steps, TimedStep{Name: "container created (init waiting to start)", At: time.Now()})
	b, _ := json.Marshal(response{Pid: s.rec.Pid, Warnings: warnings, Steps: steps})
	ready.Write(b)
	var exited chan struct{} // the init's exit, watched only with --run
	if *run {
		exited = s.exited
	} else {
		ready.Close()
	}

	go func() { s.io.Wait(); close(s.outputEnded) }()
	go s.reap()
	failed := make(chan struct{})
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				if !s.closing.Load() {
					slog.Error("accept", "error", err)
					close(failed)
				}
				return
			}
			go s.serve(l, c)
		}
	}()
	// This goroutine forked the init and forks every exec'd process (see
	// onMain): it must outlive them.
	for {
		select {
		case fn := <-s.forks:
			fn()
		case <-failed:
			return 1
		case code := <-s.done:
			if *run {
				// Deleted through the socket before the init exited.
				b, _ := json.Marshal(response{Exit: s.exitStatus, Done: true})
				ready.Write(b)
			}
			return code
		case <-exited:
			s.closing.Store(true)
			l.Close()
			resp := response{Exit: s.exitStatus, Done: true}
			if err := s.delete(true); err != nil {
				resp = errorResponse(err)
				resp.Exit = s.exitStatus
			}
			b, _ := json.Marshal(resp)
			ready.Write(b)
			return 0
		}
	}
}

// onMain runs fn on the shim's main goroutine, which cmd/hull-shim locks
// to the main thread. Every process of the container must be forked there:
// nsexec forks its stages with CLONE_PARENT, so their parent, the one whose
// death sends them the parent death signal Init arms, is the *thread* that
// forked the first stage; and the Go runtime ends a thread when a goroutine
// locked to it returns, as libcontainer's mount-source goroutine does during
// a start. A fork from an arbitrary thread let that kill a container just
// created (seen as exit 137 under load).
func (s *shim) onMain(fn func()) {
	done := make(chan struct{})
	s.forks <- func() { defer close(done); fn() }
	<-done
}

// create makes and starts (up to the exec fifo) the container.
func (s *shim) create(r *Runtime, logPath, pidFile string, noPivot bool, console, stdio []*os.File) (_ []string, retErr error) {
	if err := os.Chdir(s.bundle); err != nil {
		return nil, invalid("bundle %s: %v", s.bundle, err)
	}
	spec, rootfs, warnings, err := loadSpec(s.bundle)
	if err != nil {
		return nil, err
	}
	s.spec = spec
	cfg, err := libcontainerConfig(s.id, spec, noPivot)
	if err != nil {
		return nil, err
	}
	c, err := libcontainer.Create(r.stateRoot(), s.id, cfg)
	if errors.Is(err, libcontainer.ErrExist) {
		return nil, fmt.Errorf("container %q: %w", s.id, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", s.id, err)
	}
	s.c = c
	defer func() {
		if retErr != nil {
			if err := destroyContainer(c); err != nil {
				slog.Error("destroy after a failed create", "container", s.id, "error", err)
			}
		}
	}()
	p, err := newProcess(spec.Process)
	if err != nil {
		return nil, err
	}
	p.Init = true
	addressSpace := takeRlimit(&p.Rlimits, unix.RLIMIT_AS)
	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	var consoleRecv *os.File
	log := &jsonLog{path: logPath}
	switch {
	case spec.Process.Terminal && len(console) > 0:
		p.ConsoleSocket = console[0]
	case spec.Process.Terminal:
		send, recv, err := socketpair()
		if err != nil {
			return nil, err
		}
		closeAfter = append(closeAfter, send)
		consoleRecv = recv
		defer recv.Close()
		p.ConsoleSocket = send
	case len(stdio) == 3:
		p.Stdin, p.Stdout, p.Stderr = stdio[0], stdio[1], stdio[2]
	default:
		outR, outW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		closeAfter = append(closeAfter, outW, errW)
		p.Stdout, p.Stderr = outW, errW
		if s.openStdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			closeAfter = append(closeAfter, inR)
			p.Stdin, s.stdin = inR, inW
		}
		s.holdsStdio = true
		s.io.Add(2)
		go func() { defer s.io.Done(); s.pump("stdout", outR, log) }()
		go func() { defer s.io.Done(); s.pump("stderr", errR, log) }()
	}
	if err := c.Start(p); err != nil {
		return nil, fmt.Errorf("create container %s: %w", s.id, err)
	}
	s.init = p
	if addressSpace != nil {
		// The init has compiled its seccomp filter and waits on the exec
		// fifo; the limit now holds for what it executes.
		pid, _ := p.Pid()
		if err := unix.Prlimit(pid, unix.RLIMIT_AS, &unix.Rlimit{Cur: addressSpace.Soft, Max: addressSpace.Hard}, nil); err != nil {
			return nil, fmt.Errorf("create container %s: set RLIMIT_AS: %w", s.id, err)
		}
	}
	if consoleRecv != nil {
		master, err := recvFile(consoleRecv)
		if err != nil {
			return nil, fmt.Errorf("create container %s: receive its pty: %w", s.id, err)
		}
		s.console = master
		if len(stdio) == 3 {
			// Foreground with a terminal: the caller's streams meet the pty here.
			in, out := dupFile(stdio[0]), dupFile(stdio[1])
			go func() { io.Copy(master, in); in.Close() }()
			s.io.Add(1)
			go func() { defer s.io.Done(); io.Copy(out, master); out.Close() }()
		} else {
			s.holdsStdio = true
			s.stdin = master
			s.io.Add(1)
			go func() { defer s.io.Done(); s.pump("stdout", master, log) }()
		}
	}
	pid, err := p.Pid()
	if err != nil {
		return nil, err
	}
	st, err := c.State()
	if err != nil {
		return nil, err
	}
	s.rec = shimRecord{Bundle: s.bundle, Rootfs: rootfs, Created: st.Created, ShimPID: os.Getpid(), Pid: pid, Owner: owner()}
	if err := writeJSON(filepath.Join(s.dir, "shim.json"), s.rec); err != nil {
		return nil, err
	}
	if pidFile != "" {
		if err := writeAtomic(pidFile, []byte(strconv.Itoa(pid))); err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
	}
	return warnings, nil
}

func owner() string {
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func dupFile(f *os.File) *os.File {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return f
	}
	return os.NewFile(uintptr(fd), f.Name())
}

// reap waits for the init, records its exit status and lets waiters go.
func (s *shim) reap() {
	status := waitExit(s.init)
	// Give the output a moment to drain; processes outside a private pid
	// namespace may still hold the pipes.
	drained := make(chan struct{})
	go func() { s.io.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}
	if err := writeJSON(filepath.Join(s.dir, "exit.json"), exitRecord{Status: status, At: time.Now().UTC()}); err != nil {
		slog.Error("record exit status", "container", s.id, "error", err)
	}
	s.exitStatus = status
	close(s.exited)
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (s *shim) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// serve answers the requests of one connection.
func (s *shim) serve(l *net.UnixListener, c *net.UnixConn) {
	defer c.Close()
	var req request
	files, err := recv(c, &req)
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return
	}
	switch req.Op {
	case "exec":
		s.exec(c, req, files)
		return
	case "attach":
		s.attach(c, req, files)
		return
	}
	for _, f := range files {
		f.Close()
	}
	resp, err := s.handle(req)
	if err != nil {
		resp = errorResponse(err)
	}
	send(c, resp)
	if req.Op == "delete" && err == nil {
		s.closing.Store(true)
		l.Close()
		s.done <- 0
		// Keep c open: the client takes its closing, when this process
		// exits, as the sign that the shim is gone.
		select {}
	}
}

func (s *shim) state() (*State, error) {
	st := &State{
		OCIVersion: specs.Version, ID: s.id, Bundle: s.bundle, Rootfs: s.rec.Rootfs,
		Annotations: s.spec.Annotations, Created: s.rec.Created, Owner: s.rec.Owner, ShimPID: os.Getpid(),
	}
	if s.hasExited() {
		st.Status = StatusStopped
		exit := s.exitStatus
		st.ExitStatus = &exit
		return st, nil
	}
	status, err := s.c.Status()
	if err != nil {
		return nil, fmt.Errorf("state of %s: %w", s.id, err)
	}
	st.Status = status.String()
	if status != libcontainer.Stopped {
		st.Pid = s.rec.Pid
	}
	return st, nil
}

// conflict classifies libcontainer's state errors.
func conflict(op, id string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, libcontainer.ErrNotRunning) || errors.Is(err, libcontainer.ErrNotPaused) ||
		errors.Is(err, libcontainer.ErrPaused) || errors.Is(err, libcontainer.ErrRunning) {
		return fmt.Errorf("%s %s: %v: %w", op, id, err, errdefs.ErrConflict)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}

func (s *shim) handle(req request) (response, error) {
	switch req.Op {
	case "state":
		st, err := s.state()
		return response{State: st}, err
	case "start":
		s.mu.Lock()
		defer s.mu.Unlock()
		st, err := s.state()
		if err != nil {
			return response{}, err
		}
		if st.Status != StatusCreated {
			return response{}, fmt.Errorf("start %s: the container is %s, not created: %w", s.id, st.Status, errdefs.ErrConflict)
		}
		if err := s.c.Exec(); err != nil {
			return response{}, conflict("start", s.id, err)
		}
		return response{}, nil
	case "kill":
		if s.hasExited() {
			return response{}, fmt.Errorf("kill %s: the container is stopped: %w", s.id, errdefs.ErrConflict)
		}
		sig := unix.Signal(req.Signal)
		if req.Signal == 0 {
			sig = unix.SIGTERM
		}
		if req.All {
			pids, err := s.c.Processes()
			if err != nil {
				return response{}, conflict("kill", s.id, err)
			}
			for _, pid := range pids {
				unix.Kill(pid, sig)
			}
			return response{}, nil
		}
		return response{}, conflict("kill", s.id, s.c.Signal(sig))
	case "wait":
		<-s.exited
		return response{Exit: s.exitStatus}, nil
	case "pause":
		return response{}, conflict("pause", s.id, s.c.Pause())
	case "resume":
		return response{}, conflict("resume", s.id, s.c.Resume())
	case "ps":
		pids, err := s.c.Processes()
		if err != nil {
			return response{}, conflict("ps", s.id, err)
		}
		return response{Pids: pids}, nil
	case "stats":
		st, err := s.stats()
		return response{Stats: st}, err
	case "resize":
		if s.console == nil {
			return response{}, fmt.Errorf("resize %s: the shim holds no terminal for it: %w", s.id, errdefs.ErrConflict)
		}
		return response{}, resize(s.console, req.Width, req.Height)
	case "update":
		cfg := s.c.Config()
		applyResources(cfg.Cgroups.Resources, req.Resources)
		if err := s.c.Set(cfg); err != nil {
			return response{}, conflict("update", s.id, err)
		}
		return response{}, nil
	case "delete":
		return response{}, s.delete(req.Force)
	}
	return response{}, fmt.Errorf("unknown request %q: %w", req.Op, errdefs.ErrInvalidArgument)
}

func (s *shim) stats() (*Stats, error) {
	if s.hasExited() {
		return nil, fmt.Errorf("stats %s: the container is stopped: %w", s.id, errdefs.ErrConflict)
	}
	st, err := s.c.Stats()
	if err != nil {
		return nil, conflict("stats", s.id, err)
	}
	out := &Stats{}
	if cg := st.CgroupStats; cg != nil {
		out.CPUUsageNS = cg.CpuStats.CpuUsage.TotalUsage
		out.MemoryUsage = cg.MemoryStats.Usage.Usage
		out.MemoryLimit = cg.MemoryStats.Usage.Limit
		out.PidsCurrent = cg.PidsStats.Current
		out.PidsLimit = cg.PidsStats.Limit
		for _, e := range cg.BlkioStats.IoServiceBytesRecursive {
			switch e.Op {
			case "Read", "read":
				out.BlkioRead += e.Value
			case "Write", "write":
				out.BlkioWrite += e.Value
			}
		}
	}
	return out, nil
}

func (s *shim) delete(force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasExited() && !force {
		st, err := s.state()
		if err == nil && (st.Status == StatusRunning || st.Status == StatusPaused) {
			return fmt.Errorf("delete %s: the container is %s; stop it or delete with force: %w", s.id, st.Status, errdefs.ErrConflict)
		}
	}
	if err := destroyContainer(s.c); err != nil {
		stateDir := filepath.Join(filepath.Dir(filepath.Dir(s.dir)), "state", s.id)
		if _, serr := os.Stat(stateDir); !errors.Is(serr, os.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", s.id, err)
		}
		// The container is gone and only a poststop hook failed: the OCI
		// spec has the runtime log it and go on as if it had succeeded.
		slog.Warn("delete: a poststop hook failed", "container", s.id, "err", err)
	}
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		slog.Warn("delete: the init was not reaped in time", "container", s.id)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("delete %s: %w", s.id, err)
	}
	return nil
}

// exec runs a process in the container; the connection stays open until it
// exits, and carries its exit status last.
func (s *shim) exec(c *net.UnixConn, req request, files []*os.File) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	fail := func(err error) { send(c, errorResponse(err)) }
	if s.hasExited() {
		fail(fmt.Errorf("exec in %s: the container is stopped: %w", s.id, errdefs.ErrConflict))
		return
	}
	if req.Process == nil {
		fail(fmt.Errorf("exec in %s: no process: %w", s.id, errdefs.ErrInvalidArgument))
		return
	}
	var warnings []string // the host's limits, as at create; logged only
	if err := fitCapabilities(req.Process.Capabilities, &warnings); err != nil {
		fail(invalid("exec in %s: %v", s.id, err))
		return
	}
	if err := fitRlimits(req.Process.Rlimits, &warnings); err != nil {
		fail(invalid("exec in %s: %v", s.id, err))
		return
	}
	for _, w := range warnings {
		slog.Warn(w, "container", s.id)
	}
	p, err := newProcess(req.Process)
	if err != nil {
		fail(err)
		return
	}
	fds := map[string]*os.File{}
	for i, name := range req.Fds {
		if i < len(files) {
			fds[name] = files[i]
		}
	}
	var consoleRecv *os.File
	if req.Process.Terminal {
		if f := fds["console"]; f != nil {
			p.ConsoleSocket = f
		} else {
			send, recv, err := socketpair()
			if err != nil {
				fail(err)
				return
			}
			defer send.Close()
			defer recv.Close()
			p.ConsoleSocket, consoleRecv = send, recv
		}
	} else {
		if f := fds["stdin"]; f != nil {
			p.Stdin = f
		}
		if f := fds["stdout"]; f != nil {
			p.Stdout = f
		}
		if f := fds["stderr"]; f != nil {
			p.Stderr = f
		}
	}
	var runErr error
	s.onMain(func() { runErr = s.c.Run(p) })
	if runErr != nil {
		fail(conflict("exec in", s.id, runErr))
		return
	}
	pid, _ := p.Pid()
	resp := response{Pid: pid}
	if consoleRecv != nil {
		master, err := recvFile(consoleRecv)
		if err != nil {
			p.Signal(unix.SIGKILL)
			p.Wait()
			fail(fmt.Errorf("exec in %s: receive its pty: %w", s.id, err))
			return
		}
		send(c, resp, master)
		master.Close()
	} else {
		send(c, resp)
	}
	for _, f := range files {
		f.Close()
	}
	files = nil
	send(c, response{Done: true, Exit: waitExit(p)})
}

// waitExit waits for a process of the container and returns its exit
// status as a shell reports it (128+signal for a killed one, 255 when
// the kernel told nothing).
func waitExit(p *libcontainer.Process) int {
	ps, err := p.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ps = ee.ProcessState
	}
	if ps == nil {
		return 255
	}
	return exitCode(ps)
}

func socketpair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-send"), os.NewFile(uintptr(fds[1]), "console-recv"), nil
}

// recvFile receives one descriptor, as libcontainer's init sends the pty
// master over the console socket.
func recvFile(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return nil, fmt.Errorf("no descriptor received")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) == 0 {
			return nil, fmt.Errorf("no descriptor received")
		}
		return os.NewFile(uintptr(fds[0]), "/dev/ptmx"), nil
	}
}

func resize(f *os.File, w, h uint16) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: w, Row: h})
}

// jsonLog writes lines in Docker's json-file format.
type jsonLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (l *jsonLog) write(stream string, line []byte) {
	b, _ := json.Marshal(struct {
		Log    string `json:"log"`
		Stream string `json:"stream"`
		Time   string `json:"time"`
	}{string(line), stream, time.Now().UTC().Format(time.RFC3339Nano)})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return
		}
		l.f = f
	}
	l.f.Write(append(b, '\n'))
}

func writeJSON(p string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(p, b)
}

func writeAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
