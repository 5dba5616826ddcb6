package runtime

import (
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/runtime/leaninit"
)

// A pre-forked init is a hull-init a spare shim forks while it waits,
// into a new pid namespace, before any container is known: the fork, the
// exec and the Go start of the init (~5 ms of a create here) are paid
// between containers. The create that takes the spare sends the init its
// descriptors and config; the init makes its other namespaces itself
// (leaninit.Config.Unshare) — its mount namespace then, copied from the
// host's with the container's rootfs mounted, as a fork then would have.
// A container it does not fit gets an init forked for it.
type preforkedInit struct {
	pid  int
	sync *os.File // the shim's end of the init's sync socket
}

// preforked is the spare shim's pre-forked init until a create takes it.
var preforked *preforkedInit

// takePreforked hands over the pre-forked init, if there is one.
func takePreforked() *preforkedInit {
	p := preforked
	preforked = nil
	return p
}

// preforkInit forks a hull-init that waits for a container, from exe (a
// sealed copy), else from a sealed copy of the one beside this shim; nil
// when it cannot.
func preforkInit(exe *os.File) *preforkedInit {
	if exe == nil {
		self, err := os.Executable()
		if err != nil {
			return nil
		}
		initPath := findInit(self)
		if initPath == "" {
			return nil
		}
		if exe, err = sealedInit(initPath, os.TempDir()); err != nil {
			return nil
		}
	}
	defer exe.Close()
	parentSync, childSync, err := socketpair()
	if err != nil {
		return nil
	}
	defer childSync.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		parentSync.Close()
		return nil
	}
	defer null.Close()
	// Nothing of this spare's reaches the init but what it is given: its
	// places, its control socket and what it inherited are this
	// process's only (the descriptors a create brings are new ones).
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	files := []uintptr{null.Fd(), null.Fd(), null.Fd(), childSync.Fd()}
	for range leaninit.PreforkPlaces {
		files = append(files, null.Fd())
	}
	// No parent death signal: Go's threads may come and go under the
	// init; it exits when this end of its socket closes.
	pid, err := syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(int(exe.Fd())), []string{"hull-init", leaninit.PreforkArg}, &syscall.ProcAttr{
		Env:   []string{},
		Files: files,
		Sys:   &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID, Setsid: true},
	})
	if err != nil {
		parentSync.Close()
		return nil
	}
	return &preforkedInit{pid: pid, sync: parentSync}
}

// discard ends an init no container took, and reaps it.
func (p *preforkedInit) discard() {
	p.sync.Close()
	unix.Kill(p.pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(p.pid, &ws, 0, nil)
}

// fits says whether the init can become the init of a container whose
// new namespaces are flags (clone flags; cgroup's left out: the init makes
// that one itself either way), with nfiles descriptors (0…, the sync
// socket's place included), and which namespaces it then unshares; else
// why not. It waits (a second at most) for the init to say it is ready.
func (p *preforkedInit) fits(flags, nfiles int) (unshare int, why string) {
	fds := []unix.PollFd{{Fd: int32(p.sync.Fd()), Events: unix.POLLIN}}
	var w [1]byte
	if n, err := unix.Poll(fds, 1000); err != nil || n != 1 {
		return 0, "it did not start"
	}
	if _, err := io.ReadFull(p.sync, w[:]); err != nil || w[0] != 'w' {
		return 0, "it did not start"
	}
	switch unshare = flags &^ unix.CLONE_NEWPID; {
	case nfiles > leaninit.SyncFd+1+leaninit.PreforkPlaces:
		return 0, "more descriptors than it has places for"
	case flags&unix.CLONE_NEWPID == 0:
		return 0, "the container shares a pid namespace"
	case unshare&^(unix.CLONE_NEWNS|unix.CLONE_NEWNET|unix.CLONE_NEWIPC|unix.CLONE_NEWUTS) != 0:
		return 0, "namespaces the init cannot make itself"
	}
	return unshare, ""
}
