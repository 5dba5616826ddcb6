package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullproject/hull/bench/soak"
)

// TestSoak is the short soak of bench/soak.sh: 40 containers, 8 at a time,
// through create, start, logs, exec, stats, stop/kill/rm -f/auto-remove,
// with a clean restart and a kill -9 of the daemon in between (live-restore;
// containers running, paused, exiting and created across each), then a
// kill -9 with 8 containers in flight (those left are removed), a stats
// and an events stream open throughout. It fails on any operation that
// fails, on anything the daemon holds after that it did not hold before
// (mounts, cgroups v1 and v2, netns, veths, bridges, nftables rules, shims,
// monitors, inits, zombies, container, layer, bundle, state and shim dirs,
// volumes, log files, sockets, files, fds, goroutines), and on an RSS that does not
// come back near idle.
func TestSoak(t *testing.T) {
	requireRoot(t)
	buildShim(t)
	img := busyboxTar(t)
	dir, err := os.MkdirTemp("/var/tmp", "hull-soak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
			t.Logf("daemon log:\n%s", b)
		}
		for _, m := range mountsUnder(t, dir) {
			exec.Command("umount", "-l", m).Run()
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := soak.Run(ctx, soak.Config{Hull: hullBin, Dir: dir, Image: img, Count: 40, Concurrency: 8,
		Restarts: []string{"stop", "kill", "kill-busy"}, Settle: 5 * time.Second, Logf: t.Logf})
	if rep != nil {
		var b bytes.Buffer
		rep.Print(&b)
		t.Logf("\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Errors {
		t.Errorf("operation failed: %s", e)
	}
	for _, l := range rep.Leaks() {
		t.Errorf("leaked: %s", l)
	}
	if err := rep.CheckRSS(); err != nil {
		t.Error(err)
	}
}

// TestSoakMemoryWithStreamsOpen: the heap a burst of requests grew is
// given back while long streams (an events stream, a stats stream) stay
// open — they used to count as requests in flight, and the daemon never
// counted as idle while one was open.
func TestSoakMemoryWithStreamsOpen(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "streamed", "--network", "none", "e2e/busybox:1", "sleep", "300")
	rss := daemonRSS(t, dir)
	c := apiClient(filepath.Join(dir, "hull.sock"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, path := range []string{"/events", "/containers/streamed/stats"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://hull"+path, nil)
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(5 * time.Second)
	idle := rss()
	// A burst that grows the heap: creates with 8 MB bodies (an image
	// that does not exist: each is decoded whole, then refused).
	env8 := strings.Repeat(`"A=`+strings.Repeat("x", 60)+`",`, 8<<20/66)
	body := `{"Image":"no/such:image","Env":[` + env8 + `"B=1"]}`
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := c.Post("http://hull/containers/create", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("create with a missing image: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	expectMemoryBack(t, rss, idle, "the burst, with an events and a stats stream open")
}

// TestSoakVolumesAfterCrash: the soak's kill -9 left an anonymous volume
// behind. A daemon killed in a create after its anonymous volume was made
// and before the container's record was written, or in an rm -v after the
// record went and before the volume did, leaves a volume no container
// names; the next start removes it. A volume kept by an rm without -v
// stays (as Docker's), across restarts.
func TestSoakVolumesAfterCrash(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	const img = "e2e/busybox:1"
	docker(t, env, "create", "--name", "kept", "-v", "/data", img, "true")
	kept := docker(t, env, "inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "kept")
	docker(t, env, "rm", "kept")

	var daemon *exec.Cmd
	t.Cleanup(func() {
		if daemon != nil {
			daemon.Process.Signal(os.Interrupt)
			daemon.Wait()
		}
	})
	start := func(crashAt string) {
		t.Helper()
		cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+filepath.Join(dir, "hull.sock"),
			"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "run"),
			"--config-file", filepath.Join(dir, "daemon.json"))
		cmd.Env = append(os.Environ(), "HULL_TEST_CRASH_AT="+crashAt)
		logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		daemon = cmd
		waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")
	}
	// The first daemon is hullDaemon's.
	out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	time.Sleep(200 * time.Millisecond)
	crash := func(point string, op ...string) {
		t.Helper()
		if daemon != nil {
			daemon.Process.Signal(os.Interrupt)
			daemon.Wait()
		}
		start(point)
		if o, e, code := dockerRun(t, env, "", op...); code == 0 {
			t.Fatalf("%v succeeded on a daemon that crashes at %q: %s %s", op, point, o, e)
		}
		if err := daemon.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 70") {
			t.Fatalf("the daemon did not crash at %q: %v", point, err)
		}
		start("")
	}
	volumes := func() string {
		return strings.Join(strings.Fields(docker(t, env, "volume", "ls", "-q")), " ")
	}

	crash("create: the scratch layer is made, the record is not", "create", "--name", "c1", "-v", "/data", img, "true")
	if v := volumes(); v != kept {
		t.Errorf("after a create cut short: volumes %q, want only %q (kept by an rm without -v)", v, kept)
	}
	docker(t, env, "create", "--name", "c2", "-v", "/data", img, "true")
	crash("rm: the record is gone, the volumes are not", "rm", "-v", "c2")
	if _, _, code := dockerRun(t, env, "", "inspect", "c2"); code == 0 {
		t.Errorf("c2 is still there after its rm was cut short past its record")
	}
	if v := volumes(); v != kept {
		t.Errorf("after an rm -v cut short: volumes %q, want only %q", v, kept)
	}
	docker(t, env, "volume", "rm", kept)
}

// TestSoakNoZombiesUnderMonitor: a container's monitor is a subreaper, so
// the orphans of a container in the host's pid namespace — a background
// job of its init or of an exec — become its children when their parent
// exits; it reaps them (they stayed zombies as long as the container ran).
// The init's own exit status still comes through.
func TestSoakNoZombiesUnderMonitor(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	id := docker(t, env, "run", "-d", "--name", "orphans", "--pid", "host", "--network", "none", "e2e/busybox:1", "sh", "-c", "(sleep 0.3 &); trap 'exit 4' TERM; sleep 300 & wait")
	for range 3 {
		docker(t, env, "exec", "orphans", "sh", "-c", "sleep 0.2 >/dev/null 2>&1 &")
	}
	out, _ := exec.Command("pgrep", "-f", `hull-monitor --config \{"id":"`+id).Output()
	mon := strings.TrimSpace(string(out))
	if mon == "" || strings.Contains(mon, "\n") {
		t.Fatalf("the container's monitor: %q", mon)
	}
	zombies := func() []string {
		out, _ := exec.Command("ps", "-o", "pid=,stat=,comm=", "--ppid", mon).Output()
		var z []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(l); len(f) == 3 && strings.HasPrefix(f[1], "Z") {
				z = append(z, l)
			}
		}
		return z
	}
	time.Sleep(time.Second) // every orphan has exited
	waitFor(t, func() bool { return len(zombies()) == 0 }, "no zombie under the monitor", func() string { return fmt.Sprint(zombies()) })
	if out := docker(t, env, "exec", "orphans", "echo", "ok"); out != "ok" {
		t.Errorf("exec after the orphans: %q", out)
	}
	docker(t, env, "stop", "orphans")
	if out := docker(t, env, "inspect", "-f", "{{.State.ExitCode}}", "orphans"); out != "4" {
		t.Errorf("the init's exit code: %s, want 4", out)
	}
}

// daemonRSS answers a function that reads the resident memory of the
// hull daemon serving dir (its VmRSS, in bytes).
func daemonRSS(t *testing.T, dir string) func() int64 {
	out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output()
	pid, _ := strconv.Atoi(strings.Fields(string(out) + " 0")[0])
	return func() int64 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return kb << 10
			}
		}
		t.Fatalf("no VmRSS for the daemon (pid %d)", pid)
		return 0
	}
}

// expectMemoryBack checks that a burst grew the daemon (else the test
// cannot show anything) and that within 15 s after it, described by after,
// its RSS is back within 10 MiB of idle.
func expectMemoryBack(t *testing.T, rss func() int64, idle int64, after string) {
	peak := rss()
	t.Logf("daemon RSS: idle %d MiB, after the burst %d MiB", idle>>20, peak>>20)
	if peak < idle+30<<20 {
		t.Fatalf("the burst grew the daemon by %d MiB only: it cannot show whether memory comes back", (peak-idle)>>20)
	}
	deadline := time.Now().Add(15 * time.Second)
	for rss() > idle+10<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's RSS stayed at %d MiB (idle %d MiB) 15 s after %s", rss()>>20, idle>>20, after)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("back to %d MiB after %s", rss()>>20, after)
}
