package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// leanTraced fails unless the daemon's creation trace of the container
// says hull's own init created it.
func leanTraced(t *testing.T, dir, name string) {
	t.Helper()
	trace := hull(t, "diag", "trace", "-H", "unix://"+filepath.Join(dir, "hull.sock"), name)
	if !regexp.MustCompile(`(?m)^lean init\s`).MatchString(trace) {
		t.Errorf("%s was not created by the lean init:\n%s", name, trace)
	}
}

// TestLeanInitWithDockerCLI: with HULL_INIT=lean (hull's own init or
// fail), the docker CLI's common shapes of docker run work and their
// trace names the lean init; a lean-created container serves exec,
// pause/unpause, stats, top, update, restart, kill, and a daemon restart
// (live-restore) reattaches it.
func TestLeanInitWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	t.Setenv("HULL_INIT", "lean") // the daemons started below inherit it
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	unconfined := []string{"--security-opt", "seccomp=unconfined"}

	out, errOut, code := dockerRun(t, env, "", append(append([]string{"run", "--rm"}, unconfined...), "e2e/busybox:1", "sh", "-c", "echo ran; exit 4")...)
	if out != "ran\n" || code != 4 {
		t.Errorf("docker run --rm: %q %q %d", out, errOut, code)
	}

	host := filepath.Join(dir, "hostdir")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "f"), []byte("from-host\n"), 0o644)
	docker(t, env, append(append([]string{"run", "-d", "--name", "ipcowner"}, unconfined...), "--ipc", "shareable", "e2e/busybox:1", "sleep", "1000")...)
	ownerIPC := docker(t, env, "exec", "ipcowner", "sh", "-c", "readlink /proc/self/ns/ipc")
	shapes := []struct {
		name   string
		flags  []string
		script string
		want   string
	}{
		{"user", []string{"-u", "1000:1000"}, "id -u; id -g", "1000\n1000"},
		{"readonly", []string{"--read-only", "--tmpfs", "/run"}, "touch /x 2>/dev/null && echo root-rw; touch /run/x && echo run-rw", "run-rw"},
		{"volume", []string{"-v", host + ":/h:ro"}, "cat /h/f; touch /h/g 2>/dev/null || echo ro", "from-host\nro"},
		{"capdrop", []string{"--cap-drop", "ALL"}, "grep CapEff /proc/self/status", "CapEff:\t0000000000000000"},
		{"privileged", []string{"--privileged"}, "grep -c ' /sys rw,' /proc/self/mountinfo; grep NoNewPrivs /proc/self/status", "1\nNoNewPrivs:\t0"},
		{"tty", []string{"-t"}, "tty", "/dev/pts/0"},
		{"none", []string{"--network", "none"}, "ls /sys/class/net", "lo"},
		{"bridge", []string{"--network", "bridge"}, "ls /sys/class/net | sort | tr '\\n' ' '", "eth0 lo "},
		{"ipc", []string{"--ipc", "container:ipcowner"}, "readlink /proc/self/ns/ipc", ownerIPC},
		{"sysctl", []string{"--sysctl", "kernel.msgmax=12345", "--sysctl", "net.ipv4.ip_forward=1"}, "cat /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ip_forward", "12345\n1"},
	}
	for _, s := range shapes {
		name := "lean-" + s.name
		args := append(append(append([]string{"run", "-d", "--name", name}, unconfined...), s.flags...), "e2e/busybox:1", "sh", "-c", s.script)
		if _, errOut, code := dockerRun(t, env, "", args...); code != 0 {
			t.Errorf("%s: docker run %q: %d %s", s.name, s.flags, code, errOut)
			continue
		}
		if code := docker(t, env, "wait", name); code != "0" {
			t.Errorf("%s: exit %s", s.name, code)
		}
		logs := strings.TrimSpace(strings.ReplaceAll(docker(t, env, "logs", name), "\r", ""))
		if logs != strings.TrimSpace(s.want) {
			t.Errorf("%s (%q): output %q, want %q", s.name, s.flags, logs, s.want)
		}
		leanTraced(t, dir, name)
		docker(t, env, "rm", name)
	}
	leanTraced(t, dir, "ipcowner")

	// Docker's seccomp profile, which the lean init loads precompiled.
	docker(t, env, "run", "-d", "--name", "profiled", "e2e/busybox:1", "sh", "-c", "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true 2>/dev/null || echo refused")
	if code := docker(t, env, "wait", "profiled"); code != "0" {
		t.Errorf("profiled: exit %s", code)
	}
	if out := docker(t, env, "logs", "profiled"); out != "Seccomp:\t2\nSeccomp_filters:\t1\nrefused" {
		t.Errorf("with Docker's profile: %q", out)
	}
	leanTraced(t, dir, "profiled")
	docker(t, env, "rm", "profiled")

	// The lifecycle of a lean-created container.
	docker(t, env, append(append([]string{"run", "-d", "--name", "life"}, unconfined...), "e2e/busybox:1", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done")...)
	leanTraced(t, dir, "life")
	if out := docker(t, env, "exec", "life", "sh", "-c", "echo exec-$((6*7))"); out != "exec-42" {
		t.Errorf("docker exec: %q", out)
	}
	docker(t, env, "pause", "life")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "life"); out != "paused" {
		t.Errorf("after pause: %q", out)
	}
	docker(t, env, "unpause", "life")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "life"); out != "running" {
		t.Errorf("after unpause: %q", out)
	}
	if out := docker(t, env, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "life"); !strings.HasPrefix(out, "life ") || strings.HasSuffix(out, " 0") {
		t.Errorf("docker stats: %q", out)
	}
	if out := docker(t, env, "top", "life"); !strings.Contains(out, "sh -c trap") {
		t.Errorf("docker top:\n%s", out)
	}
	docker(t, env, "update", "--memory", "64m", "--memory-swap", "128m", "life")
	if out := docker(t, env, "exec", "life", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); out != "67108864" {
		t.Errorf("memory limit after docker update: %q", out)
	}
	docker(t, env, "restart", "-t", "5", "life")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "life"); !strings.HasPrefix(out, "running") {
		t.Errorf("after restart: %q", out)
	}
	leanTraced(t, dir, "life")

	// The daemon goes (live-restore: the container stays) and comes back.
	stopDaemonIn(t, dir)
	restartDaemonOn(t, dir, filepath.Join(dir, "root"))
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the new daemon")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "life"); out != "running" {
		t.Fatalf("life after the daemon restart: %q", out)
	}
	if out := docker(t, env, "exec", "life", "echo", "back"); out != "back" {
		t.Errorf("exec after the daemon restart: %q", out)
	}
	docker(t, env, "kill", "life")
	if out := docker(t, env, "wait", "life"); out != "137" {
		t.Errorf("exit after docker kill: %q", out)
	}
	docker(t, env, "rm", "-f", "life", "ipcowner")
}

// TestLeanInitStartFailureWithDockerCLI: a program the lean init cannot
// start fails as under libcontainer, with dockerd's text and exit code
// (TestLifecycleStartFailure's, here with HULL_INIT=lean).
func TestLeanInitStartFailureWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	t.Setenv("HULL_INIT", "lean")
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	for _, c := range []struct {
		cmd, msg string
		code     int
	}{
		{"nosuch", `exec: "nosuch": executable file not found in $PATH`, 127},
		{"/etc/hostname", `exec: "/etc/hostname": permission denied`, 126},
	} {
		text := "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: " + c.msg + ": unknown"
		_, stderr, code := dockerRun(t, env, "", "run", "--rm", "--security-opt", "seccomp=unconfined", "e2e/busybox:1", c.cmd)
		if code != c.code || !strings.Contains(stderr, "Error response from daemon: "+text+"\n") {
			t.Errorf("docker run %s: %d %q, want %d and %q", c.cmd, code, stderr, c.code, text)
		}
	}
}

// TestLeanInitDanglingLinkVolume: an image whose /data is a link to a
// folder it does not have (var/lib/data), run with -v host:/data, works
// under the lean init as under libcontainer (and dockerd): the volume is
// bound where the link leads, made inside the root.
func TestLeanInitDanglingLinkVolume(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	t.Setenv("HULL_INIT", "lean")
	env, dir := hullDaemon(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed")
	}
	rootfs := filepath.Join(dir, "dangling")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	run(t, 0, nil, "cp", bb, filepath.Join(rootfs, "bin/busybox"))
	os.Symlink("busybox", filepath.Join(rootfs, "bin/sh"))
	os.Symlink("var/lib/data", filepath.Join(rootfs, "data"))
	tarball := filepath.Join(dir, "dangling.tar")
	run(t, 0, nil, "tar", "-C", rootfs, "-cf", tarball, ".")
	docker(t, env, "import", tarball, "e2e/dangling:1")
	host := filepath.Join(dir, "vol")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "f"), []byte("from-volume\n"), 0o644)
	out, errOut, code := dockerRun(t, env, "", "run", "--rm", "--security-opt", "seccomp=unconfined", "-v", host+":/data", "e2e/dangling:1", "sh", "-c", "readlink /data; cat /var/lib/data/f")
	if code != 0 || out != "var/lib/data\nfrom-volume\n" {
		t.Errorf("docker run -v onto a dangling link: %d %q %q", code, out, errOut)
	}
}
