package main

// Acceptance 1 of issue 3: a container run without any daemon, from layer
// folders, as the Windows walkthrough does with wclayer and runhcs.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	shimOnce sync.Once
	shimErr  error
)

// buildShim builds hull-shim beside hullBin, where hull looks for it, and
// hull-monitor and hull-init beside that (pure Go, as hack/lib.sh builds them). hull-shim is
// built with libcontainer's seccomp support (cgo, libseccomp), since the
// default spec carries Docker's seccomp profile.
func buildShim(t *testing.T) {
	t.Helper()
	if goruntime.GOOS != "linux" {
		t.Skip("hull-shim and the containers it runs (libcontainer) are Linux's; on Windows HCS runs containers")
	}
	if _, err := os.Stat("/usr/include/seccomp.h"); err != nil {
		t.Skip("libseccomp-dev is not installed; hull-shim needs it for the default seccomp profile")
	}
	shimOnce.Do(func() {
		out, err := exec.Command("go", "build", "-tags", "seccomp,netgo,osusergo", "-ldflags=-extldflags=-static", "-o", filepath.Join(filepath.Dir(hullBin), "hull-shim"), "../hull-shim").CombinedOutput()
		if err != nil {
			shimErr = fmt.Errorf("build hull-shim: %v\n%s", err, out)
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-monitor"), "../hull-monitor")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			shimErr = fmt.Errorf("build hull-monitor: %v\n%s", err, out)
			return
		}
		cmd = exec.Command("go", "build", "-ldflags=-s -w", "-o", filepath.Join(filepath.Dir(hullBin), "hull-init"), "../hull-init")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			shimErr = fmt.Errorf("build hull-init: %v\n%s", err, out)
		}
	})
	if shimErr != nil {
		t.Fatal(shimErr)
	}
}

// busyboxTar is a rootfs of the static busybox and a few applet links.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed")
	}
	dir := t.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	run(t, 0, nil, "cp", bb, filepath.Join(dir, "bin/busybox"))
	for _, a := range []string{"sh", "echo", "sleep", "cat", "hostname", "stty"} {
		os.Symlink("busybox", filepath.Join(dir, "bin", a))
	}
	return []byte(run(t, 0, nil, "tar", "-C", dir, "-cf", "-", "."))
}

func TestRuntimeWalkthrough(t *testing.T) {
	requireRoot(t)
	buildShim(t)
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (apt-get install tmux); it drives hull diag console")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "runtime")
	l1, bundle := filepath.Join(dir, "L1"), filepath.Join(dir, "bundle")
	id := fmt.Sprintf("c1-%06x", rand.IntN(1<<24))
	rt := func(args ...string) string {
		t.Helper()
		return hull(t, append([]string{"runtime", "--root", root}, args...)...)
	}
	t.Cleanup(func() {
		exec.Command(hullBin, "runtime", "--root", root, "delete", "--force", id).Run()
		exec.Command(hullBin, "layer", "unmount", bundle).Run()
		exec.Command(hullBin, "layer", "remove", "--force", bundle).Run()
	})

	run(t, 0, busyboxTar(t), hullBin, "layer", "import", l1)
	hull(t, "layer", "create", "--layer", l1, bundle)
	rootfs := strings.TrimSpace(hull(t, "layer", "mount", bundle))
	if rootfs != filepath.Join(bundle, "merged") {
		t.Fatalf("mount printed %s, want %s", rootfs, filepath.Join(bundle, "merged"))
	}
	rt("spec", "--bundle", bundle, "--terminal=false", "--args", "sleep", "--args", "1000")
	setRootPath(t, filepath.Join(bundle, "config.json"), "merged") // relative to the bundle

	// create hands the container the caller's stdio, as runc create does;
	// a captured stdout would stay open as long as the container runs.
	errFile, err := os.Create(filepath.Join(dir, "create.err"))
	if err != nil {
		t.Fatal(err)
	}
	create := exec.Command(hullBin, "runtime", "--root", root, "create", "-b", bundle, id)
	create.Stderr = errFile // a file, not a pipe: the container keeps it
	err = create.Run()
	errFile.Close()
	if err != nil {
		b, _ := os.ReadFile(errFile.Name())
		t.Fatalf("hull runtime create: %v\n%s", err, b)
	}
	if out := rt("list"); !strings.Contains(out, id) || !strings.Contains(out, " created ") {
		t.Errorf("list after create:\n%s", out)
	}
	rt("start", id)
	var st struct {
		Status  string `json:"status"`
		Pid     int    `json:"pid"`
		ShimPid int    `json:"shimPid"`
	}
	if err := json.Unmarshal([]byte(rt("state", id)), &st); err != nil || st.Status != "running" {
		t.Fatalf("state after start: %+v, %v", st, err)
	}
	if out := hull(t, "diag", "--runtime-root", root, "list"); !strings.Contains(out, id) || !strings.Contains(out, strconv.Itoa(st.ShimPid)) {
		t.Errorf("diag list:\n%s", out)
	}

	// hull diag console through a terminal that tmux provides.
	sock := fmt.Sprintf("hull-e2e-%06x", rand.IntN(1<<24))
	tm := func(args ...string) string {
		t.Helper()
		return run(t, 0, nil, tmux, append([]string{"-L", sock}, args...)...)
	}
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	tm("new-session", "-d", "-x", "100", "-y", "30", hullBin+" diag --runtime-root "+root+" console "+id+"; echo console-exit=$?; sleep 30")
	waitFor(t, func() bool { return strings.Contains(tm("capture-pane", "-p"), "/ #") }, "the container's shell prompt", func() string { return tm("capture-pane", "-p") })
	tm("send-keys", `echo "host:$HOSTNAME"; stty size; exit 4`, "Enter")
	waitFor(t, func() bool { return strings.Contains(tm("capture-pane", "-p"), "console-exit=") }, "the console to end")
	screen := tm("capture-pane", "-p")
	for _, want := range []string{"host:hull\n", "30 100\n", "console-exit=4\n"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the console screen lacks %q:\n%s", want, screen)
		}
	}

	rt("kill", id, "KILL")
	waitFor(t, func() bool { return strings.Contains(rt("state", id), `"stopped"`) }, "the container to stop")
	rt("delete", id)
	hull(t, "layer", "unmount", bundle)
	hull(t, "layer", "remove", bundle)

	// Nothing is left: mounts, cgroups, namespace files, processes, state.
	if m := mountsUnder(t, dir); len(m) > 0 {
		t.Errorf("mounts remain: %v", m)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), id) {
		t.Errorf("a mount naming %s remains:\n%s", id, mi)
	}
	if cg, _ := filepath.Glob("/sys/fs/cgroup/*/" + id); len(cg) > 0 {
		t.Errorf("cgroups remain: %v", cg)
	}
	for _, p := range []int{st.Pid, st.ShimPid} {
		waitFor(t, func() bool { // gone, or a zombie that its reaper has yet to collect
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			return err != nil || strings.Contains(string(b), ") Z ")
		}, fmt.Sprintf("process %d to end", p))
	}
	for _, d := range []string{filepath.Join(root, "shims", id), filepath.Join(root, "state", id)} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s remains", d)
		}
	}
	if out := rt("list", "-q"); out != "" {
		t.Errorf("list after delete: %q", out)
	}
}

// TestRuntimeRun: `hull runtime run` passes the caller's stdio to the
// container and exits with its code; bad input is exit 2 and leaves nothing.
func TestRuntimeRun(t *testing.T) {
	requireRoot(t)
	buildShim(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "runtime")
	bundle := filepath.Join(dir, "bundle")
	os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755)
	run(t, 0, busyboxTar(t), "tar", "-C", filepath.Join(bundle, "rootfs"), "-xf", "-")
	hull(t, "runtime", "--root", root, "spec", "-b", bundle, "--terminal=false", "--args", "sh", "--args=-c", "--args", "cat; echo out-$(hostname); exit 5")
	id := fmt.Sprintf("run-%06x", rand.IntN(1<<24))
	t.Cleanup(func() { exec.Command(hullBin, "runtime", "--root", root, "delete", "--force", id).Run() })
	out := run(t, 5, []byte("in\n"), hullBin, "runtime", "--root", root, "run", "-b", bundle, id)
	if out != "in\nout-hull\n" {
		t.Errorf("run printed %q", out)
	}
	if l := hull(t, "runtime", "--root", root, "list", "-q"); l != "" {
		t.Errorf("run left %q", l)
	}
	os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{not json"), 0o644)
	run(t, 2, nil, hullBin, "runtime", "--root", root, "create", "-b", bundle, id)
	if l := hull(t, "runtime", "--root", root, "list", "-q"); l != "" {
		t.Errorf("a failed create left %q", l)
	}
}

// TestRuntimeAttach: a terminal container run detached keeps its pty in
// the shim; `hull runtime attach` from a later process types into it, sees
// its output, detaches with Ctrl-P Ctrl-Q and attaches again.
func TestRuntimeAttach(t *testing.T) {
	requireRoot(t)
	buildShim(t)
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (apt-get install tmux); it drives hull runtime attach")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "runtime")
	bundle := filepath.Join(dir, "bundle")
	os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755)
	run(t, 0, busyboxTar(t), "tar", "-C", filepath.Join(bundle, "rootfs"), "-xf", "-")
	hull(t, "runtime", "--root", root, "spec", "-b", bundle, "--args", "sh")
	id := fmt.Sprintf("att-%06x", rand.IntN(1<<24))
	t.Cleanup(func() { exec.Command(hullBin, "runtime", "--root", root, "delete", "--force", id).Run() })
	hull(t, "runtime", "--root", root, "run", "-d", "-b", bundle, id)

	sock := fmt.Sprintf("hull-e2e-%06x", rand.IntN(1<<24))
	tm := func(args ...string) string {
		t.Helper()
		return run(t, 0, nil, tmux, append([]string{"-L", sock}, args...)...)
	}
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	attach := hullBin + " runtime --root " + root + " attach " + id + "; echo attach-exit=$?; sleep 30"
	tm("new-session", "-d", "-x", "90", "-y", "30", attach)
	screen := func() string { return tm("capture-pane", "-p") }
	time.Sleep(200 * time.Millisecond) // attached: the shell prints nothing until it reads a line
	tm("send-keys", "echo answer=$((6*7))", "Enter")
	waitFor(t, func() bool { return strings.Contains(screen(), "answer=42") }, "the shell's answer", screen)
	tm("send-keys", "C-p", "C-q")
	waitFor(t, func() bool { return strings.Contains(screen(), "attach-exit=0") }, "the detach", screen)
	if !strings.Contains(screen(), "detached from "+id) {
		t.Errorf("no detach message:\n%s", screen())
	}
	if st := hull(t, "runtime", "--root", root, "state", id); !strings.Contains(st, `"running"`) {
		t.Fatalf("after detach: %s", st)
	}

	tm("respawn-pane", "-k", attach)
	time.Sleep(200 * time.Millisecond)
	tm("send-keys", "stty size; exit 3", "Enter")
	waitFor(t, func() bool { return strings.Contains(screen(), "attach-exit=") }, "the container to exit", screen)
	if sc := screen(); !strings.Contains(sc, "30 90") || !strings.Contains(sc, "attach-exit=0") {
		t.Errorf("second attach:\n%s", sc)
	}
	waitFor(t, func() bool { return strings.Contains(hull(t, "runtime", "--root", root, "state", id), `"stopped"`) }, "the container to stop")
	if st := hull(t, "runtime", "--root", root, "state", id); !strings.Contains(st, `"exitStatus":3`) && !strings.Contains(st, `"exitStatus": 3`) {
		t.Errorf("state after exit 3: %s", st)
	}
	hull(t, "runtime", "--root", root, "delete", id)
}

func setRootPath(t *testing.T, config, path string) {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s["root"] = map[string]any{"path": path}
	b, _ = json.Marshal(s)
	if err := os.WriteFile(config, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string, show ...func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range show {
				t.Log(f())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
