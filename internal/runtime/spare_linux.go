package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/runtime/leaninit"
	"github.com/hullproject/hull/internal/runtime/seccompbpf"
)

// A spare shim is a hull-shim started ahead of need (`hull-shim spare`):
// its exec, its static C library's and Go's start-up (~2–3 ms) are paid
// while the previous container runs, not on the next container's create.
// The runtime keeps at most one, made after each create and let go of
// after spareIdle (2 s) without one — a burst of creates is what it
// serves —; a create that finds it sends it the arguments and
// descriptors an exec'd shim would have got, and from then on it is
// that container's shim, in every way the same. It exits when its
// control socket closes (the runtime's process went away).
const spareIdle = 2 * time.Second

// spareFds is how many descriptors (3…) a spare holds places for: a
// create with more (many published ports) starts a shim of its own. The
// places are taken at the spare's exec, before its Go runtime opens its
// own descriptors (the poller's), which must never be overwritten.
const spareFds = 16

type spareShim struct {
	path string
	cmd  *exec.Cmd
	ctl  *os.File
	made time.Time
}

type spares struct {
	on    bool // KeepSpareShim
	mu    sync.Mutex
	spare *spareShim
	last  time.Time
	timer *time.Timer
	// creating counts the creates waiting for their shim's answer;
	// refilling is a refill under way. A spare is started once none
	// waits, and one at a time: creates at once (10 docker runs
	// together) would otherwise each start one — a Go program and its
	// warm-up, ~20 ms of CPU on a 2-core machine — during the very
	// creates they compete with, and all but one would be killed.
	creating  int
	refilling bool
	// bundle is the last create's, for the spare's warm-up.
	bundle string
}

// KeepSpareShim has the runtime keep a spare shim ready for its next
// create, from its first create on: for a process that creates
// containers again and again (the daemon), not a command that creates
// one and exits.
func (r *Runtime) KeepSpareShim() {
	r.spares.mu.Lock()
	r.spares.on = true
	r.spares.mu.Unlock()
}

// takeSpare hands the shim's work to the spare shim for shimPath, if
// there is one: args, then logf (its stdout and stderr) and extra (its fds
// 3…). It returns the spare's process, or nil when there was none or it
// could not take the work (then nothing was started).
func (r *Runtime) takeSpare(shimPath string, args []string, logf *os.File, extra []*os.File) *exec.Cmd {
	r.spares.mu.Lock()
	sp := r.spares.spare
	r.spares.spare = nil
	r.spares.last = time.Now()
	r.spares.mu.Unlock()
	if sp == nil {
		return nil
	}
	b, err := json.Marshal(args)
	if err != nil || sp.path != shimPath || len(extra) > spareFds {
		sp.stop()
		return nil
	}
	fds := []int{int(logf.Fd())}
	for _, f := range extra {
		fds = append(fds, int(f.Fd()))
	}
	if err := unix.Sendmsg(int(sp.ctl.Fd()), b, unix.UnixRights(fds...), nil, 0); err != nil {
		sp.stop()
		return nil
	}
	sp.ctl.Close() // the spare has its create
	return sp.cmd
}

// creating marks a create waiting for its shim's answer; the func it
// returns marks the answer come, and starts the refill of the spare
// (refillSpare) when no other create waits and none is under way.
func (r *Runtime) creating(shimPath, bundle string) (answered func()) {
	r.spares.mu.Lock()
	r.spares.creating++
	r.spares.mu.Unlock()
	return func() {
		r.spares.mu.Lock()
		defer r.spares.mu.Unlock()
		r.spares.creating--
		r.spares.bundle = bundle
		if r.spares.creating > 0 || r.spares.refilling || r.spares.spare != nil || !r.spares.on {
			return
		}
		r.spares.refilling = true
		go func() {
			r.refillSpare(shimPath)
			r.spares.mu.Lock()
			r.spares.refilling = false
			r.spares.mu.Unlock()
		}()
	}
}

// refillSpare starts a spare shim for shimPath, unless one is there; the
// spare is killed after spareIdle without a create. It warms up on the
// last create's bundle: the spare reads it once while it waits (warmUp),
// so that the next create finds its code and decoders warm.
func (r *Runtime) refillSpare(shimPath string) {
	r.spares.mu.Lock()
	if r.spares.spare != nil || !r.spares.on {
		r.spares.mu.Unlock()
		return
	}
	bundle := r.spares.bundle
	r.spares.mu.Unlock()
	ours, theirs, err := socketpair()
	if err != nil {
		return
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		ours.Close()
		theirs.Close()
		return
	}
	cmd := exec.Command(shimPath, "spare")
	// Not an argument: a spare is no container's, and nothing that looks
	// for a container's processes by their command line should see it.
	cmd.Env = append(os.Environ(), spareWarmEnv+"="+bundle)
	cmd.Dir = "/"
	for range spareFds {
		cmd.ExtraFiles = append(cmd.ExtraFiles, null) // the places, fds 3…
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, theirs) // the control socket, after them
	if exe := r.sealedInit(shimPath); exe != nil {
		// The sealed hull-init, for the spare's pre-forked init.
		cmd.ExtraFiles = append(cmd.ExtraFiles, exe)
		cmd.Env = append(cmd.Env, spareInitEnv+"="+strconv.Itoa(3+len(cmd.ExtraFiles)-1))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	theirs.Close()
	null.Close()
	if err != nil {
		ours.Close()
		return
	}
	go cmd.Wait()
	sp := &spareShim{path: shimPath, cmd: cmd, ctl: ours, made: time.Now()}
	r.spares.mu.Lock()
	defer r.spares.mu.Unlock()
	if r.spares.spare != nil {
		sp.stop()
		return
	}
	r.spares.spare = sp
	if r.spares.timer == nil {
		r.spares.timer = time.AfterFunc(spareIdle, r.expireSpare)
	} else {
		r.spares.timer.Reset(spareIdle)
	}
}

// stop lets go of a spare: its control socket closed, it ends its
// pre-forked init and exits (spareExit); killed if it has not within
// spareStopWait, its init then ending on its own and left to whoever
// adopts it.
func (sp *spareShim) stop() {
	sp.ctl.Close()
	time.AfterFunc(spareStopWait, func() { sp.cmd.Process.Kill() })
}

// spareStopWait is how long a spare that was let go of has to exit.
const spareStopWait = 5 * time.Second

// expireSpare lets go of a spare that waited spareIdle for a create.
func (r *Runtime) expireSpare() {
	r.spares.mu.Lock()
	defer r.spares.mu.Unlock()
	sp := r.spares.spare
	if sp == nil {
		return
	}
	if wait := spareIdle - time.Since(r.spares.last); wait > 0 {
		r.spares.timer.Reset(wait)
		return
	}
	r.spares.spare = nil
	sp.stop()
}

// Close lets go of what the runtime keeps for the next create: the spare
// shim. Containers and their shims are not touched.
func (r *Runtime) Close() {
	if r == nil {
		return
	}
	r.spares.mu.Lock()
	defer r.spares.mu.Unlock()
	if sp := r.spares.spare; sp != nil {
		r.spares.spare = nil
		sp.stop()
	}
	if r.spares.timer != nil {
		r.spares.timer.Stop()
	}
}

// spareWarmEnv names the bundle a spare warms up on; spareInitEnv the
// descriptor of the runtime's sealed hull-init, which its pre-forked init
// runs.
const (
	spareWarmEnv = "HULL_SPARE_WARM_UP"
	spareInitEnv = "HULL_SPARE_INIT_FD"
)

// spareWoke is when the spare got its create (zero in a shim that was
// exec'd for its create).
var spareWoke time.Time

// spareWait is `hull-shim spare`: it waits on its control socket (fd
// 3+spareFds) for a create's arguments and descriptors, puts the
// descriptors where an exec'd shim has them (stdout and stderr the log,
// 3… the rest, over the places it was started with) and returns the
// arguments. It exits when the socket closes unused.
func spareWait() []string {
	// The init first: its start overlaps the warm-up.
	exe := -1
	if fd, err := strconv.Atoi(os.Getenv(spareInitEnv)); err == nil {
		exe = fd
	}
	os.Unsetenv(spareInitEnv)
	preforked = preforkInit(callerSealedInit(exe))
	if warm := os.Getenv(spareWarmEnv); warm != "" {
		os.Unsetenv(spareWarmEnv) // not the container's shim's
		warmUp(warm)
	}
	ctl := 3 + spareFds
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*(spareFds+1)))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(ctl, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil || n == 0 {
		spareExit(0) // the runtime went away, or let go of this spare
	}
	spareWoke = time.Now()
	var args []string
	if err := json.Unmarshal(buf[:n], &args); err != nil {
		fmt.Fprintln(os.Stderr, "hull-shim spare:", err)
		spareExit(2)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		spareExit(2)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 || len(fds) > spareFds+1 {
		spareExit(2)
	}
	// The received descriptors are numbered above the places and the
	// control socket (everything below was taken at exec): each goes onto
	// its place, replacing the placeholder.
	for _, target := range []int{1, 2} {
		if err := unix.Dup3(fds[0], target, 0); err != nil {
			spareExit(2)
		}
	}
	for i, fd := range fds[1:] {
		if err := unix.Dup3(fd, 3+i, 0); err != nil {
			spareExit(2)
		}
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	for place := 3 + len(fds) - 1; place < 3+spareFds; place++ {
		unix.Close(place)
	}
	unix.Close(ctl)
	return args
}

// spareExit ends a spare that got no create, with its pre-forked init.
func spareExit(code int) {
	if p := takePreforked(); p != nil {
		p.discard()
	}
	os.Exit(code)
}

// warmUp does, without effects, what a create does with a bundle's
// config — decode the spec, convert it to libcontainer's config, key its
// seccomp filter, find its cgroups, encode the init's config and the
// state — so that the
// spare's first create finds encoding/json's per-type caches built and
// the code paged in. A bundle already gone is no matter.
func warmUp(bundle string) {
	spec, _, _, err := loadSpec(bundle)
	if err != nil {
		return
	}
	cfg, err := libcontainerConfig("warm-up", spec, false)
	if err != nil {
		return
	}
	if _, err := newProcess(spec.Process); err != nil {
		return
	}
	if cfg.Seccomp != nil {
		seccompbpf.CacheKey(cfg.Seccomp)
	}
	manager.New(cfg.Cgroups) // paths only: nothing is made before Apply
	json.Marshal(leaninit.Config{Container: initContainer(cfg), Capabilities: initCapabilities(cfg.Capabilities)})
	json.Marshal(libcontainer.State{BaseState: libcontainer.BaseState{Config: *cfg}})
}
