package monitor

import (
	"bytes"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// reapOrphans reaps, as they exit, the processes reparented to the monitor
// (a subreaper, see the shim) that it did not start: the orphans of a
// container that shares the host's pid namespace (docker run --pid host: a
// background job of the init or of an exec outlives its parent) and
// nsexec's stage-1 child when its stage-0 parent exits first. Each stayed a
// zombie for as long as the container ran (containerd's shim reaps every
// child too). The init (reaped by reap, for its exit status) and the
// helpers (hull-shim, waited for by their exec.Cmd) are left alone.
func (m *Monitor) reapOrphans() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	self := os.Getpid()
	for range ch {
		for _, pid := range zombieChildren(self) {
			if pid == m.init.Pid {
				continue
			}
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// zombieChildren lists the children of process self that are zombies,
// but for hull-shim helpers.
func zombieChildren(self int) []int {
	var pids []string
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(self) + "/task/*/children")
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		pids = append(pids, strings.Fields(string(b))...)
	}
	if len(tasks) == 0 {
		// A kernel without /proc/PID/task/TID/children: every process.
		all, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range all {
			pids = append(pids, filepath.Base(p))
		}
	}
	var out []int
	for _, p := range pids {
		stat, err := os.ReadFile("/proc/" + p + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		j := bytes.IndexByte(stat, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] != "Z" || f[1] != strconv.Itoa(self) || string(stat[j+1:i]) == "hull-shim" {
			continue
		}
		if pid, err := strconv.Atoi(p); err == nil {
			out = append(out, pid)
		}
	}
	return out
}
