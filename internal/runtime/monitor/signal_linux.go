package monitor

// Signals to the container's init that would otherwise be lost when they
// come right after start (issue 12). Two windows lose them:
//
//  1. libcontainer's init writes to the exec fifo and closes it — which
//     ends Start — before it execs the container's program: it still runs
//     the start hooks and closes its descriptors. A signal in that window
//     reaches hull-shim's Go init, whose runtime catches every signal: a
//     SIGTERM ends it with status 2 and the program never runs.
//  2. From the exec until the program installs its handler, the signal has
//     its default action, and the kernel discards a signal with the
//     default action sent to the init of a pid namespace (pid_namespaces(7);
//     only SIGKILL and SIGSTOP from an ancestor namespace get through). A
//     shell's `trap 'exit 99' TERM` set a millisecond after the exec then
//     never runs, and a stop ends in SIGKILL after its timeout.
//
// dockerd has both windows as well (runc closes the fifo before the exec
// too, and nothing resends); its path from start to signal — containerd,
// its shim, a runc process per call — only takes long enough that a shell
// is usually past its trap. A trap set 20 ms after the exec is lost there.
//
// So the monitor signals the init only once it runs the container's
// program (execed), and a signal the init would discard is held until the
// init catches or blocks it (/proc/PID/status: SigCgt, SigBlk) and sent
// then, for as long as the caller allows (a stop's timeout).

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// execWait bounds the wait for the init's exec before a signal: the exec
// follows the end of Start at once unless a start hook holds it.
const execWait = 2 * time.Second

// fileID identifies a file by device and inode.
type fileID struct{ dev, ino uint64 }

func exeOf(pid int) (fileID, bool) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/exe", pid), &st); err != nil {
		return fileID{}, false
	}
	return fileID{st.Dev, st.Ino}, true
}

// execed reports whether the init runs the container's program, its exec
// complete: its executable is no longer the one it was created with (the
// runtime's init), and the new image is loaded — the kernel fills the
// auxiliary vector only after it has reset the old image's signal
// handlers, which a signal in between would still find.
func (m *Monitor) execed() bool {
	if m.ran.Load() || !m.hasInitExe {
		return true
	}
	pid := m.init.Pid
	exe, ok := exeOf(pid)
	if ok && exe == m.initExe {
		return false
	}
	if ok {
		if auxv, err := os.ReadFile(fmt.Sprintf("/proc/%d/auxv", pid)); err == nil && len(bytes.Trim(auxv, "\x00")) == 0 {
			return false
		}
	}
	// Gone (a zombie has no executable) or exec'd.
	m.ran.Store(true)
	return true
}

// awaitExec waits, up to execWait, until the init runs the container's
// program or has exited.
func (m *Monitor) awaitExec() {
	deadline := time.Now().Add(execWait)
	for wait := 50 * time.Microsecond; !m.execed() && time.Now().Before(deadline); wait = min(2*wait, 5*time.Millisecond) {
		select {
		case <-m.exited:
			return
		case <-time.After(wait):
		}
	}
}

// disposition is what a process does with a signal sent to it now.
type disposition int

const (
	sigDefault disposition = iota // default action: discarded if the process is a pid namespace's init
	sigCaught                     // a handler runs
	sigBlocked                    // it stays pending until unblocked
	sigIgnored                    // SIG_IGN: the program asked for it to be dropped
)

// dispositionOf reads pid's disposition of sig from /proc/PID/status.
func dispositionOf(pid int, sig unix.Signal) (disposition, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return sigDefault, err
	}
	masks := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "SigBlk" || k == "SigIgn" || k == "SigCgt") {
			if masks[k], err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				return sigDefault, fmt.Errorf("%s of %d: %w", k, pid, err)
			}
		}
	}
	if len(masks) != 3 {
		return sigDefault, fmt.Errorf("signal masks of %d: not in /proc/%d/status", pid, pid)
	}
	bit := uint64(1) << (uint(sig) - 1)
	switch {
	case masks["SigBlk"]&bit != 0:
		return sigBlocked, nil
	case masks["SigCgt"]&bit != 0:
		return sigCaught, nil
	case masks["SigIgn"]&bit != 0:
		return sigIgnored, nil
	}
	return sigDefault, nil
}

// signalInit sends sig to the init once it runs the container's program.
// When the init, a pid namespace's, leaves sig to its default action (the
// kernel would discard it), sig is sent when the init first catches or
// blocks it, within redeliver; sent at once, it would be lost. SIGKILL,
// SIGSTOP and SIGCONT (whose effect does not depend on a handler) go at
// once, as does everything to a created container's init.
func (m *Monitor) signalInit(sig unix.Signal, redeliver time.Duration) error {
	if sig != unix.SIGKILL && sig != unix.SIGSTOP && sig != unix.SIGCONT && m.status() != shimapi.StatusCreated {
		m.awaitExec()
		if redeliver > 0 && !m.cfg.SharedPidNS {
			if d, err := dispositionOf(m.init.Pid, sig); err == nil && d == sigDefault {
				go m.redeliver(sig, time.Now().Add(redeliver))
				return nil
			}
		}
	}
	return m.init.Signal(sig)
}

// redeliver sends sig once the init catches or blocks it, unless it
// exits, ignores sig, or deadline passes first.
func (m *Monitor) redeliver(sig unix.Signal, deadline time.Time) {
	for wait := time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 50*time.Millisecond) {
		select {
		case <-m.exited:
			return
		case <-time.After(wait):
		}
		d, err := dispositionOf(m.init.Pid, sig)
		switch {
		case err != nil || d == sigIgnored:
			return
		case d != sigDefault:
			m.init.Signal(sig)
			return
		}
	}
}
