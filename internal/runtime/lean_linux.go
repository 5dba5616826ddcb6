package runtime

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/configs/validate"
	"github.com/opencontainers/runc/libcontainer/exeseal"
	"github.com/opencontainers/runc/libcontainer/system"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/leaninit"
)

// leanUnsupported says why the lean init cannot create this container,
// "" when it can. What it names falls back to libcontainer's init, which
// supports everything the OCI spec does.
func leanUnsupported(cfg *configs.Config, p *libcontainer.Process, haveInit, haveFilter bool) string {
	if !haveInit {
		return "hull-init is not beside hull-shim"
	}
	if cfg.Seccomp != nil && !haveFilter {
		return "no precompiled seccomp filter"
	}
	if !cfg.Namespaces.Contains(configs.NEWNS) {
		return "no mount namespace"
	}
	for _, ns := range cfg.Namespaces {
		switch ns.Type {
		case configs.NEWUSER, configs.NEWTIME:
			return nsName[ns.Type] + " namespace"
		case configs.NEWNET, configs.NEWIPC, configs.NEWUTS:
		default:
			if ns.Path != "" {
				return "joins a " + nsName[ns.Type] + " namespace"
			}
		}
	}
	if cgroups.IsCgroup2UnifiedMode() {
		for _, m := range cfg.Mounts {
			if m.Device == "cgroup" {
				return "cgroup v2 mount"
			}
		}
	}
	for _, n := range cfg.Networks {
		if n.Type != "loopback" {
			return "network of type " + n.Type
		}
	}
	if cfg.Namespaces.Contains(configs.NEWCGROUP) {
		for _, m := range cfg.Mounts {
			if m.Device == "cgroup" {
				return "cgroup mount in a cgroup namespace"
			}
		}
	}
	for _, m := range cfg.Mounts {
		switch {
		case m.Extensions != 0:
			return "tmpfs copy-up mount"
		case m.RecAttr != nil:
			return "recursive mount attributes"
		case m.IDMapping != nil:
			return "id-mapped mount"
		}
	}
	switch {
	case cfg.Hooks != nil && len(cfg.Hooks) > 0:
		return "hooks"
	case cfg.AppArmorProfile != "" || p.AppArmorProfile != "":
		return "AppArmor profile"
	case cfg.ProcessLabel != "" || p.Label != "" || cfg.MountLabel != "":
		return "SELinux label"
	case cfg.Seccomp != nil && (cfg.Seccomp.ListenerPath != "" || seccompNotifies(cfg.Seccomp)):
		return "seccomp notify"
	case cfg.IntelRdt != nil:
		return "Intel RDT"
	case cfg.Personality != nil, p.Scheduler != nil, cfg.Scheduler != nil, p.IOPriority != nil, cfg.IOPriority != nil,
		cfg.MemoryPolicy != nil, p.CPUAffinity != nil, cfg.ExecCPUAffinity != nil:
		return "personality, scheduler, I/O priority, memory policy or CPU affinity"
	case len(cfg.NetDevices) > 0 || len(cfg.Routes) > 0:
		return "network devices"
	case !fileOrNil(p.Stdin) || !fileOrNil(p.Stdout) || !fileOrNil(p.Stderr):
		return "streams that are not files"
	case len(p.ExtraFiles) > 0 || p.PidfdSocket != nil:
		return "extra files"
	case cfg.RootlessEUID || cfg.RootlessCgroups:
		return "rootless"
	}
	return ""
}

// nsName is a namespace type as people say it.
var nsName = map[configs.NamespaceType]string{
	configs.NEWNS: "mount", configs.NEWUTS: "UTS", configs.NEWIPC: "IPC", configs.NEWPID: "pid",
	configs.NEWNET: "network", configs.NEWUSER: "user", configs.NEWCGROUP: "cgroup", configs.NEWTIME: "time",
}

func fileOrNil(x any) bool {
	if x == nil {
		return true
	}
	_, ok := x.(*os.File)
	return ok
}

func seccompNotifies(s *configs.Seccomp) bool {
	if s.DefaultAction == configs.Notify {
		return true
	}
	for _, c := range s.Syscalls {
		if c.Action == configs.Notify {
			return true
		}
	}
	return false
}

// findInit finds hull-init beside the shim; "" when it is not there.
func findInit(self string) string {
	if self == "" {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), "hull-init")
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return p
}

// sealedInit is a sealed, read-only copy of the init binary to execute:
// the container's init (and a container process that executes
// /proc/<init>/exe) can never write to, or reach, hull-init on disk
// (CVE-2019-5736). The copy is a memfd the kernel refuses to change.
func sealedInit(path, tmpDir string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sealed, err := exeseal.CloneBinary(f, fi.Size(), path, tmpDir)
	if err != nil {
		return nil, fmt.Errorf("sealed copy of %s: %w", path, err)
	}
	// A high descriptor: the fork maps the init's descriptors onto 0..n
	// and must not overwrite the one it executes.
	fd, err := unix.FcntlInt(sealed.Fd(), unix.F_DUPFD_CLOEXEC, 100)
	sealed.Close()
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// callerSealedInit takes the sealed copy of hull-init the shim's caller
// handed it (--init-fd), if it is one: a memfd with every seal.
func callerSealedInit(fd int) *os.File {
	if fd < 0 {
		return nil
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "hull-init")
	if !exeseal.IsCloned(f) {
		slog.Warn("--init-fd is not a sealed copy; the shim makes its own", "fd", fd)
		f.Close()
		return nil
	}
	// High, out of the way of the init's descriptors (sealedInit).
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
	f.Close()
	if err != nil {
		return nil
	}
	return os.NewFile(uintptr(high), "hull-init")
}

// leanCreate creates the container with hull-init: it forks the init into
// its new namespaces, puts it in its cgroups, hands it its config, and
// returns once the init waits on the exec fifo, with when it forked it and
// its cgroups. With handoff it returns as soon as the init has its go
// instead, with the state written and pending, the socket on which the
// init will answer "r" or its error: the caller hands that to whoever
// finishes the create (hull-monitor: monitor.FinishCreate), and the init's
// setup overlaps that program's start.
// It leaves the state libcontainer would have left, so that
// libcontainer.Load serves the rest of the container's life (the shim
// loads it only when it needs it: shim.ctr). On failure nothing of it is
// left.
func leanCreate(stateRoot, id string, cfg *configs.Config, p *libcontainer.Process, initPath string, sealed *os.File, pre *preforkedInit, filter string, lc *leaninit.Config, handoff bool, step func(string)) (_ time.Time, pid int, cgroupPaths map[string]string, pending *os.File, retErr error) {
	defer func() {
		if pre != nil { // not taken
			pre.discard()
		}
	}()
	if err := validate.Validate(cfg); err != nil {
		return time.Time{}, 0, nil, nil, invalid("%v", err)
	}
	stateDir := filepath.Join(stateRoot, id)
	if err := os.Mkdir(stateDir, 0o711); errors.Is(err, os.ErrExist) {
		return time.Time{}, 0, nil, nil, fmt.Errorf("container %q: %w", id, errdefs.ErrAlreadyExists)
	} else if err != nil {
		return time.Time{}, 0, nil, nil, err
	}
	var cm cgroups.Manager
	var child *os.Process
	defer func() {
		if retErr == nil {
			return
		}
		if child != nil {
			child.Kill()
			child.Wait()
		}
		if cm != nil {
			cm.Destroy()
		}
		os.RemoveAll(stateDir)
	}()
	cm, err := manager.New(cfg.Cgroups)
	if err != nil {
		return time.Time{}, 0, nil, nil, err
	}
	fifoPath := filepath.Join(stateDir, "exec.fifo")
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return time.Time{}, 0, nil, nil, &os.PathError{Op: "mkfifo", Path: fifoPath, Err: err}
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return time.Time{}, 0, nil, nil, err
	}
	defer fifo.Close()
	step("prepared")
	var files []*os.File
	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	stdio := make([]*os.File, 3)
	for i, x := range []any{p.Stdin, p.Stdout, p.Stderr} {
		if f, ok := x.(*os.File); ok {
			stdio[i] = f
		}
	}
	for i, f := range stdio {
		if f == nil || p.ConsoleSocket != nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return time.Time{}, 0, nil, nil, err
			}
			closeAfter = append(closeAfter, null)
			stdio[i] = null
		}
	}
	files = append(stdio, nil, fifo) // the sync socket's place: below
	lc.Seccomp = filter
	if p.ConsoleSocket != nil {
		lc.Terminal = true
		lc.ConsoleFd = len(files)
		files = append(files, p.ConsoleSocket)
	}
	var flags int
	for _, ns := range cfg.Namespaces {
		if ns.Path == "" {
			if ns.Type != configs.NEWCGROUP { // unshared by the init once in its cgroups
				flags |= ns.Syscall()
			}
			continue
		}
		f, err := os.Open(ns.Path)
		if err != nil {
			return time.Time{}, 0, nil, nil, fmt.Errorf("%s namespace %s: %w", ns.Type, ns.Path, err)
		}
		closeAfter = append(closeAfter, f)
		lc.Join = append(lc.Join, leaninit.Join{Type: ns.Syscall(), Fd: len(files)})
		files = append(files, f)
	}
	if pre != nil {
		why := ""
		if lc.Unshare, why = pre.fits(flags, len(files)); why != "" {
			step("pre-forked init not taken: " + why)
			go pre.discard() // its reaping off the create's path
			pre = nil
		}
	}
	var exe, parentSync *os.File
	if pre == nil {
		if exe = sealed; exe == nil {
			if exe, err = sealedInit(initPath, stateDir); err != nil {
				return time.Time{}, 0, nil, nil, err
			}
			defer exe.Close()
		}
		step("sealed")
		var childSync *os.File
		if parentSync, childSync, err = socketpair(); err != nil {
			return time.Time{}, 0, nil, nil, err
		}
		closeAfter = append(closeAfter, childSync)
		files[leaninit.SyncFd] = childSync
	} else {
		parentSync = pre.sync
	}
	defer func() {
		if pending == nil {
			parentSync.Close()
		}
	}()
	cfgJSON, err := json.Marshal(lc)
	if err != nil {
		return time.Time{}, 0, nil, nil, err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(cfgJSON)))
	if pre != nil {
		pid = pre.pid
		child, _ = os.FindProcess(pid)
		pre = nil // the container's now, killed with it on failure
		var fds []int
		for i, f := range files {
			if i != leaninit.SyncFd {
				fds = append(fds, int(f.Fd()))
			}
		}
		err := unix.Sendmsg(int(parentSync.Fd()), n[:], unix.UnixRights(fds...), nil, unix.MSG_NOSIGNAL)
		if err == nil {
			_, err = parentSync.Write(cfgJSON)
		}
		if err != nil {
			return time.Time{}, 0, nil, nil, initFailure(parentSync, fmt.Errorf("send the pre-forked init its config: %w", err))
		}
		step("pre-forked init taken")
	} else {
		fds := make([]uintptr, len(files))
		for i, f := range files {
			fds[i] = f.Fd()
		}
		pid, err = syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(int(exe.Fd())), []string{"hull-init"}, &syscall.ProcAttr{
			Env:   []string{},
			Files: fds,
			Sys:   &syscall.SysProcAttr{Cloneflags: uintptr(flags), Setsid: true},
		})
		if err != nil {
			return time.Time{}, 0, nil, nil, fmt.Errorf("start hull-init: %w", err)
		}
		step("forked")
		child, _ = os.FindProcess(pid)
		if _, err := parentSync.Write(append(n[:], cfgJSON...)); err != nil {
			return time.Time{}, 0, nil, nil, initFailure(parentSync, fmt.Errorf("send the init its config: %w", err))
		}
	}
	created := time.Now()
	for _, f := range closeAfter {
		f.Close()
	}
	closeAfter = nil
	step("config sent")
	if err := cm.Apply(pid); err != nil {
		return time.Time{}, 0, nil, nil, fmt.Errorf("join cgroups: %w", err)
	}
	step("applied")
	if err := cm.Set(cfg.Cgroups.Resources); err != nil {
		return time.Time{}, 0, nil, nil, fmt.Errorf("set cgroup resources: %w", err)
	}
	step("set")
	if cfg.OomScoreAdj != nil {
		if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.Itoa(*cfg.OomScoreAdj)), 0); err != nil {
			return time.Time{}, 0, nil, nil, fmt.Errorf("oom_score_adj: %w", err)
		}
	}
	if _, err := parentSync.Write([]byte{'g'}); err != nil {
		return time.Time{}, 0, nil, nil, initFailure(parentSync, err)
	}
	step("go sent")
	// The state is what it will be: libcontainer too records the init's
	// pid, start time, namespaces and stdio as it starts it. Written while
	// the init sets itself up.
	if err := writeLeanState(stateDir, id, pid, created, cfg, cm); err != nil {
		// An init that failed already is gone from /proc: its error is
		// the one to report.
		if ierr := initFailure(parentSync, nil); ierr != nil {
			return time.Time{}, 0, nil, nil, ierr
		}
		return time.Time{}, 0, nil, nil, err
	}
	step("state written")
	if handoff {
		return created, pid, cm.GetPaths(), parentSync, nil
	}
	if err := initFailure(parentSync, nil); err != nil {
		return time.Time{}, 0, nil, nil, err
	}
	step("ready")
	return created, pid, cm.GetPaths(), nil, nil
}

// initFailure reads the init's answer: "r" when it is ready, else the
// text of its error (or nothing, when it died). cause, when set, is what
// the shim saw go wrong first.
func initFailure(sync *os.File, cause error) error {
	b, _ := io.ReadAll(io.LimitReader(sync, 1<<16))
	if cause == nil && string(b) == "r" {
		return nil
	}
	if len(b) > 0 && string(b) != "r" {
		// In libcontainer's words, which clients match.
		return &initError{errors.New("unable to start container process: error during container init: " + string(b))}
	}
	if cause != nil {
		return &initError{cause}
	}
	return &initError{errors.New("hull-init exited before the container was created")}
}

// writeLeanState writes the container's libcontainer state (state.json),
// as libcontainer's own create would have.
func writeLeanState(stateDir, id string, pid int, created time.Time, cfg *configs.Config, cm cgroups.Manager) error {
	stat, err := system.Stat(pid)
	if err != nil {
		return fmt.Errorf("init %d: %w", pid, err)
	}
	st := libcontainer.State{
		BaseState: libcontainer.BaseState{
			ID: id, InitProcessPid: pid, InitProcessStartTime: stat.StartTime,
			Created: created.UTC(), Config: *cfg,
		},
		CgroupPaths:    cm.GetPaths(),
		NamespacePaths: make(map[configs.NamespaceType]string),
	}
	for _, ns := range cfg.Namespaces {
		st.NamespacePaths[ns.Type] = ns.GetPath(pid)
	}
	for _, t := range configs.NamespaceTypes() {
		if _, ok := st.NamespacePaths[t]; !ok && configs.IsNamespaceSupported(t) {
			ns := configs.Namespace{Type: t}
			st.NamespacePaths[t] = ns.GetPath(pid)
		}
	}
	for i := range 3 {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(i))
		if err != nil {
			return err
		}
		st.ExternalDescriptors = append(st.ExternalDescriptors, l)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(stateDir, "state.json"), b)
}

// startInit creates the container's init — hull-init where it can, else
// libcontainer's — and returns its pid once it waits on the exec fifo.
// The trace says which init ran, and why not the lean one.
func (s *shim) startInit(r *Runtime, self string, cfg *configs.Config, p *libcontainer.Process) (int, error) {
	// A spare shim's init, forked before it knew its container: taken by
	// leanCreate if it fits, else ended.
	pre := takePreforked()
	defer func() {
		if pre != nil {
			go pre.discard() // its reaping off the create's path
		}
	}()
	why := "asked for"
	if s.init != InitLibcontainer {
		initPath, filter, filterErr := findInit(self), "", error(nil)
		if cfg.Seccomp != nil && initPath != "" {
			filter, filterErr = precompiledFilter(filepath.Join(r.root, "seccomp"), cfg.Seccomp)
		}
		why = leanUnsupported(cfg, p, initPath != "" || s.sealedInit != nil, filter != "")
		if filterErr != nil && why == "no precompiled seccomp filter" {
			why += ": " + filterErr.Error()
		}
		if why == "" {
			caps := p.Capabilities
			if caps == nil {
				caps = cfg.Capabilities
			}
			nnp := cfg.NoNewPrivileges
			if p.NoNewPrivileges != nil {
				nnp = *p.NoNewPrivileges
			}
			lc := &leaninit.Config{
				ID: s.id, Container: initContainer(cfg), Args: p.Args, Env: p.Env, Cwd: p.Cwd,
				UID: p.UID, GID: p.GID, AdditionalGroups: p.AdditionalGroups,
				Capabilities: initCapabilities(caps), NoNewPrivileges: nnp,
				ConsoleWidth: p.ConsoleWidth, ConsoleHeight: p.ConsoleHeight,
				Rlimits: initRlimits(cfg, p),
			}
			step := func(name string) { s.steps = append(s.steps, TimedStep{Name: "lean init: " + name, At: time.Now()}) }
			taken := pre
			pre = nil
			created, pid, paths, pending, err := leanCreate(r.stateRoot(), s.id, cfg, p, initPath, s.sealedInit, taken, filter, lc, s.handoff, step)
			if err != nil {
				return 0, err
			}
			s.stateRoot, s.created, s.cgroupPaths, s.pending = r.stateRoot(), created, paths, pending
			if pending == nil {
				s.steps = append(s.steps, TimedStep{Name: "lean init", At: time.Now()})
			}
			return pid, nil
		}
		if s.init == InitLean {
			return 0, invalid("the lean init cannot create this container: %s", why)
		}
	}
	c, err := libcontainer.Create(r.stateRoot(), s.id, cfg)
	if errors.Is(err, libcontainer.ErrExist) {
		return 0, fmt.Errorf("container %q: %w", s.id, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create container %s: %w", s.id, err)
	}
	s.c = c
	// RLIMIT_AS once the init has compiled its seccomp filter, which a
	// low limit made fail, and waits on the exec fifo: the limit then
	// holds for what it executes. (The lean init sets it itself, with
	// its execve.)
	addressSpace := takeRlimit(&p.Rlimits, unix.RLIMIT_AS)
	if err := c.Start(p); err != nil {
		return 0, &initError{err}
	}
	if addressSpace != nil {
		pid, err := p.Pid()
		if err != nil {
			return 0, err
		}
		if err := unix.Prlimit(pid, unix.RLIMIT_AS, &unix.Rlimit{Cur: addressSpace.Soft, Max: addressSpace.Hard}, nil); err != nil {
			return 0, fmt.Errorf("create container %s: set RLIMIT_AS: %w", s.id, err)
		}
	}
	s.steps = append(s.steps, TimedStep{Name: "libcontainer init: " + why, At: time.Now()})
	return p.Pid()
}

// initContainer is what hull-init reads of cfg (leaninit.Container), for
// a cfg leanUnsupported took.
func initContainer(cfg *configs.Config) *leaninit.Container {
	c := &leaninit.Container{
		Rootfs: cfg.Rootfs, Readonlyfs: cfg.Readonlyfs, NoPivotRoot: cfg.NoPivotRoot,
		RootPropagation: cfg.RootPropagation, Umask: cfg.Umask,
		MaskPaths: cfg.MaskPaths, ReadonlyPaths: cfg.ReadonlyPaths,
		Hostname: cfg.Hostname, Domainname: cfg.Domainname, Sysctl: cfg.Sysctl,
		CgroupNS: cfg.Namespaces.Contains(configs.NEWCGROUP), NoNewKeyring: cfg.NoNewKeyring,
	}
	for _, m := range cfg.Mounts {
		c.Mounts = append(c.Mounts, &leaninit.Mount{
			Source: m.Source, Destination: m.Destination, Device: m.Device, Flags: m.Flags,
			ClearedFlags: m.ClearedFlags, PropagationFlags: m.PropagationFlags, Data: m.Data,
		})
	}
	for _, d := range cfg.Devices {
		c.Devices = append(c.Devices, &leaninit.Device{
			Path: d.Path, Type: rune(d.Type), Major: d.Major, Minor: d.Minor,
			FileMode: d.FileMode, UID: d.Uid, GID: d.Gid,
		})
	}
	for _, n := range cfg.Networks {
		// leanUnsupported refused every other type.
		c.Loopback = c.Loopback || n.Type == "loopback"
	}
	return c
}

// initRlimits are the limits the init sets: the process's, else the
// container's (as libcontainer reads them).
func initRlimits(cfg *configs.Config, p *libcontainer.Process) []leaninit.Rlimit {
	limits := p.Rlimits
	if len(limits) == 0 {
		limits = cfg.Rlimits
	}
	var out []leaninit.Rlimit
	for _, l := range limits {
		out = append(out, leaninit.Rlimit{Type: l.Type, Hard: l.Hard, Soft: l.Soft})
	}
	return out
}

// initCapabilities gives the init the sets by number; a name this host
// does not know is left out, as libcontainer's init leaves it (with a
// warning nobody reads).
func initCapabilities(c *configs.Capabilities) *leaninit.Capabilities {
	if c == nil {
		return nil
	}
	known := supportedCaps()
	set := func(names []string) []capability.Cap {
		var out []capability.Cap
		for _, n := range names {
			if v, ok := known[n]; ok {
				out = append(out, v)
			}
		}
		return out
	}
	return &leaninit.Capabilities{
		Bounding: set(c.Bounding), Effective: set(c.Effective), Inheritable: set(c.Inheritable),
		Permitted: set(c.Permitted), Ambient: set(c.Ambient),
	}
}
