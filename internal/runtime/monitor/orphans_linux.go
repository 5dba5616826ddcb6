package monitor

// The monitor is a subreaper (the shim made itself one; hull-monitor is
// what the shim execs into), so a process whose parent dies becomes its
// child: an exec's processes when their helper dies before it has reaped
// them, libcontainer's intermediate stages. Unreaped, each stays a zombie
// for the container's life, and one in the container's pid namespace keeps
// the container's init from finishing its exit — the kernel waits for
// every process of the namespace to be reaped — so its kill, stop or rm
// never completes. hull-monitor reaps them: on every SIGCHLD, each exited
// child that is not one it waits for itself (the init, its helpers).

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// owned are the children someone in the monitor waits for.
var owned = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// startOwned starts cmd, a child its caller waits for with waitOwned.
func startOwned(cmd *exec.Cmd) error {
	owned.Lock()
	defer owned.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	owned.pids[cmd.Process.Pid] = true
	return nil
}

// waitOwned waits for a child started with startOwned.
func waitOwned(cmd *exec.Cmd) error {
	err := cmd.Wait()
	owned.Lock()
	delete(owned.pids, cmd.Process.Pid)
	owned.Unlock()
	return err
}

// ReapOrphans starts reaping the children that are neither the init (pid
// init, which the monitor waits for) nor started with startOwned. Only a
// process all of whose own children are started that way may call it (a
// shim serving in process runs libcontainer, which waits for its own).
func ReapOrphans(init int) {
	owned.Lock()
	owned.pids[init] = true
	owned.Unlock()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGCHLD)
	go func() {
		for {
			reapOrphans()
			<-ch
		}
	}()
}

// reapOrphans reaps every exited child that nobody waits for.
func reapOrphans() {
	owned.Lock()
	defer owned.Unlock()
	for _, pid := range children() {
		if owned.pids[pid] {
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil) // a live one stays
	}
}

// children lists this process's children: an orphan is given to any of
// its threads, so all of theirs. Read with plain system calls, not
// filepath.Glob and os.ReadFile: it runs as the monitor starts and on every
// SIGCHLD, and those took ~0.25 ms a time (~1 ms cold) against ~0.04.
func children() []int {
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(dir)
	var buf [4096]byte
	var tasks []string
	for {
		n, err := unix.Getdents(dir, buf[:])
		if err != nil || n <= 0 {
			break
		}
		_, _, tasks = unix.ParseDirent(buf[:n], -1, tasks)
	}
	var pids []int
	for _, t := range tasks {
		f, err := unix.Openat(dir, t+"/children", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // the thread ended
		}
		var b []byte
		for {
			n, err := unix.Read(f, buf[:])
			if err != nil || n <= 0 {
				break
			}
			b = append(b, buf[:n]...)
		}
		unix.Close(f)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
