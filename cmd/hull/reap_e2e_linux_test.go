package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReapAfterExit (issue 16): what `docker run --rm` leaves once its
// client has its answer — the compute service's container, the files of the
// scratch layer (renamed into the layer store's trash), the container's
// folders, the init layer — is deleted after the answer, and a daemon that
// dies meanwhile leaves nothing its next start does not remove. Through the
// docker CLI: exit codes of run --rm and wait as before, a name free as soon
// as run --rm returns, the events in dockerd's order (die, destroy last).
func TestReapAfterExit(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	const img = "e2e/busybox:1"
	root, run := filepath.Join(dir, "root"), filepath.Join(dir, "run")
	trash := filepath.Join(root, "layers", ".trash")
	layersNow := func() []string {
		ents, _ := os.ReadDir(filepath.Join(root, "layers"))
		var out []string
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	imageLayers := strings.Join(layersNow(), " ")
	dk := &crashDaemon{t: t, env: env, dir: dir}
	t.Cleanup(dk.close)

	// leftovers lists what of container id is still there: its processes,
	// mounts, cgroups, folders and layer, the trash's entries, the init
	// layer (any layer the image does not have).
	leftovers := func(id string) []string {
		var out []string
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
			cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
			if strings.Contains(string(cmdline), id) || strings.Contains(string(cg), id) {
				out = append(out, "process "+filepath.Base(p)+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		for _, m := range mountsUnder(t, dir) {
			if strings.Contains(m, id) {
				out = append(out, "mount "+m)
			}
		}
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/*" + id + "*")
		more, _ := filepath.Glob("/sys/fs/cgroup/*/*/*" + id + "*")
		for _, c := range append(cgs, more...) {
			out = append(out, "cgroup "+c)
		}
		for _, p := range []string{
			filepath.Join(root, "layers", id), filepath.Join(root, "containers", id),
			filepath.Join(run, "containers", id), filepath.Join(run, "runtime", "shims", id), filepath.Join(run, "runtime", "state", id),
		} {
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
			}
		}
		ents, _ := os.ReadDir(trash)
		for _, e := range ents {
			out = append(out, "in the trash: "+e.Name())
		}
		// The image's layers, and the init layer kept over them for
		// the next container: no scratch layer.
		var extra []string
		for _, l := range layersNow() {
			if !strings.Contains(" "+imageLayers+" ", " "+l+" ") {
				extra = append(extra, l)
			}
		}
		for _, l := range extra {
			if b, _ := os.ReadFile(filepath.Join(root, "layers", l, "layer.json")); len(extra) > 1 || strings.Contains(string(b), `"scratch"`) {
				out = append(out, "layer "+l+" (the image's: "+imageLayers+")")
			}
		}
		if ps := docker(t, env, "ps", "-aq", "--no-trunc"); ps != "" {
			out = append(out, "containers: "+ps)
		}
		return out
	}
	gone := func(what, id string) {
		t.Helper()
		var left []string
		waitFor(t, func() bool { left = leftovers(id); return len(left) == 0 }, what+": nothing of the container left",
			func() string { return strings.Join(left, "\n") })
	}
	cidOf := func(cidfile string) string {
		t.Helper()
		b, err := os.ReadFile(cidfile)
		if err != nil {
			t.Fatalf("the container's id: %v", err)
		}
		os.Remove(cidfile)
		return strings.TrimSpace(string(b))
	}
	cidfile := filepath.Join(t.TempDir(), "cid")

	t.Run("run --rm", func(t *testing.T) {
		// The exit code as before; the name free at once; the events
		// in dockerd's order.
		events := exec.Command("docker", "events", "--format", "{{.Type}} {{.Action}}")
		events.Env = env
		evOut, err := events.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := events.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { events.Process.Kill(); events.Wait() }()
		time.Sleep(300 * time.Millisecond) // the events stream is open
		_, _, code := dockerRun(t, env, "", "run", "--rm", "--cidfile", cidfile, "--name", "r1", "--network", "none", img, "sh", "-c", "echo data > /written; exit 3")
		if code != 3 {
			t.Errorf("docker run --rm ... exit 3: exit code %d", code)
		}
		id := cidOf(cidfile)
		out, e, code := dockerRun(t, env, "", "run", "--rm", "--name", "r1", "--network", "none", img, "echo", "again")
		if code != 0 || out != "again\n" {
			t.Errorf("docker run --rm --name r1 right after the first returned: %d %q %s", code, out, e)
		}
		gone("run --rm", id)
		var got []string
		sc := bufio.NewScanner(evOut)
		deadline := time.AfterFunc(5*time.Second, func() { events.Process.Kill() })
		defer deadline.Stop()
		// Each run's, as dockerd 20.10 sends them for docker run --rm
		// --network none: die before the disconnect, destroy last.
		want := []string{"container create", "container attach", "network connect", "container start", "container die", "network disconnect", "container destroy"}
		for len(got) < 2*len(want) && sc.Scan() {
			got = append(got, sc.Text())
		}
		if w := strings.Join(append(want, want...), ","); strings.Join(got, ",") != w {
			t.Errorf("events of two runs --rm:\n%q\nwant\n%q", got, w)
		}
	})

	t.Run("volatile root of an auto-remove container", func(t *testing.T) {
		// Its writes need no sync: overlayfs's volatile option, so that
		// its unmount does not sync the data root's file system. Not for
		// a container that stays. A restart mounts it again.
		root := func(args ...string) string {
			t.Helper()
			out := docker(t, env, append(args, "sh", "-c", "busybox grep ' / / ' /proc/self/mountinfo")...)
			if !strings.Contains(out, " overlay ") {
				t.Fatalf("the container's root: %q, want an overlay", out)
			}
			return out
		}
		if out := root("run", "--rm", "--network", "none", img); !strings.Contains(out, "volatile") {
			t.Errorf("the root of a run --rm: %q, want volatile", out)
		}
		if out := root("run", "--name", "v1", "--network", "none", img); strings.Contains(out, "volatile") {
			t.Errorf("the root of a container that stays: %q, want no volatile", out)
		}
		docker(t, env, "rm", "v1")
		docker(t, env, "run", "-d", "--rm", "--name", "v2", "--network", "none", img, "sleep", "100")
		docker(t, env, "restart", "-t", "0", "v2")
		if out := docker(t, env, "exec", "v2", "busybox", "grep", " / / ", "/proc/self/mountinfo"); !strings.Contains(out, "volatile") {
			t.Errorf("the root of a restarted run --rm: %q, want volatile", out)
		}
		docker(t, env, "rm", "-f", "v2")
	})

	t.Run("wait", func(t *testing.T) {
		docker(t, env, "run", "-d", "--cidfile", cidfile, "--name", "w1", "--network", "none", img, "sh", "-c", "sleep 0.5; exit 5")
		id := cidOf(cidfile)
		if out := docker(t, env, "wait", "w1"); out != "5" {
			t.Errorf("docker wait: %q, want 5", out)
		}
		// What wait answered is what the container shows once cleaned up.
		if out := docker(t, env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "w1"); out != "exited 5" {
			t.Errorf("inspect after wait: %q", out)
		}
		// A start right after: the last exit's cleanup is done first.
		docker(t, env, "start", "w1")
		if out := docker(t, env, "wait", "w1"); out != "5" {
			t.Errorf("docker wait after a second start: %q, want 5", out)
		}
		docker(t, env, "rm", "w1")
		gone("rm after wait", id)
		if _, _, code := dockerRun(t, env, "", "run", "--rm", "--network", "none", img, "sh", "-c", "exit 1"); code != 1 {
			t.Errorf("docker run --rm ... exit 1: exit code %d, want 1", code)
		}
	})

	t.Run("crash after the removal", func(t *testing.T) {
		// The removal is done, the files of its scratch and init
		// layers are not deleted: the next start empties the trash.
		dk.stop()
		dk.start("layer: a removed layer is in the trash, its files are not deleted")
		dockerRun(t, env, "", "run", "--rm", "--cidfile", cidfile, "--name", "c1", "--network", "none", img, "sh", "-c", "echo data > /written")
		id := cidOf(cidfile)
		if err := dk.daemon.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 70") {
			t.Fatalf("the daemon did not crash in the removal's deletion: %v", err)
		}
		dk.daemon = nil
		if ents, _ := os.ReadDir(trash); len(ents) == 0 {
			t.Errorf("the crash left nothing in the trash: the scratch layer was not renamed into it")
		}
		dk.start("")
		gone("crash after the removal", id)
		if _, _, code := dockerRun(t, env, "", "run", "--rm", "--name", "c1", "--network", "none", img, "sh", "-c", "exit 0"); code != 0 {
			t.Errorf("run --rm --name c1 after the restart: %d", code)
		}
	})

	t.Run("crash during the removal", func(t *testing.T) {
		// Killed before the record went: the next start removes the
		// auto-remove container, as dockerd's does.
		for _, point := range []string{"rm: the process is gone, the layer is not", "rm: the layer is gone, the record is not", "rm: the record is gone, the files are not"} {
			dk.stop()
			dk.start(point)
			dockerRun(t, env, "", "run", "--rm", "--cidfile", cidfile, "--name", "c2", "--network", "none", img, "sh", "-c", "exit 0")
			id := cidOf(cidfile)
			if err := dk.daemon.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 70") {
				t.Fatalf("the daemon did not crash at %q: %v", point, err)
			}
			dk.daemon = nil
			dk.start("")
			gone(point, id)
		}
	})

	t.Run("killed while deleting a large layer", func(t *testing.T) {
		// SIGKILL while the files of a removed container's scratch layer
		// (20000 files) are being deleted.
		docker(t, env, "run", "--rm", "--cidfile", cidfile, "--network", "none", img, "sh", "-c",
			"mkdir /many && cd /many && i=0; while [ $i -lt 20000 ]; do : > f$i; i=$((i+1)); done")
		id := cidOf(cidfile)
		dk.stop()
		ents, _ := os.ReadDir(trash)
		t.Logf("in the trash when the daemon was killed: %d entries", len(ents))
		dk.start("")
		gone("killed while deleting", id)
	})
}
