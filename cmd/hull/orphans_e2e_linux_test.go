package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestMonitorReapsOrphans: an exec whose helper dies (killed here; under
// load a helper can die before it reaps libcontainer's stages) leaves its
// processes to the container's monitor, a subreaper. It must reap them:
// an exec'd process left a zombie in the container's pid namespace keeps
// the container's init from finishing its exit, and rm -f hangs for ever
// (seen in CI: compose down timed out, monitors stayed behind).
func TestMonitorReapsOrphans(t *testing.T) {
	env, _, cli := lifecycleDaemon(t)
	id, _ := startNow(t, cli, "sleep", "300")
	if id == "" {
		return
	}
	ctx := context.Background()
	info, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	monitor := ppid(t, info.Container.State.Pid)
	if _, errOut, code := dockerRun(t, env, "", "exec", "-d", id, "sleep", "2"); code != 0 {
		t.Fatalf("exec -d: %s", errOut)
	}
	var helper int
	waitFor(t, func() bool {
		for _, pid := range childrenOf(monitor) {
			if cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); strings.Contains(string(cmd), "helper") {
				helper = pid
				return true
			}
		}
		return false
	}, "the exec's helper")
	syscall.Kill(helper, syscall.SIGKILL)
	time.Sleep(3 * time.Second) // the exec'd sleep ends, its parent gone
	for _, pid := range childrenOf(monitor) {
		if st := procState(pid); st == "Z" {
			cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
			t.Errorf("the monitor leaves a zombie: %d (%s)", pid, strings.TrimSpace(string(cmd)))
		}
	}
	rm := exec.Command("docker", "rm", "-f", id)
	rm.Env = env
	done := make(chan error, 1)
	go func() { done <- rm.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("rm -f: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("rm -f did not finish in 20 s (the init cannot finish its exit)")
		// Let the test's cleanup end what is left: reap the zombies here
		// is impossible, kill the monitor so its children go to init.
		syscall.Kill(monitor, syscall.SIGKILL)
		<-done
	}
}

// ppid is pid's parent.
func ppid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	p, _ := strconv.Atoi(f[1])
	return p
}

// procState is pid's state letter ("" when gone).
func procState(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[0]
}

// childrenOf lists pid's children (of all its threads).
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
