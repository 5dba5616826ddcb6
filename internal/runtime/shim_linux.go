package runtime

// The shim: cmd/hull-shim calls ShimMain. One shim runs per container; it
// is the parent of the container's init, holds its stdio, writes its log,
// reaps it, and answers requests on <shimdir>/shim.sock until Delete.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	// The device cgroup controller registers itself with the cgroup
	// managers; without it libcontainer refuses to apply the device
	// allowlist (and so to start any container).
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/monitor"
)

// shim is the libcontainer side of a container's shim: it creates the
// container, and as the monitor's Backend it does what needs libcontainer.
// In a detached shim that is done by `hull-shim helper` processes once the
// shim has replaced itself with hull-monitor (see package monitor).
type shim struct {
	id, bundle, dir string
	spec            *specs.Spec
	rec             shimRecord
	c               *libcontainer.Container
	// files are the init's streams the monitor takes over.
	files     monitor.Files
	openStdin bool
	// mon is the in-process monitor, whose goroutine forks (OnMain); nil
	// in a helper, which forks from its main goroutine directly.
	mon *monitor.Monitor
	// init is the init the shim was asked for (InitAuto, InitLean,
	// InitLibcontainer); steps is the create's trace, past "shim started".
	init  string
	steps []TimedStep
	// sealedInit is the sealed copy of hull-init the caller handed over
	// (--init-fd); nil: the shim seals one itself.
	sealedInit *os.File
	// After a lean create, the libcontainer handle is loaded from the
	// state it wrote (ctr) only if the shim needs it: one that becomes
	// hull-monitor never does. created is when the init was forked.
	stateRoot string
	created   time.Time
	// cgroupPaths are the container's cgroups by controller, as in its
	// libcontainer state, for the monitor (monitor.Config.CgroupPaths).
	cgroupPaths map[string]string
	// handoff: the shim becomes hull-monitor after the create, so a lean
	// create may hand it the init still setting itself up — pending, the
	// socket of the init's answer, which hull-monitor reads
	// (monitor.FinishCreate) — and the monitor's start overlaps the
	// init's setup.
	handoff bool
	pending *os.File
}

// ShimMain is the shim's main function: it creates the container described
// by the flags in args, reports to the creating process on fd 3 (one JSON
// response, then EOF), and then serves its socket until the container is
// deleted — as hull-monitor, which it execs, when that is beside it. It
// returns the process's exit code.
//
// With --run (Runtime.Run) it also starts the container at once, and when
// the init exits it deletes the container itself and sends a second
// response on fd 3, the exit status, before it closes it: a foreground run
// needs no start, wait or delete round trip. A foreground run keeps
// libcontainer in process rather than pay for a helper to delete.
//
// `hull-shim helper …` runs one request for hull-monitor (helperMain).
func ShimMain(args []string) int {
	if len(args) > 0 && args[0] == "helper" {
		return helperMain(args[1:])
	}
	if len(args) > 0 && args[0] == "spare" {
		args = spareWait()
	}
	steps := []TimedStep{{Name: "shim started", At: time.Now()}}
	if !spareWoke.IsZero() {
		steps = append([]TimedStep{{Name: "spare shim woke", At: spareWoke}}, steps...)
	}
	fs := flag.NewFlagSet("hull-shim", flag.ContinueOnError)
	root := fs.String("root", DefaultRoot, "the runtime's state root")
	id := fs.String("id", "", "container id")
	bundle := fs.String("bundle", "", "bundle folder")
	pidFile := fs.String("pid-file", "", "file to write the init's pid to")
	logPath := fs.String("log", "", "json-file log of the container's output")
	logFormat := fs.String("log-format", "", `the log's format: "" (json-file) or "cri"`)
	noPivot := fs.Bool("no-pivot", false, "do not use pivot_root")
	consoleFd := fs.Int("console-fd", -1, "fd of the console socket")
	stdioFd := fs.Int("stdio-fd", -1, "first of three fds for the init's stdin, stdout, stderr")
	openStdin := fs.Bool("open-stdin", false, "hold the init's stdin open for attached clients")
	stdinOnce := fs.Bool("stdin-once", false, "close the init's stdin when the first attached client's ends")
	run := fs.Bool("run", false, "start at once; delete and report the exit status on fd 3 when the init exits")
	portsJSON := fs.String("ports", "", "published ports to relay: JSON [{proto, target, fd}]")
	initFd := fs.Int("init-fd", -1, "a sealed copy of hull-init (memfd) to create the container with")
	inProcess := fs.Bool("in-process", false, "serve the container in this process, without exec'ing hull-monitor")
	initMode := fs.String("init", "", `the container's init: "" (the lean init where it can), "lean" or "libcontainer"`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// The client's no-op cgroup attach (warmCgroupAttach) may be a grace
	// period old by the time the lean init's attach comes: another one
	// here keeps the kernel's cgroup lock on its fast path for it.
	go warmCgroupAttach()
	ports, portsErr := adoptPorts(*portsJSON)
	ready := os.NewFile(3, "ready")
	// The container's init is the grandchild of the process libcontainer
	// forks (nsexec's stages); as a subreaper the shim becomes its parent,
	// so it can reap it and the init's parent death signal follows the shim.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		b, _ := json.Marshal(errorResponse(fmt.Errorf("become a subreaper: %w", err)))
		ready.Write(b)
		return 1
	}
	if portsErr != nil {
		b, _ := json.Marshal(errorResponse(portsErr))
		ready.Write(b)
		return 1
	}
	r := New(*root)
	s := &shim{id: *id, bundle: *bundle, dir: r.shimDir(*id), openStdin: *openStdin, init: *initMode, sealedInit: callerSealedInit(*initFd)}
	s.files.Ports = ports
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
	self, _ := os.Executable()
	monitorPath := ""
	if !*run && !*inProcess {
		monitorPath = findMonitor(self)
	}
	s.handoff = monitorPath != ""
	warnings, err := s.create(r, self, *pidFile, *noPivot, console, stdio)
	steps = append(steps, s.steps...)
	for _, f := range append(console, stdio...) {
		f.Close()
	}
	if err == nil {
		err = viaShortPath(s.dir, func(dir string) (err error) {
			s.files.Listener, err = net.ListenUnix("unixpacket", &net.UnixAddr{Net: "unixpacket", Name: filepath.Join(dir, "shim.sock")})
			return err
		})
		if err != nil {
			destroyContainer(s.ctr())
		}
	}
	var cfg monitor.Config
	if err == nil {
		cfg = monitor.Config{
			ID: s.id, Root: r.root, Record: s.rec, Annotations: s.spec.Annotations,
			Terminal: s.spec.Process.Terminal, StdinOnce: *stdinOnce, SharedPidNS: !privatePidNS(s.spec),
			LogPath: *logPath, LogFormat: *logFormat, Helper: self, CgroupPaths: s.cgroupPaths,
		}
		// A lean create had no hooks and no Intel RDT to undo: with a pid
		// namespace of its own, its delete once stopped is removing its
		// cgroups and state, which the monitor does itself.
		cfg.DeleteStopped = s.stateRoot != "" && privatePidNS(s.spec)
	}
	if err == nil && monitorPath == "" {
		if s.mon, err = monitor.New(cfg, s.files, s); err != nil {
			destroyContainer(s.ctr())
		}
	}
	if err == nil && *run {
		if err = s.mon.Start(); err != nil {
			s.files.Listener.Close()
			destroyContainer(s.ctr())
		}
	}
	if err != nil {
		slog.Error("create", "container", s.id, "error", err)
		resp := errorResponse(err)
		var ie *initError
		if errors.As(err, &ie) {
			resp = startFailure(ie.err)
		}
		b, _ := json.Marshal(resp)
		ready.Write(b)
		return 1
	}
	for _, w := range warnings {
		slog.Warn(w, "container", s.id)
	}
	if s.pending != nil {
		// hull-monitor finishes the create: it reads the init's answer
		// and answers on fd 3 (monitor.FinishCreate).
		steps = append(steps, TimedStep{Name: "lean init: handed to hull-monitor", At: time.Now()})
		cfg.Pending = &monitor.Pending{ReadyFd: 3, Response: response{Pid: s.rec.Pid, Warnings: warnings, Steps: steps}}
		err := becomeMonitor(monitorPath, cfg, s.files, s.pending)
		// Still here: finish the create in process.
		slog.Error("exec hull-monitor; the shim finishes the create and serves the container itself", "container", s.id, "error", err)
		cfg.Pending = nil
		err = initFailure(s.pending, nil)
		s.pending.Close()
		s.pending = nil
		if err != nil {
			destroyContainer(s.ctr())
			var ie *initError
			errors.As(err, &ie)
			b, _ := json.Marshal(startFailure(ie.err))
			ready.Write(b)
			return 1
		}
		steps = append(steps, TimedStep{Name: "lean init: ready", At: time.Now()})
		monitorPath = ""
	}
	steps = append(steps, TimedStep{Name: "container created (init waiting to start)", At: time.Now()})
	b, _ := json.Marshal(response{Pid: s.rec.Pid, Warnings: warnings, Steps: steps})
	ready.Write(b)
	if *run {
		return s.mon.Run(ready)
	}
	ready.Close()
	if s.mon == nil && monitorPath != "" {
		err := becomeMonitor(monitorPath, cfg, s.files, nil)
		// Still here: serve in process.
		slog.Error("exec hull-monitor; the shim serves the container itself", "container", s.id, "error", err)
	}
	if s.mon == nil {
		var err error
		if s.mon, err = monitor.New(cfg, s.files, s); err != nil {
			slog.Error("monitor", "container", s.id, "error", err)
			destroyContainer(s.ctr())
			return 1
		}
	}
	return s.mon.Run(nil)
}

// adoptPorts takes the published ports' sockets the shim was started
// with. They are close-on-exec at once: the container's init, which the
// shim forks and execs, must never hold a host socket.
func adoptPorts(arg string) ([]monitor.PublishedPort, error) {
	if arg == "" {
		return nil, nil
	}
	var fds []monitor.PortFd
	if err := json.Unmarshal([]byte(arg), &fds); err != nil {
		return nil, fmt.Errorf("--ports: %w", err)
	}
	out := make([]monitor.PublishedPort, 0, len(fds))
	for _, p := range fds {
		unix.CloseOnExec(p.Fd)
		out = append(out, monitor.PublishedPort{Proto: p.Proto, Target: p.Target, File: os.NewFile(uintptr(p.Fd), "port")})
	}
	return out, nil
}

// findMonitor finds hull-monitor beside the shim; "" when it is not there,
// and then the shim serves the container itself.
func findMonitor(self string) string {
	if self == "" {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), "hull-monitor")
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		slog.Warn("hull-monitor is not beside hull-shim: the shim keeps serving with libcontainer in memory", "path", p)
		return ""
	}
	return p
}

// becomeMonitor replaces this process with hull-monitor. It must run on
// the main thread, the one that forked the init: the init's parent death
// signal follows that thread, which execve keeps. It returns only if the
// execve failed.
//
// With cfg.Pending, pending (the init's sync socket) and fd 3 (the
// caller's pipe) are handed over too; if the execve fails, they are the
// caller's again and the files stay usable in this process.
func becomeMonitor(path string, cfg monitor.Config, files monitor.Files, pending *os.File) error {
	fds, err := monitor.Handover(files)
	if err != nil {
		return err
	}
	cfg.Fds = fds
	if cfg.Pending != nil {
		for _, fd := range []int{int(pending.Fd()), cfg.Pending.ReadyFd} {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
				return err
			}
		}
		cfg.Pending.SyncFd = int(pending.Fd())
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return syscall.Exec(path, []string{"hull-monitor", "--config", string(b)}, os.Environ())
}

func privatePidNS(spec *specs.Spec) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}

// helperMain runs one request for hull-monitor (see monitor.HelperBackend)
// on the container loaded from libcontainer's state.
func helperMain(args []string) int {
	fs := flag.NewFlagSet("hull-shim helper", flag.ContinueOnError)
	root := fs.String("root", DefaultRoot, "the runtime's state root")
	id := fs.String("id", "", "container id")
	nfiles := fs.Int("files", 0, "descriptors after fd 3 that came with the request")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		slog.Error("helper: read the request", "error", err)
		return 2
	}
	r := New(*root)
	s := &shim{id: *id, dir: r.shimDir(*id)}
	c, loadErr := libcontainer.Load(r.stateRoot(), *id)
	s.c = c
	if req.Op == "exec" {
		f := os.NewFile(3, "client")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			slog.Error("helper: the client's connection", "error", err)
			return 2
		}
		conn := nc.(*net.UnixConn)
		files := make([]*os.File, *nfiles)
		for i := range files {
			files[i] = os.NewFile(uintptr(4+i), "fd")
		}
		if loadErr != nil {
			send(conn, errorResponse(fmt.Errorf("exec in %s: %w", *id, loadErr)))
			return 1
		}
		s.Exec(conn, req, files)
		return 0
	}
	var resp response
	var err error
	switch {
	case req.Op == "destroy" && errors.Is(loadErr, libcontainer.ErrNotExist):
		// Nothing of it is left to destroy.
	case loadErr != nil:
		err = fmt.Errorf("%s %s: %w", req.Op, *id, loadErr)
	default:
		resp, err = s.Do(req)
	}
	if err != nil {
		resp = errorResponse(err)
	}
	json.NewEncoder(os.Stdout).Encode(resp)
	return 0
}

// onMain runs fn where the container's processes must be forked: on the
// in-process monitor's goroutine (the main thread), or directly in a helper,
// which runs on its main goroutine. nsexec forks its stages with
// CLONE_PARENT, so their parent, the one whose death sends them the parent
// death signal Init arms, is the *thread* that forked the first stage; and
// the Go runtime ends a thread when a goroutine locked to it returns, as
// libcontainer's mount-source goroutine does during a start. A fork from an
// arbitrary thread let that kill a container just created (seen as exit 137
// under load).
func (s *shim) onMain(fn func()) {
	if s.mon == nil {
		fn()
		return
	}
	s.mon.OnMain(fn)
}

// create makes and starts (up to the exec fifo) the container.
func (s *shim) create(r *Runtime, self, pidFile string, noPivot bool, console, stdio []*os.File) (_ []string, retErr error) {
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
	defer func() {
		if retErr != nil && (s.c != nil || s.stateRoot != "") {
			if err := destroyContainer(s.ctr()); err != nil {
				slog.Error("destroy after a failed create", "container", s.id, "error", err)
			}
		}
	}()
	p, err := newProcess(spec.Process)
	if err != nil {
		return nil, err
	}
	p.Init = true
	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	var consoleRecv *os.File
	// On failure, close what the monitor would have taken over.
	defer func() {
		if retErr != nil {
			for _, f := range []*os.File{s.files.Stdin, s.files.Stdout, s.files.Stderr, s.files.Console, s.files.CallerIn, s.files.CallerOut} {
				if f != nil {
					f.Close()
				}
			}
		}
	}()
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
		s.files.Stdout = outR
		errR, errW, err := os.Pipe()
		if err != nil {
			outW.Close()
			return nil, err
		}
		s.files.Stderr = errR
		closeAfter = append(closeAfter, outW, errW)
		p.Stdout, p.Stderr = outW, errW
		if s.openStdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			closeAfter = append(closeAfter, inR)
			p.Stdin, s.files.Stdin = inR, inW
		}
	}
	// Not with a console: the init sends the pty's master as it sets up.
	s.handoff = s.handoff && consoleRecv == nil
	pid, err := s.startInit(r, self, cfg, p)
	if err != nil {
		return nil, err
	}
	if consoleRecv != nil {
		master, err := recvFile(consoleRecv)
		if err != nil {
			return nil, fmt.Errorf("create %s: receive its pty: %w", s.id, err)
		}
		s.files.Console = master
		if len(stdio) == 3 {
			// Foreground with a terminal: the caller's streams meet the pty
			// in the monitor.
			s.files.CallerIn, s.files.CallerOut = dupFile(stdio[0]), dupFile(stdio[1])
		}
	}
	created := s.created
	if s.c != nil {
		st, err := s.c.State()
		if err != nil {
			return nil, err
		}
		created, s.cgroupPaths = st.Created, st.CgroupPaths
	}
	s.rec = shimRecord{Bundle: s.bundle, Rootfs: rootfs, Created: created, ShimPID: os.Getpid(), Pid: pid, Owner: owner()}
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

// Do is the monitor's Backend: what needs libcontainer.
func (s *shim) Do(req request) (response, error) {
	switch req.Op {
	case "kill":
		sig := unix.Signal(req.Signal)
		if req.All {
			pids, err := s.ctr().Processes()
			if err != nil {
				return response{}, conflict("kill", s.id, err)
			}
			for _, pid := range pids {
				unix.Kill(pid, sig)
			}
			// A frozen cgroup (v1) holds a SIGKILL until it is thawed: a
			// paused container is thawed for it, as libcontainer's
			// Signal does for the init alone.
			if sig == unix.SIGKILL {
				if st, err := s.ctr().Status(); err == nil && st == libcontainer.Paused {
					if err := s.ctr().Resume(); err != nil {
						return response{}, conflict("kill", s.id, err)
					}
				}
			}
			return response{}, nil
		}
		return response{}, conflict("kill", s.id, s.ctr().Signal(sig))
	case "pause":
		return response{}, conflict("pause", s.id, s.ctr().Pause())
	case "resume":
		return response{}, conflict("resume", s.id, s.ctr().Resume())
	case "ps":
		pids, err := s.ctr().Processes()
		if err != nil {
			return response{}, conflict("ps", s.id, err)
		}
		return response{Pids: pids}, nil
	case "oomkills":
		n, err := s.oomKills()
		return response{OOMKills: n}, err
	case "stats":
		st, err := s.stats()
		return response{Stats: st}, err
	case "update":
		cfg := s.ctr().Config()
		applyResources(cfg.Cgroups.Resources, req.Resources)
		if err := s.ctr().Set(cfg); err != nil {
			return response{}, conflict("update", s.id, err)
		}
		return response{}, nil
	case "destroy":
		return response{}, s.destroy()
	}
	return response{}, fmt.Errorf("unknown request %q: %w", req.Op, errdefs.ErrInvalidArgument)
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

func (s *shim) stats() (*Stats, error) {
	st, err := s.ctr().Stats()
	if err != nil {
		return nil, conflict("stats", s.id, err)
	}
	out := &Stats{}
	if cg := st.CgroupStats; cg != nil {
		cpu, mem := cg.CpuStats, cg.MemoryStats
		out.CPUUsageNS = cpu.CpuUsage.TotalUsage
		out.MemoryUsage = mem.Usage.Usage
		out.MemoryLimit = mem.Usage.Limit
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
		out.Cgroup2 = cgroups.IsCgroup2UnifiedMode()
		if !out.Cgroup2 {
			out.CPUPerCPU = cpu.CpuUsage.PercpuUsage
			out.MemoryMaxUsage = mem.Usage.MaxUsage
			out.MemoryFailcnt = mem.Usage.Failcnt
		}
		out.CPUKernelNS, out.CPUUserNS = cpu.CpuUsage.UsageInKernelmode, cpu.CpuUsage.UsageInUsermode
		out.ThrottlePeriods = cpu.ThrottlingData.Periods
		out.ThrottledPeriods = cpu.ThrottlingData.ThrottledPeriods
		out.ThrottledTimeNS = cpu.ThrottlingData.ThrottledTime
		out.MemoryStat = mem.Stats
		b := cg.BlkioStats
		out.Blkio = &Blkio{
			ServiceBytes: blkioEntries(b.IoServiceBytesRecursive), Serviced: blkioEntries(b.IoServicedRecursive),
			Queued: blkioEntries(b.IoQueuedRecursive), ServiceTime: blkioEntries(b.IoServiceTimeRecursive),
			WaitTime: blkioEntries(b.IoWaitTimeRecursive), Merged: blkioEntries(b.IoMergedRecursive),
			Time: blkioEntries(b.IoTimeRecursive), Sectors: blkioEntries(b.SectorsRecursive),
		}
	}
	return out, nil
}

func blkioEntries(l []cgroups.BlkioStatEntry) []BlkioEntry {
	out := make([]BlkioEntry, 0, len(l))
	for _, e := range l {
		out = append(out, BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// destroy kills what runs in the container and removes its cgroups and
// libcontainer state.
func (s *shim) destroy() error {
	if err := destroyContainer(s.ctr()); err != nil {
		stateDir := filepath.Join(filepath.Dir(filepath.Dir(s.dir)), "state", s.id)
		if _, serr := os.Stat(stateDir); !errors.Is(serr, os.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", s.id, err)
		}
		// The container is gone and only a poststop hook failed: the OCI
		// spec has the runtime log it and go on as if it had succeeded.
		slog.Warn("delete: a poststop hook failed", "container", s.id, "err", err)
	}
	return nil
}

// Exec (the monitor's Backend) runs a process in the container; the
// connection stays open until it exits, and carries its exit status last.
func (s *shim) Exec(c *net.UnixConn, req request, files []*os.File) {
	defer c.Close()
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	fail := func(err error) { send(c, errorResponse(err)) }
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
	s.onMain(func() { runErr = s.ctr().Run(p) })
	if runErr != nil {
		send(c, startFailure(runErr))
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

// initError is libcontainer's error for a container's init that did not
// start: the program is missing, cannot run, or the process could not be
// set up.
type initError struct{ err error }

func (e *initError) Error() string { return "create container: " + e.err.Error() }
func (e *initError) Unwrap() error { return e.err }

// startFailure is monitor.StartFailure: dockerd's classification of an
// error starting a process.
func startFailure(err error) response { return monitor.StartFailure(err) }

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
	return monitor.ExitCode(ps)
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

// ctr is the container's libcontainer handle: the one its create made,
// or, after a lean create, the one loaded from the state the shim wrote
// (nil if that fails, which is logged).
func (s *shim) ctr() *libcontainer.Container {
	if s.c == nil && s.stateRoot != "" {
		c, err := libcontainer.Load(s.stateRoot, s.id)
		if err != nil {
			slog.Error("load the container's state", "container", s.id, "error", err)
			return nil
		}
		s.c = c
	}
	return s.c
}
