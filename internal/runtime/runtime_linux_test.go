package runtime

// Real containers, as root: a busybox rootfs made in the test, the real
// hull-shim built once, libcontainer on this machine's cgroups.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

var (
	shimOnce sync.Once
	shimBin  string
	shimErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shimBin != "" {
		os.RemoveAll(filepath.Dir(shimBin))
	}
	os.Exit(code)
}

// testShim builds cmd/hull-shim, and hull-monitor beside it, once per test
// binary.
func testShim(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, cgroups, mounts)")
	}
	shimOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hull-shim-test")
		if err != nil {
			shimErr = err
			return
		}
		shimBin = filepath.Join(dir, "hull-shim")
		out, err := exec.Command("go", "build", "-tags", "seccomp,netgo,osusergo", "-ldflags=-extldflags=-static", "-o", shimBin, "../../cmd/hull-shim").CombinedOutput()
		if err != nil {
			shimErr = fmt.Errorf("build hull-shim: %v\n%s", err, out)
			return
		}
		if shimErr = buildMonitor(filepath.Join(dir, "hull-monitor"), "../../cmd/hull-monitor"); shimErr != nil {
			return
		}
		shimErr = buildMonitor(filepath.Join(dir, "hull-init"), "../../cmd/hull-init")
	})
	if shimErr != nil {
		t.Fatal(shimErr)
	}
	return shimBin
}

// buildMonitor builds cmd/hull-monitor (or cmd/hull-init) as hack/lib.sh
// does: pure Go.
func buildMonitor(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build hull-monitor: %v\n%s", err, b)
	}
	return nil
}

// busyboxRootfs makes a rootfs with the static busybox and its applets.
func busyboxRootfs(t *testing.T, dir string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed")
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "sleep", "cat", "true", "false", "hostname", "ps", "dd", "ls"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
}

type env struct {
	rt     *Runtime
	opts   CreateOptions
	bundle string
}

// newEnv makes a runtime root and a bundle whose process runs args.
func newEnv(t *testing.T, mutate func(*specs.Spec), args ...string) *env {
	t.Helper()
	shim := testShim(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	busyboxRootfs(t, filepath.Join(bundle, "rootfs"))
	spec := specconv.Example()
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Hostname = "hulltest"
	if mutate != nil {
		mutate(spec)
	}
	return writeEnv(t, shim, dir, bundle, spec)
}

// writeEnv writes spec as bundle's config.json and returns the env of a
// runtime rooted in dir/root that creates it with shim.
func writeEnv(t *testing.T, shim, dir, bundle string, spec *specs.Spec) *env {
	t.Helper()
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{rt: New(filepath.Join(dir, "root")), opts: CreateOptions{ShimPath: shim}, bundle: bundle}
}

func newID(t *testing.T) string {
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%06x", strings.ToLower(name), rand.IntN(1<<24))
}

// create makes id and deletes it (forced) when the test ends.
func (e *env) create(t *testing.T, id string) {
	t.Helper()
	if err := e.rt.Create(context.Background(), id, e.bundle, e.opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.rt.Delete(context.Background(), id, true)
		assertNothingLeft(t, e.rt, id)
	})
}

// assertNothingLeft checks that no trace of id remains: shim folder,
// libcontainer state, cgroup, mount, process.
func assertNothingLeft(t *testing.T, rt *Runtime, id string) {
	t.Helper()
	for _, p := range []string{rt.shimDir(id), filepath.Join(rt.stateRoot(), id)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s remains", p)
		}
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*/" + id)
	cg2, _ := filepath.Glob("/sys/fs/cgroup/*/*/" + id)
	if len(cg)+len(cg2) > 0 {
		t.Errorf("cgroups remain: %v", append(cg, cg2...))
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mi, []byte(id)) || bytes.Contains(mi, []byte(rt.root)) {
		t.Errorf("mounts remain:\n%s", mi)
	}
	// A shim that refused a create exits just after its answer, and the
	// client kills it on its way out: give it a moment.
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; {
		left = nil
		out, _ := exec.Command("ps", "-eo", "pid,args").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "--id "+id+" ") || strings.Contains(l, `"id":"`+id+`"`) {
				left = append(left, l)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range left {
		t.Errorf("a shim remains: %s", l)
	}
}

func wantStatus(t *testing.T, rt *Runtime, id, want string) State {
	t.Helper()
	st, err := rt.State(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != want {
		t.Fatalf("status of %s = %s, want %s", id, st.Status, want)
	}
	return st
}

// TestShimMemory: once the container is created the shim has replaced
// itself with hull-monitor, which holds the container (its socket, streams,
// the published ports it relays,
// and the init as its child) in at most 5 MB of resident memory, and
// requests that need libcontainer still work through helpers.
func TestShimMemory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sh", "-c", "echo started; sleep 100")
	// With published ports (a TCP and a UDP one) relayed.
	var exercise func() error
	e.opts.Ports, exercise = testPorts(t)
	id := newID(t)
	e.create(t, id)
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := exercise(); err != nil {
		t.Fatalf("published ports: %v", err)
	}
	st := wantStatus(t, e.rt, id, StatusRunning)
	wantShim(t, st.ShimPID, "hull-monitor")
	// Requests served by helpers, then the memory once they are gone.
	statsAndExec(t, e.rt, id)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.ShimPID))
	if err != nil {
		t.Fatal(err)
	}
	var rssKB int
	var detail []string
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			fmt.Sscan(v, &rssKB)
		}
		if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "Threads") {
			detail = append(detail, strings.Join(strings.Fields(l), " "))
		}
	}
	t.Logf("shim (hull-monitor) resident memory: %d kB (%s)", rssKB, strings.Join(detail, ", "))
	if rssKB == 0 || rssKB > 5<<10 {
		t.Errorf("the shim's resident memory is %d kB, want at most 5 MB", rssKB)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sh", "-c", "trap 'exit 42' TERM; echo hello from $(hostname); echo oops >&2; sleep 100 & wait")
	id := newID(t)
	e.create(t, id)

	st := wantStatus(t, e.rt, id, StatusCreated)
	if st.Pid == 0 || st.ShimPID == 0 || st.Bundle != e.bundle || st.ID != id || st.Created.IsZero() {
		t.Errorf("state = %+v", st)
	}
	if err := e.rt.Create(ctx, id, e.bundle, e.opts); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	// A fresh Runtime value (as a new process would make) finds the shim.
	rt2 := New(e.rt.Root())
	if err := rt2.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt2.Start(ctx, id); !errdefs.IsConflict(err) {
		t.Errorf("second start: %v, want Conflict", err)
	}
	wantStatus(t, rt2, id, StatusRunning)

	list, err := rt2.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("list = %+v, %v", list, err)
	}
	// The shell forks its sleep a moment after it starts.
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if pids, err = rt2.Ps(ctx, id); err != nil || len(pids) == 2 {
			break
		}
	}
	if err != nil || len(pids) != 2 || !slices.Contains(pids, st.Pid) {
		t.Errorf("ps = %v, %v; want the init %d and its sleep", pids, err, st.Pid)
	}
	stats, err := rt2.Stats(ctx, id)
	if err != nil || stats.CPUUsageNS == 0 || stats.MemoryUsage == 0 || stats.PidsCurrent != 2 {
		t.Errorf("stats = %+v, %v", stats, err)
	}

	// exec with stdio passed to the shim
	r, w, _ := os.Pipe()
	p, err := rt2.Exec(ctx, id, &specs.Process{Args: []string{"sh", "-c", "echo exec-out; exit 3"}, Cwd: "/", Env: []string{"PATH=/bin"}}, ExecOptions{Stdout: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := new(bytes.Buffer)
	out.ReadFrom(r)
	code, err := p.Wait(ctx)
	if err != nil || code != 3 || out.String() != "exec-out\n" {
		t.Errorf("exec: code %d, %v, output %q", code, err, out)
	}

	if err := rt2.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rt2, id, StatusPaused)
	if err := rt2.Delete(ctx, id, false); !errdefs.IsConflict(err) {
		t.Errorf("delete of a paused container: %v, want Conflict", err)
	}
	if err := rt2.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rt2, id, StatusRunning)

	limit := int64(64 << 20)
	if err := rt2.Update(ctx, id, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Error(err)
	} else if stats, err := rt2.Stats(ctx, id); err != nil || stats.MemoryLimit != uint64(limit) {
		t.Errorf("memory limit after update = %d, %v", stats.MemoryLimit, err)
	}

	if err := rt2.Kill(ctx, id, int(unix.SIGTERM), false); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code, err = rt2.Wait(wctx, id)
	if err != nil || code != 42 {
		t.Errorf("wait = %d, %v; want 42 (the trap's)", code, err)
	}
	st = wantStatus(t, rt2, id, StatusStopped)
	if st.ExitStatus == nil || *st.ExitStatus != 42 {
		t.Errorf("exit status in state = %v", st.ExitStatus)
	}
	if err := rt2.Kill(ctx, id, 9, false); !errdefs.IsConflict(err) {
		t.Errorf("kill of a stopped container: %v, want Conflict", err)
	}
	logb, _ := os.ReadFile(filepath.Join(e.rt.shimDir(id), "container.log"))
	if !bytes.Contains(logb, []byte(`"log":"hello from hulltest\n","stream":"stdout"`)) || !bytes.Contains(logb, []byte(`"log":"oops\n","stream":"stderr"`)) {
		t.Errorf("container.log = %s", logb)
	}
	if err := rt2.Delete(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e.rt, id)
	if _, err := rt2.State(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("state after delete: %v, want NotFound", err)
	}
}

func TestForegroundStdioAndExitCode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sh", "-c", "cat; echo to-err >&2; exit 7")
	id := newID(t)
	in, inW, _ := os.Pipe()
	outR, out, _ := os.Pipe()
	e.opts.Stdin, e.opts.Stdout, e.opts.Stderr = in, out, out
	e.create(t, id)
	in.Close()
	out.Close()
	inW.Write([]byte("from-stdin\n"))
	inW.Close()
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	code, err := e.rt.Wait(ctx, id)
	got := new(bytes.Buffer)
	got.ReadFrom(outR)
	if err != nil || code != 7 || got.String() != "from-stdin\nto-err\n" {
		t.Errorf("wait = %d, %v; output %q", code, err, got)
	}
}

func TestExecTerminal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sleep", "100")
	id := newID(t)
	e.create(t, id)
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	p, err := e.rt.Exec(ctx, id, &specs.Process{Terminal: true, Args: []string{"sh"}, Cwd: "/", Env: []string{"PATH=/bin"}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Console == nil {
		t.Fatal("no console returned")
	}
	defer p.Console.Close()
	p.Console.Write([]byte("echo tty-$((6*7)); exit 5\n"))
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { buf.ReadFrom(p.Console); close(done) }()
	code, err := p.Wait(ctx)
	if err != nil || code != 5 {
		t.Errorf("exit %d, %v", code, err)
	}
	// The output is read to the end (EIO once the terminal's last holder
	// is gone) before the console is closed: closing first could drop
	// what the reader had not read yet (seen under load).
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.Console.Close()
		<-done
	}
	if !strings.Contains(buf.String(), "tty-42") {
		t.Errorf("terminal output %q", buf.String())
	}
}

// TestShimKilled: SIGKILL of the shim takes the container with it; the
// container reads as stopped with 137 and Delete removes everything.
func TestShimKilled(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sleep", "100")
	id := newID(t)
	e.create(t, id)
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st := wantStatus(t, e.rt, id, StatusRunning)
	if err := unix.Kill(st.ShimPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for unix.Kill(st.Pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if unix.Kill(st.Pid, 0) == nil {
		t.Fatalf("the container's init %d outlived its shim", st.Pid)
	}
	st = wantStatus(t, e.rt, id, StatusStopped)
	if st.ExitStatus == nil || *st.ExitStatus != 137 {
		t.Errorf("exit status %v, want 137", st.ExitStatus)
	}
	if code, err := e.rt.Wait(ctx, id); err != nil || code != 137 {
		t.Errorf("wait = %d, %v", code, err)
	}
	if err := e.rt.Delete(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e.rt, id)
}

// TestCreateUnderLoad: containers created side by side stay created. The
// shim once forked the init from whatever thread its goroutine was on; when
// libcontainer's mount-source goroutine later locked and ended that thread,
// the init got its parent death signal (exit 137), a few times in a hundred.
func TestCreateUnderLoad(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "true")
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				id := fmt.Sprintf("%s-%d-%d", newID(t), w, i)
				if err := e.rt.Create(ctx, id, e.bundle, e.opts); err != nil {
					t.Error(err)
					return
				}
				if st, err := e.rt.State(ctx, id); err != nil || st.Status != StatusCreated {
					t.Errorf("%s after create: %+v, %v", id, st, err)
				}
				if err := e.rt.Delete(ctx, id, true); err != nil {
					t.Error(err)
				}
				assertNothingLeft(t, e.rt, id)
			}
		}()
	}
	wg.Wait()
}

// TestBadInput: each refusal is InvalidArgument and leaves nothing behind.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.Spec)
		config string
		want   string
	}{
		{name: "invalid json", config: `{"ociVersion": "1.0.2", "process": {`, want: "not a valid OCI config"},
		{name: "missing rootfs", mutate: func(s *specs.Spec) { s.Root.Path = "nowhere" }, want: "does not exist"},
		{name: "unknown capability", mutate: func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_NOT_A_THING")
		}, want: `unknown capability "CAP_NOT_A_THING"`},
		{name: "proc from tmpfs", mutate: func(s *specs.Spec) {
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/proc" {
					s.Mounts[i].Type, s.Mounts[i].Source = "tmpfs", "tmpfs"
				}
			}
		}, want: "needs a procfs"},
		{name: "bind onto proc", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc", Type: "bind", Source: "/tmp", Options: []string{"rbind"}})
		}, want: "needs a procfs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.mutate, "true")
			if tt.config != "" {
				os.WriteFile(filepath.Join(e.bundle, "config.json"), []byte(tt.config), 0o644)
			}
			id := newID(t)
			err := e.rt.Create(context.Background(), id, e.bundle, e.opts)
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Errorf("create: %v; want InvalidArgument with %q", err, tt.want)
			}
			assertNothingLeft(t, e.rt, id)
		})
	}
}

// TestHostLimits: rlimits above the host's hard limit and capabilities the
// host lacks are reduced, not refused.
func TestHostLimits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 30, Soft: 1 << 30}}
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_RESOURCE")
	}, "true")
	id := newID(t)
	e.create(t, id)
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code, err := e.rt.Wait(ctx, id); err != nil || code != 0 {
		t.Errorf("wait = %d, %v", code, err)
	}
}

func TestNotFound(t *testing.T) {
	rt := New(t.TempDir())
	ctx := context.Background()
	for name, err := range map[string]error{
		"state":  func() error { _, err := rt.State(ctx, "nope"); return err }(),
		"start":  rt.Start(ctx, "nope"),
		"kill":   rt.Kill(ctx, "nope", 9, false),
		"delete": rt.Delete(ctx, "nope", true),
	} {
		if !errdefs.IsNotFound(err) {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	if err := rt.Start(ctx, "../x"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad id: %v", err)
	}
}

func TestFitLegacy(t *testing.T) {
	spec := &specs.Spec{
		Linux: &specs.Linux{Devices: []specs.LinuxDevice{{Path: "/dev/fifo", Type: "p", Major: 8, Minor: 666}, {Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}},
		Mounts: []specs.Mount{
			{Destination: "/b", Type: "bind", Source: "/tmp", Options: []string{"rbind", "ro", "mode=755", "size=1k"}},
			{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
		},
	}
	var warnings []string
	fitLegacy(spec, &warnings)
	if d := spec.Linux.Devices[0]; d.Major != 0 || d.Minor != 0 {
		t.Errorf("FIFO kept %d:%d", d.Major, d.Minor)
	}
	if d := spec.Linux.Devices[1]; d.Major != 1 || d.Minor != 3 {
		t.Errorf("char device changed to %d:%d", d.Major, d.Minor)
	}
	if got := spec.Mounts[0].Options; !slices.Equal(got, []string{"rbind", "ro"}) {
		t.Errorf("bind options %v, want [rbind ro]", got)
	}
	if got := spec.Mounts[1].Options; !slices.Equal(got, []string{"mode=755"}) {
		t.Errorf("tmpfs options %v changed", got)
	}
	if len(warnings) != 3 {
		t.Errorf("warnings %q, want 3", warnings)
	}
}

// TestWarmCgroupAttach: the warm-up moves this process nowhere.
func TestWarmCgroupAttach(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	before, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	warmCgroupAttach()
	after, _ := os.ReadFile("/proc/self/cgroup")
	if !bytes.Equal(before, after) {
		t.Errorf("cgroups changed:\n%s\n->\n%s", before, after)
	}
}

// TestRun: Run creates, starts, waits and deletes in one step; cancelling
// its context kills the container, which is deleted all the same; a Delete
// from another client ends it too.
func TestRun(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sh", "-c", "cat; echo to-err >&2; exit 7")
	id := newID(t)
	in, inW, _ := os.Pipe()
	outR, out, _ := os.Pipe()
	e.opts.Stdin, e.opts.Stdout, e.opts.Stderr = in, out, out
	inW.Write([]byte("from-stdin\n"))
	inW.Close()
	started := false
	code, err := e.rt.Run(ctx, id, e.bundle, e.opts, func() { started = true })
	in.Close()
	out.Close()
	got := new(bytes.Buffer)
	got.ReadFrom(outR)
	if err != nil || code != 7 || !started || got.String() != "from-stdin\nto-err\n" {
		t.Errorf("run = %d, %v (started %v); output %q", code, err, started, got)
	}
	assertNothingLeft(t, e.rt, id)

	e = newEnv(t, nil, "sleep", "100")
	t.Run("cancel", func(t *testing.T) {
		id := newID(t)
		cctx, cancel := context.WithCancel(ctx)
		code, err := e.rt.Run(cctx, id, e.bundle, e.opts, func() {
			wantStatus(t, e.rt, id, StatusRunning)
			cancel()
		})
		if !errors.Is(err, context.Canceled) || code != 137 {
			t.Errorf("run = %d, %v; want 137, context canceled", code, err)
		}
		assertNothingLeft(t, e.rt, id)
	})
	t.Run("deleted elsewhere", func(t *testing.T) {
		id := newID(t)
		deleted := make(chan error, 1)
		code, err := e.rt.Run(ctx, id, e.bundle, e.opts, func() {
			go func() { deleted <- e.rt.Delete(ctx, id, true) }()
		})
		if err := <-deleted; err != nil {
			t.Error(err)
		}
		if err != nil || code != 137 {
			t.Errorf("run = %d, %v; want 137", code, err)
		}
		assertNothingLeft(t, e.rt, id)
	})
	t.Run("bad bundle", func(t *testing.T) {
		id := newID(t)
		if _, err := e.rt.Run(ctx, id, t.TempDir(), e.opts, nil); !errdefs.IsInvalidArgument(err) {
			t.Errorf("run of an empty bundle: %v, want InvalidArgument", err)
		}
		assertNothingLeft(t, e.rt, id)
	})
}

// TestAttach: clients attach to the streams the shim holds, each gets the
// output from then on, stdin reaches the container, the log keeps lines.
// TestInProcessShim: a shim asked to serve in process (a foreground
// client waits on the start) never becomes hull-monitor; attach, exec,
// stats, the exit status and delete all work from it.
func TestInProcessShim(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sh", "-c", "read x; echo got $x; exit 3")
	e.opts.OpenStdin, e.opts.StdinOnce, e.opts.InProcess = true, true, true
	id := newID(t)
	e.create(t, id)
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	a, err := e.rt.Attach(ctx, id, AttachOptions{Stdin: inR, Stdout: outW, Stderr: outW})
	inR.Close()
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st := wantStatus(t, e.rt, id, StatusRunning)
	wantShim(t, st.ShimPID, "hull-shim")
	statsAndExec(t, e.rt, id)
	inW.WriteString("in\n")
	inW.Close()
	out, _ := io.ReadAll(outR)
	if code, err := e.rt.Wait(ctx, id); err != nil || code != 3 || string(out) != "got in\n" {
		t.Fatalf("wait = %d, %v; output %q", code, err, out)
	}
	wantShim(t, st.ShimPID, "hull-shim")
}

// wantShim checks that the process serving a container is the program
// comm (hull-monitor, or hull-shim serving in process).
func wantShim(t *testing.T, pid int, comm string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(b)) != comm {
		t.Fatalf("the shim (pid %d) is %q (%v), want %s", pid, b, err, comm)
	}
}

// statsAndExec asks the container's shim for its stats and runs true in
// it: requests that need libcontainer (helpers of hull-monitor's).
func statsAndExec(t *testing.T, rt *Runtime, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := rt.Stats(ctx, id); err != nil {
		t.Fatal(err)
	}
	p, err := rt.Exec(ctx, id, &specs.Process{Args: []string{"/bin/true"}, Cwd: "/", Env: []string{"PATH=/bin"}}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("exec true: %d, %v", code, err)
	}
	p.Close()
}

func TestAttach(t *testing.T) {
	ctx := context.Background()
	type client struct {
		inW         *os.File
		out, errOut chan string
		a           *Attachment
	}
	attach := func(t *testing.T, rt *Runtime, id string, stdin bool) *client {
		t.Helper()
		var opts AttachOptions
		cl := &client{out: make(chan string, 1), errOut: make(chan string, 1)}
		if stdin {
			r, w, _ := os.Pipe()
			opts.Stdin, cl.inW = r, w
			defer r.Close()
		}
		outR, outW, _ := os.Pipe()
		errR, errW, _ := os.Pipe()
		opts.Stdout, opts.Stderr = outW, errW
		a, err := rt.Attach(ctx, id, opts)
		outW.Close()
		errW.Close()
		if err != nil {
			t.Fatal(err)
		}
		cl.a = a
		go func() { b, _ := io.ReadAll(outR); outR.Close(); cl.out <- string(b) }()
		go func() { b, _ := io.ReadAll(errR); errR.Close(); cl.errOut <- string(b) }()
		t.Cleanup(func() { a.Close() })
		return cl
	}

	t.Run("pipes", func(t *testing.T) {
		e := newEnv(t, nil, "sh", "-c", "read x; echo one $x; echo two >&2; cat")
		e.opts.OpenStdin, e.opts.StdinOnce = true, true
		id := newID(t)
		e.create(t, id)
		if err := e.rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		watcher := attach(t, e.rt, id, false)
		typist := attach(t, e.rt, id, true)
		typist.inW.Write([]byte("go\nlast line\n"))
		typist.inW.Close() // StdinOnce: cat sees the end and the container exits
		for _, cl := range []*client{watcher, typist} {
			if err := cl.a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			cl.a.Close()
			if out, errOut := <-cl.out, <-cl.errOut; out != "one go\nlast line\n" || errOut != "two\n" {
				t.Errorf("attached client got %q and %q", out, errOut)
			}
		}
		if code, err := e.rt.Wait(ctx, id); err != nil || code != 0 {
			t.Errorf("wait = %d, %v", code, err)
		}
		log, _ := os.ReadFile(filepath.Join(e.rt.shimDir(id), "container.log"))
		for _, want := range []string{`"log":"one go\n","stream":"stdout"`, `"log":"two\n","stream":"stderr"`} {
			if !strings.Contains(string(log), strings.ReplaceAll(want, "\n", `\n`)) {
				t.Errorf("log lacks %s:\n%s", want, log)
			}
		}
	})

	t.Run("terminal", func(t *testing.T) {
		e := newEnv(t, func(s *specs.Spec) { s.Process.Terminal = true }, "sh", "-c", "read x; echo tty:$x")
		id := newID(t)
		e.create(t, id)
		if err := e.rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		cl := attach(t, e.rt, id, true)
		cl.inW.Write([]byte("hi\n"))
		if err := cl.a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		cl.a.Close()
		cl.inW.Close()
		if out := <-cl.out; !strings.Contains(out, "tty:hi\r\n") {
			t.Errorf("terminal output %q", out)
		}
	})

	t.Run("detach", func(t *testing.T) {
		e := newEnv(t, nil, "sleep", "100")
		id := newID(t)
		e.create(t, id)
		if err := e.rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		cl := attach(t, e.rt, id, false)
		cl.a.Close()
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		cl2 := attach(t, e.rt, id, false)
		if err := cl2.a.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("wait of an attachment to a running container: %v", err)
		}
		wantStatus(t, e.rt, id, StatusRunning)
	})

	t.Run("callers streams", func(t *testing.T) {
		e := newEnv(t, nil, "sleep", "100")
		e.opts.Stdin, e.opts.Stdout, e.opts.Stderr = os.Stdin, os.Stdout, os.Stderr
		id := newID(t)
		e.create(t, id)
		if _, err := e.rt.Attach(ctx, id, AttachOptions{Stdout: os.Stdout}); !errdefs.IsConflict(err) {
			t.Errorf("attach = %v, want Conflict", err)
		}
	})
}

// TestAddressSpaceLimit: a low RLIMIT_AS with Docker's seccomp profile
// (the OCI suite's process_rlimits) — libcontainer's init compiling the
// filter ran out of address space, and the lean init crashed now and then
// (its Go runtime holds over 1 GiB of reservations, and mapped again after
// the shim set the limit). The limit holds in the container, for each
// init, run after run; so does an RLIMIT_NOFILE at the host's hard limit,
// which Go's exec used to put back to what the lean init started with when
// the shim's prlimit came after the init's runtime started.
func TestAddressSpaceLimit(t *testing.T) {
	var host unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &host); err != nil {
		t.Fatal(err)
	}
	for _, init := range []string{InitLean, InitLibcontainer} {
		t.Run(init, func(t *testing.T) {
			e := newEnv(t, func(s *specs.Spec) {
				d, err := DefaultSpec(SpecOptions{})
				if err != nil {
					t.Fatal(err)
				}
				s.Linux.Seccomp = d.Linux.Seccomp
				s.Process.Rlimits = []specs.POSIXRlimit{
					{Type: "RLIMIT_NOFILE", Hard: host.Max, Soft: 100},
					{Type: "RLIMIT_AS", Hard: 2 << 30, Soft: 1 << 30},
				}
			}, "sh", "-c", "ulimit -v; ulimit -H -v; ulimit -n; ulimit -H -n")
			e.opts.Init = init
			want := fmt.Sprintf("1048576\n2097152\n100\n%d\n", host.Max)
			for range 5 {
				id := newID(t)
				outR, out, _ := os.Pipe()
				e.opts.Stdout, e.opts.Stderr = out, out
				code, err := e.rt.Run(context.Background(), id, e.bundle, e.opts, nil)
				out.Close()
				got := new(bytes.Buffer)
				got.ReadFrom(outR)
				outR.Close()
				if err != nil || code != 0 || got.String() != want {
					t.Fatalf("run = %d, %v; output %q, want %q", code, err, got, want)
				}
			}
		})
	}
	t.Run("exec fails", func(t *testing.T) {
		// Found on the PATH, refused by execve: the init's own way out,
		// after the limit, says why as the other path does.
		e := newEnv(t, func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Hard: 1 << 30, Soft: 1 << 30})
		}, "/bin/garbage")
		if err := os.WriteFile(filepath.Join(e.bundle, "rootfs/bin/garbage"), []byte("not a program"), 0o755); err != nil {
			t.Fatal(err)
		}
		e.opts.Init = InitLean
		outR, out, _ := os.Pipe()
		e.opts.Stdout, e.opts.Stderr = out, out
		code, err := e.rt.Run(context.Background(), newID(t), e.bundle, e.opts, nil)
		out.Close()
		got := new(bytes.Buffer)
		got.ReadFrom(outR)
		if err != nil || code != 255 || got.String() != "exec /bin/garbage: exec format error\n" {
			t.Errorf("run = %d, %v; output %q", code, err, got)
		}
	})
}
