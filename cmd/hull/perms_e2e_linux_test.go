package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// nobody is the unprivileged host user of these tests.
var nobody = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

// TestPermsSetuidFromContainersUnreachable is the CVE-2021-41091 class: a
// container copies busybox into a named volume and into its own root file
// system and makes both setuid root; an unprivileged host user must not be
// able to run them by any host path (the volume's _data, the scratch layer's
// diff/ and merged/, /proc/<pid>/root), nor reach anything else under the
// data root or the exec root — even with the data root opened to 0711 as
// older hulls left it, so each folder below it closes on its own. Then the
// daemon is stopped, the modes an older hull made are put back, and a new
// daemon on the same roots must close them again at start. Containers
// (also with --user 1000) keep working throughout.
func TestPermsSetuidFromContainersUnreachable(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	root, execRoot := filepath.Join(dir, "root"), filepath.Join(dir, "run")
	// The roots' parent lets nobody search it: otherwise nobody is stopped
	// above the roots and the test proves nothing.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	probe := buildPermProbe(t, dir)

	docker(t, env, "volume", "create", "permvol")
	docker(t, env, "run", "-d", "--name", "setuid", "-v", "permvol:/vol", "e2e/busybox:1", "sh", "-c",
		"busybox cp /bin/busybox /vol/sb && busybox chmod 4755 /vol/sb && busybox cp /bin/busybox /sb && busybox chmod 4755 /sb && busybox touch /ready && exec sleep 300")
	id := docker(t, env, "inspect", "-f", "{{.Id}}", "setuid")
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(root, "layers", id, "diff", "ready"))
		return err == nil
	}, "the container's setuid copies")
	// A stopped container's layer keeps its setuid copy in diff/ alone.
	docker(t, env, "run", "--name", "stopped", "e2e/busybox:1", "sh", "-c", "busybox cp /bin/busybox /sb && busybox chmod 4755 /sb")
	stopped := docker(t, env, "inspect", "-f", "{{.Id}}", "stopped")
	containersStillWork(t, env)

	check := func(when string) {
		t.Helper()
		pid := docker(t, env, "inspect", "-f", "{{.State.Pid}}", "setuid")
		wanted := []string{
			filepath.Join(root, "volumes", "permvol", "_data", "sb"),
			filepath.Join(root, "layers", id, "diff", "sb"),
			filepath.Join(root, "layers", id, "merged", "sb"),
			filepath.Join(root, "layers", stopped, "diff", "sb"),
			filepath.Join("/proc", pid, "root", "sb"),
		}
		execAsNobody(t, when, wanted, setuidFiles(t, root, execRoot))
		checkRootModes(t, when, root, execRoot)
		checkUnreachable(t, when, probe, root, execRoot)
		// As an older hull left it (and dockerd's start does for a moment):
		// the data root opened to 0711. Nothing below may let others in.
		if err := os.Chmod(root, 0o711); err != nil {
			t.Fatal(err)
		}
		execAsNobody(t, when+", data root 0711", wanted, nil)
		checkUnreachable(t, when+", data root 0711", probe, root, execRoot)
		if err := os.Chmod(root, 0o710); err != nil {
			t.Fatal(err)
		}
	}
	check("as made")

	// An older hull's data root: stop the daemon (live-restore keeps the
	// container), put back the modes it made, and start a new daemon on the
	// same roots.
	out, _ := exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-INT", pid).Run()
	}
	waitFor(t, func() bool { return exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Run() != nil }, "the daemon to stop")
	for p, mode := range map[string]os.FileMode{
		root: 0o711, filepath.Join(root, "containers"): 0o711, filepath.Join(root, "volumes"): 0o755,
		filepath.Join(root, "volumes", "permvol"): 0o755, filepath.Join(root, "hull.db"): 0o644,
		execRoot: 0o755, filepath.Join(execRoot, "netns"): 0o755, filepath.Join(execRoot, "runtime"): 0o711,
		filepath.Join(execRoot, "runtime", "shims"): 0o711,
	} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "hull.sock")
	cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+sock, "--data-root", root,
		"--exec-root", execRoot, "--config-file", filepath.Join(dir, "daemon.json"))
	logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAllContainers(t, sock); cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the new daemon")
	if log, _ := os.ReadFile(filepath.Join(dir, "daemon.log")); !strings.Contains(string(log), "closed to other users") {
		t.Errorf("the new daemon did not say it closed the older modes")
	}
	check("after a restart on an older hull's modes")
	containersStillWork(t, env)
}

// containersStillWork: the closed folders change nothing for containers,
// run as root or as another user, with volumes and their own files.
func containersStillWork(t *testing.T, env []string) {
	t.Helper()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rm", "-v", "permvol:/vol", "e2e/busybox:1", "sh", "-c", "busybox mkdir -p /vol/u && busybox chown 1000 /vol/u && echo root-ok"}, "root-ok"},
		{[]string{"run", "--rm", "--user", "1000:1000", "-v", "permvol:/vol", "e2e/busybox:1", "sh", "-c",
			"busybox test -x /vol/sb && busybox touch /vol/u/f && cat /etc/hostname >/dev/null && busybox ls / >/dev/null && echo user-ok"}, "user-ok"},
		{[]string{"run", "--rm", "--user", "1000", "-v", "/anon", "e2e/busybox:1", "sh", "-c", "busybox test -r /anon -a -x /anon && echo anon-ok"}, "anon-ok"},
	} {
		if out, errOut, code := dockerRun(t, env, "", c.args...); strings.TrimSpace(out) != c.want || code != 0 {
			t.Errorf("docker %s: %q %q %d", strings.Join(c.args, " "), out, errOut, code)
		}
	}
}

// buildPermProbe builds testdata/permprobe where nobody can run it.
func buildPermProbe(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "probe")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(bin, "permprobe")
	if out, err := exec.Command("go", "build", "-o", probe, "./testdata/permprobe").CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	return probe
}

// setuidFiles lists, as root, the setuid files under the roots.
func setuidFiles(t *testing.T, roots ...string) []string {
	t.Helper()
	var out []string
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeType != 0 {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.Mode()&fs.ModeSetuid != 0 {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// execAsNobody runs each setuid copy as uid 65534: each must fail with
// EACCES. wanted must all exist (as root), or the setup is wrong.
func execAsNobody(t *testing.T, when string, wanted, found []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range append(append([]string{}, wanted...), found...) {
		if seen[p] {
			continue
		}
		seen[p] = true
		if fi, err := os.Stat(p); err != nil || fi.Mode()&fs.ModeSetuid == 0 {
			t.Errorf("%s: %s is not a setuid file (as root): %v", when, p, err)
			continue
		}
		cmd := exec.Command(p)
		cmd.SysProcAttr = nobody
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("%s: uid 65534 ran the setuid-root %s: %v %q (want EACCES)", when, p, err, out.String())
			continue
		}
		t.Logf("%s: exec %s as uid 65534: %v", when, p, err)
	}
}

// checkRootModes: the roots' own modes, and those of hull's folders in
// them (internal/daemon/perms_linux.go), printed.
func checkRootModes(t *testing.T, when, root, execRoot string) {
	t.Helper()
	want := map[string]os.FileMode{
		root: 0o710, filepath.Join(root, "containers"): 0o710, filepath.Join(root, "content"): 0o700,
		filepath.Join(root, "layers"): 0o700, filepath.Join(root, "tmp"): 0o700, filepath.Join(root, "volumes"): 0o700,
		filepath.Join(root, "volumes", "permvol"): 0o700, filepath.Join(root, "volumes", "permvol", "_data"): 0o755,
		filepath.Join(root, "hull.db"): 0o600, filepath.Join(root, "engine-id"): 0o600,
		execRoot: 0o711, filepath.Join(execRoot, "containers"): 0o700, filepath.Join(execRoot, "netns"): 0o700,
		filepath.Join(execRoot, "runtime"): 0o700, filepath.Join(execRoot, "runtime", "shims"): 0o700,
		filepath.Join(execRoot, "runtime", "state"): 0o700,
	}
	for p, m := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", when, err)
		} else if fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != m {
			t.Errorf("%s: %s is %04o, want %04o", when, p, fi.Mode().Perm(), m)
		}
	}
}

type probeResult struct {
	Path, Lstat, R, W, X string
}

var hexID = regexp.MustCompile(`[0-9a-f]{64}`)

// checkUnreachable walks both roots as root and asks the probe, run as
// uid 65534, about every path: none below a root may be reachable — lstat
// refused, or for a root's own entries (a root lets others search it)
// reading, writing and searching/executing all refused. It prints the
// modes of the folders' structure (not what lies inside layers' files,
// volumes' data and blobs).
func checkUnreachable(t *testing.T, when, probe string, roots ...string) {
	t.Helper()
	var paths []string
	modes := map[string]fs.FileMode{}
	var table []string
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			modes[p] = fi.Mode()
			if p == r {
				table = append(table, fmt.Sprintf("%04o %s", fi.Mode()&fs.ModePerm, p))
				return nil
			}
			paths = append(paths, p)
			rel, _ := filepath.Rel(r, p)
			if !strings.Contains("/"+rel, "/diff/") && !strings.Contains("/"+rel, "/merged/") && !strings.Contains("/"+rel, "/_data/") &&
				!strings.Contains("/"+rel, "/work/") && !strings.Contains("/"+rel, "/blobs/sha256/") {
				table = append(table, fmt.Sprintf("%04o %s", fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), hexID.ReplaceAllStringFunc(p, func(s string) string { return s[:12] })))
			}
			return nil
		})
	}
	var in bytes.Buffer
	for _, p := range paths {
		in.WriteString(p + "\x00")
	}
	cmd := exec.Command(probe)
	cmd.SysProcAttr = nobody
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the probe as uid 65534: %v\n%s", err, stderr.String())
	}
	got := map[string]probeResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r probeResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		got[r.Path] = r
	}
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	open := 0
	for _, p := range paths {
		r, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: the probe did not answer for %s", when, p)
		case r.Lstat == "EACCES":
		case isRoot[filepath.Dir(p)] && r.R == "EACCES" && r.W == "EACCES" && r.X == "EACCES":
		default:
			open++
			if open <= 40 {
				t.Errorf("%s: uid 65534 reaches %s (%04o): lstat %q read %q write %q search/exec %q", when, p, modes[p]&fs.ModePerm, r.Lstat, r.R, r.W, r.X)
			}
		}
	}
	if open > 40 {
		t.Errorf("%s: … %d paths reachable by uid 65534 in all", when, open)
	}
	sort.Strings(table)
	t.Logf("%s: %d paths under the roots checked as uid 65534 (%d reachable); the folders' modes:\n%s", when, len(paths), open, strings.Join(table, "\n"))
}
