package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDiskFull runs a daemon whose data root is a small tmpfs: a load that
// runs out of space fails with "no space left on device" and leaves
// nothing behind (the space is back at once); once there is room again
// the same load works without a restart; a container that fills the disk
// makes a commit fail the same way, with no layer left; removing it gives
// the space back; the daemon restarts on the same data root with its
// records whole.
func TestDiskFull(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	root, err := os.MkdirTemp("/var/tmp", "hfull")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1500k", "hfull", root).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs: %v %s", err, out)
	}
	// Registered before the daemon's cleanup, so run after it.
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	used := func() uint64 {
		var st unix.Statfs_t
		if err := unix.Statfs(root, &st); err != nil {
			t.Fatal(err)
		}
		return (st.Blocks - st.Bfree) * uint64(st.Bsize)
	}
	env, dir := hullDaemon(t, "--data-root", root)
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "e2e/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "e2e/busybox:1")
	before := used()

	_, e, code := dockerRun(t, env, "", "load", "-i", archive)
	if code == 0 || !strings.Contains(e, "no space left on device") {
		t.Fatalf("load on a full disk: %d %s", code, e)
	}
	if after := used(); after > before+64<<10 {
		t.Errorf("the failed load holds %d bytes (before %d)", after-before, before)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "layers", ".tmp-*")); len(left) > 0 {
		t.Errorf("the failed load left %v", left)
	}
	if out := docker(t, env, "images", "-aq"); out != "" {
		t.Errorf("images after the failed load: %q", out)
	}

	// Room again: the same load works, no restart.
	if out, err := exec.Command("mount", "-o", "remount,size=6m", root).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	docker(t, env, "load", "-i", archive)
	layersBefore, _ := os.ReadDir(filepath.Join(root, "layers"))

	// A container fills the disk from inside; a commit then fails cleanly.
	docker(t, env, "run", "-d", "--name", "filler", "--network", "none", "e2e/busybox:1", "sh", "-c",
		"dd if=/dev/zero of=/big bs=64k 2>/dev/null; sync; sleep 300")
	waitFor(t, func() bool {
		var st unix.Statfs_t
		unix.Statfs(root, &st)
		return st.Bavail < 16
	}, "the container to fill the disk")
	_, e, code = dockerRun(t, env, "", "commit", "filler", "e2e/full:1")
	if code == 0 || !strings.Contains(e, "no space left on device") {
		t.Errorf("commit on a full disk: %d %s", code, e)
	}
	if now, _ := os.ReadDir(filepath.Join(root, "layers")); len(now) > len(layersBefore)+2 {
		// The image's layers, and the container's init and scratch layers.
		t.Errorf("layers after the failed commit: %d, before the container %d", len(now), len(layersBefore))
	}
	if _, _, code := dockerRun(t, env, "", "image", "inspect", "e2e/full:1"); code == 0 {
		t.Error("the failed commit made an image")
	}
	docker(t, env, "rm", "-f", "filler")
	if u := used(); u > 4<<20 {
		t.Errorf("rm -f of the filler left %d bytes used", u)
	}
	// The daemon goes on: a container runs, and a restarted daemon has
	// the image and no container.
	if out := docker(t, env, "run", "--rm", "--network", "none", "e2e/busybox:1", "echo", "after"); out != "after" {
		t.Errorf("run after the disk was full: %q", out)
	}
	out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-INT", pid).Run()
	}
	waitFor(t, func() bool { o, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output(); return len(o) == 0 }, "the daemon to stop")
	cmd := exec.Command(hullBin, "daemon", "-H", "unix://"+filepath.Join(dir, "hull.sock"), "--data-root", root,
		"--exec-root", filepath.Join(dir, "run"), "--config-file", filepath.Join(dir, "daemon.json"))
	logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")
	if out := docker(t, env, "images", "--format", "{{.Repository}}:{{.Tag}}"); out != "e2e/busybox:1" {
		t.Errorf("images after the restart: %q", out)
	}
	if out := docker(t, env, "ps", "-aq"); out != "" {
		t.Errorf("containers after the restart: %q", out)
	}
}
