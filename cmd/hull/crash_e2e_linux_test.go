package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrashPoints kills the daemon at named points of create, start and
// rm (HULL_TEST_CRASH_AT), starts it again on the same roots and checks
// that the records, the disk, the kernel and the processes agree: a
// create cut short leaves no container and no layer; a start cut short
// leaves a container that does not run, with no init, monitor, cgroup or
// mount, and that starts again; a remove cut short leaves a container
// that rm finishes (Dead when its layer went, as dockerd marks it).
func TestCrashPoints(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	const img = "e2e/busybox:1"
	layersDir := filepath.Join(dir, "root", "layers")
	countLayers := func() int {
		ents, _ := os.ReadDir(layersDir)
		n := 0
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		return n
	}
	layersBefore := countLayers()

	var daemon *exec.Cmd
	stop := func() {
		if daemon != nil {
			daemon.Process.Kill()
			daemon.Wait()
			daemon = nil
			return
		}
		// The first daemon is hullDaemon's: killed as a crash would.
		out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output()
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := func(crashAt string) {
		t.Helper()
		cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+filepath.Join(dir, "hull.sock"),
			"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "run"),
			"--config-file", filepath.Join(dir, "daemon.json"))
		cmd.Env = os.Environ()
		if crashAt != "" {
			cmd.Env = append(cmd.Env, "HULL_TEST_CRASH_AT="+crashAt)
		}
		logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		daemon = cmd
		waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")
	}
	t.Cleanup(func() {
		if daemon != nil {
			daemon.Process.Signal(os.Interrupt)
			daemon.Wait()
		}
	})
	// crash runs op on a daemon that dies at point, then starts a daemon
	// that does not.
	crash := func(point string, op ...string) {
		t.Helper()
		stop()
		start(point)
		if out, e, code := dockerRun(t, env, "", op...); code == 0 {
			t.Fatalf("%v succeeded on a daemon that crashes at %q: %s %s", op, point, out, e)
		}
		if err := daemon.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 70") {
			t.Fatalf("the daemon did not crash at %q: %v", point, err)
		}
		daemon = nil
		start("")
	}
	id := func(name string) string { return docker(t, env, "inspect", "-f", "{{.Id}}", name) }
	// leftovers lists what of container id still lives: processes that name
	// it or sit in its cgroups, its mounts, its cgroups.
	leftovers := func(cid string) []string {
		var out []string
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
			cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
			if strings.Contains(string(cmdline), cid) || strings.Contains(string(cg), cid) {
				out = append(out, "process "+filepath.Base(p)+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		for _, l := range strings.Split(string(mi), "\n") {
			if strings.Contains(l, cid) && !strings.Contains(l, "/netns/") {
				out = append(out, "mount: "+l)
			}
		}
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/*" + cid + "*")
		more, _ := filepath.Glob("/sys/fs/cgroup/*/*/*" + cid + "*")
		for _, c := range append(cgs, more...) {
			out = append(out, "cgroup "+c)
		}
		return out
	}
	noneLeft := func(what, cid string) {
		t.Helper()
		if l := leftovers(cid); len(l) > 0 {
			t.Errorf("%s: left: %v", what, l)
		}
	}
	status := func(name string) string {
		return docker(t, env, "inspect", "-f", "{{.State.Status}} dead={{.State.Dead}}", name)
	}

	// create: the scratch layer is made, the record is not.
	crash("create: the scratch layer is made, the record is not", "create", "--name", "c-create", "--network", "none", img, "sleep", "300")
	if _, _, code := dockerRun(t, env, "", "inspect", "c-create"); code == 0 {
		t.Errorf("create cut short: the container exists")
	}
	if n := countLayers(); n != layersBefore {
		t.Errorf("create cut short: %d layers, want %d (the image's)", n, layersBefore)
	}
	docker(t, env, "create", "--name", "c-create", "--network", "none", img, "true") // the name is free
	docker(t, env, "rm", "c-create")

	// start, twice: the init is created but not started; the process runs
	// but its state is not recorded.
	for i, point := range []string{"start: the init is created, not started", "start: the process runs, its state is not recorded"} {
		name := []string{"c-start1", "c-start2"}[i]
		docker(t, env, "create", "--name", name, img, "sleep", "300")
		cid := id(name)
		crash(point, "start", name)
		if st := status(name); strings.HasPrefix(st, "running") {
			t.Errorf("%s: %s after the restart, want not running", point, st)
		}
		noneLeft(point, cid)
		docker(t, env, "start", name)
		if st := status(name); !strings.HasPrefix(st, "running") {
			t.Errorf("%s: start after the restart: %s", point, st)
		}
		docker(t, env, "rm", "-f", name)
		noneLeft(point+", then rm -f", cid)
	}

	// rm -f, twice: the process is gone but the layer is not; the layer is
	// gone but the record is not (Dead).
	for i, c := range []struct{ point, want string }{
		{"rm: the process is gone, the layer is not", "exited dead=false"},
		{"rm: the layer is gone, the record is not", "dead dead=true"},
	} {
		name := []string{"c-rm1", "c-rm2"}[i]
		docker(t, env, "run", "-d", "--name", name, img, "sleep", "300")
		cid := id(name)
		crash(c.point, "rm", "-f", name)
		if st := status(name); st != c.want {
			t.Errorf("%s: %s after the restart, want %s", c.point, st, c.want)
		}
		noneLeft(c.point, cid)
		if _, _, code := dockerRun(t, env, "", "start", name); code == 0 && c.want == "dead dead=true" {
			t.Errorf("%s: a dead container started", c.point)
		}
		docker(t, env, "rm", "-f", name)
		if _, _, code := dockerRun(t, env, "", "inspect", name); code == 0 {
			t.Errorf("%s: rm after the restart left the container", c.point)
		}
		noneLeft(c.point+", then rm", cid)
	}
	if n := countLayers(); n != layersBefore+1 {
		t.Errorf("after all: %d layers, want %d (the image's, and its init layer kept for the next container)", n, layersBefore+1)
	}
}
