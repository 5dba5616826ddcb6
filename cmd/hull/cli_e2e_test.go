package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hullCLI runs hull's docker-like client against the daemon at sock.
func hullCLI(t *testing.T, sock, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, append(os.Environ(), "HULL_HOST=unix://"+sock), stdin, hullBin, args...)
}

// TestHullCLI: hull's own client (on the Go SDK) runs the docker flows.
func TestHullCLI(t *testing.T) {
	buildShim(t)
	_, dir := hullDaemon(t)
	sock := filepath.Join(dir, "hull.sock")
	h := func(stdin string, want int, args ...string) string {
		t.Helper()
		out, errOut, code := hullCLI(t, sock, stdin, args...)
		if code != want {
			t.Fatalf("hull %v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
		return out
	}
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "cli/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "cli/busybox:1")
	if out := h("", 0, "load", "-i", archive); !strings.Contains(out, "Loaded image: cli/busybox:1") {
		t.Errorf("load: %q", out)
	}
	if out := h("", 0, "images"); !strings.Contains(out, "cli/busybox") {
		t.Errorf("images: %q", out)
	}
	if out := h("", 0, "run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "1000", "cli/busybox:1", "sh", "-c", "echo $A; pwd; id -u"); out != "1\n/tmp\n1000\n" {
		t.Errorf("run: %q", out)
	}
	h("", 7, "run", "--rm", "cli/busybox:1", "sh", "-c", "exit 7")
	if out := h("piped\n", 0, "run", "-i", "--rm", "cli/busybox:1", "cat"); out != "piped\n" {
		t.Errorf("run -i: %q", out)
	}
	h("", 0, "run", "-d", "--name", "web", "-h", "webhost", "cli/busybox:1", "sh", "-c", "echo started; sleep 100")
	if out := h("", 0, "ps"); !strings.Contains(out, "web") || !strings.Contains(out, "Up ") {
		t.Errorf("ps: %q", out)
	}
	if out := h("", 0, "exec", "web", "hostname"); out != "webhost\n" {
		t.Errorf("exec: %q", out)
	}
	h("", 3, "exec", "web", "sh", "-c", "exit 3")
	waitFor(t, func() bool { out, _, _ := hullCLI(t, sock, "", "logs", "web"); return out == "started\n" }, "the log")
	h("", 0, "stop", "-t", "1", "web")
	if out := h("", 0, "wait", "web"); out != "137\n" {
		t.Errorf("wait: %q", out)
	}
	if out := h("", 0, "ps", "-a", "--filter", "status=exited", "-q"); len(strings.TrimSpace(out)) != 12 {
		t.Errorf("ps -a --filter status=exited -q: %q", out)
	}
	h("", 0, "rm", "web")
	h("", 1, "rm", "web")
	h("", 0, "volume", "create", "v1")
	if out := h("", 0, "volume", "ls", "-q"); out != "v1\n" {
		t.Errorf("volume ls: %q", out)
	}
	h("", 0, "volume", "rm", "v1")
	h("", 0, "tag", "cli/busybox:1", "cli/other:2")
	if out := h("", 0, "rmi", "cli/other:2"); !strings.Contains(out, "Untagged: cli/other:2") {
		t.Errorf("rmi: %q", out)
	}
	if out := h("", 0, "version"); !strings.Contains(out, "API version: 1.56") {
		t.Errorf("version: %q", out)
	}
}

// TestHullCLIStartsDaemon: with no daemon at the default socket, `hull
// run` starts one. It uses the default paths (/run/hull, /var/lib/hull),
// so it runs only where neither exists, and removes them.
func TestHullCLIStartsDaemon(t *testing.T) {
	requireRoot(t)
	buildShim(t)
	for _, p := range []string{"/run/hull", "/var/lib/hull"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists: this test would use it", p)
		}
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile("/run/hull/daemon.log"); err == nil && t.Failed() {
			t.Logf("daemon log:\n%s", b)
		}
		removeAllContainers(t, "/run/hull/hull.sock")
		exec.Command("pkill", "-INT", "-f", hullBin+" daemon").Run()
		for i := 0; i < 100; i++ {
			if exec.Command("pgrep", "-f", hullBin+" daemon").Run() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, m := range mountsUnder(t, "/var/lib/hull") {
			t.Errorf("mount left: %s", m)
			exec.Command("umount", "-l", m).Run()
		}
		os.RemoveAll("/run/hull")
		os.RemoveAll("/var/lib/hull")
	})
	cmd := exec.Command(hullBin, "info")
	cmd.Env = append(os.Environ(), "HULL_HOST=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "started hull daemon") || !strings.Contains(string(out), "Server Version:") {
		t.Fatalf("hull info without a daemon: %v\n%s", err, out)
	}
	fi, err := os.Stat("/run/hull/hull.sock")
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("the socket: %v %v", fi, err)
	}
}
