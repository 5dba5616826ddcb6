package runtime

// The protections runc learned the hard way, held by the lean init: each
// test makes a container of the attack's shape with Init "lean" and checks
// that the container cannot reach the host.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestLeanCVE2019_5736: while the lean init waits on the exec fifo, what
// /proc/<init>/exe names is a sealed memfd nobody can write to, and a
// container whose entrypoint is /proc/self/exe (hull-init itself) fails
// cleanly without touching hull-init on disk.
func TestLeanCVE2019_5736(t *testing.T) {
	ctx := context.Background()
	e := newLeanEnv(t, false, nil, "true")
	initBin := filepath.Join(filepath.Dir(e.opts.ShimPath), "hull-init")
	before := fileSum(t, initBin)

	id := newID(t)
	steps, err := createTraced(t, e, id, InitLean, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	wantLean(t, steps)
	pid := wantStatus(t, e.rt, id, StatusCreated).Pid
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatalf("F_GET_SEALS on %s: %v (not a memfd)", exe, err)
	}
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if seals&want != want {
		t.Errorf("seals of the init's executable = %#x, want at least %#x", seals, want)
	}
	if l, _ := os.Readlink(exe); !strings.HasPrefix(l, "/memfd:") {
		t.Errorf("the init's executable is %q, want a memfd", l)
	}
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR} {
		if w, err := os.OpenFile(exe, flag, 0); err == nil {
			w.Close()
			t.Errorf("%s opened with flags %#x", exe, flag)
		}
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Error("wrote to the init's executable")
	}
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code, err := e.rt.Wait(ctx, id); err != nil || code != 0 {
		t.Errorf("wait = %d, %v", code, err)
	}

	// The entrypoint is the init's own executable: it runs without the
	// shim's socket and must fail, not hang nor reach the file on disk.
	for _, args := range [][]string{{"/proc/self/exe"}, {"/proc/self/exe", "init"}} {
		e := newLeanEnv(t, false, func(s *specs.Spec) { s.Process.Args = args }, args...)
		var out bytes.Buffer
		r, w, _ := os.Pipe()
		done := make(chan struct{})
		go func() { out.ReadFrom(r); close(done) }()
		opts := e.opts
		opts.Init, opts.Stdout, opts.Stderr = InitLean, w, w
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		code, err := e.rt.Run(cctx, newID(t), e.bundle, opts, nil)
		timedOut := cctx.Err() != nil
		cancel()
		w.Close()
		<-done
		r.Close()
		if err == nil && code == 0 {
			t.Errorf("%q: exit 0; output %q", args, out.String())
		}
		if timedOut {
			t.Errorf("%q: still running after 30 s", args)
		}
		t.Logf("%q: exit %d, %v; output %q", args, code, err, out.String())
	}
	if fileSum(t, initBin) != before {
		t.Error("hull-init on disk changed")
	}
}

// TestLeanCVE2024_21626: no descriptor of the shim's or the init's reaches
// the container, and a working directory naming one (/proc/self/fd/N) never
// puts the process in a host folder.
func TestLeanCVE2024_21626(t *testing.T) {
	ctx := context.Background()
	e := newLeanEnv(t, false, nil, "sh", "-c", "ls /proc/$$/fd; true")
	res, err := runProbe(t, e, InitLean, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLean(t, res.steps)
	if strings.Join(strings.Fields(res.out), " ") != "0 1 2" {
		t.Errorf("the container's process has descriptors:\n%s", res.out)
	}
	// A pre-forked init was forked by a spare shim, with places for the
	// descriptors its create brings: none of those or of the spare's.
	if res, err = runPreforked(t, e, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(strings.Fields(res.out), " ") != "0 1 2" {
		t.Errorf("the pre-forked init's container process has descriptors:\n%s", res.out)
	}

	hostMarker := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostMarker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for n := 3; n <= 10; n++ {
		cwd := "/proc/self/fd/" + strconv.Itoa(n)
		e := newLeanEnv(t, false, func(s *specs.Spec) { s.Process.Cwd = cwd }, "sh", "-c", "pwd; ls -a")
		var out bytes.Buffer
		r, w, _ := os.Pipe()
		done := make(chan struct{})
		go func() { out.ReadFrom(r); close(done) }()
		opts := e.opts
		opts.Init, opts.Stdout, opts.Stderr = InitLean, w, w
		var steps []string
		opts.Steps = func(s TimedStep) { steps = append(steps, s.Name) }
		code, err := e.rt.Run(ctx, newID(t), e.bundle, opts, nil)
		w.Close()
		<-done
		r.Close()
		if err == nil && !slices.Contains(steps, "lean init") {
			t.Errorf("cwd %s: not the lean init: %q", cwd, steps)
		}
		o := out.String()
		if err == nil && code == 0 {
			// It ran: then in a folder of the container, not the host's.
			if strings.Contains(o, "host-only") || strings.Contains(o, "hull-shim") || strings.Contains(o, "exec.fifo") || strings.Contains(o, "state.json") {
				t.Errorf("cwd %s: the process is in a host folder:\n%s", cwd, o)
			}
			if !strings.HasPrefix(o, "/") {
				t.Errorf("cwd %s: pwd %q", cwd, o)
			}
		}
		t.Logf("cwd %s: exit %d, %v: %q", cwd, code, err, o)
	}
}

// TestLeanCVE2021_30465: a bind mount whose destination is a symlink out of
// the root (absolute, or ../ past it) lands inside the root; the host's
// mount table and folders are untouched.
func TestLeanCVE2021_30465(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "bound-marker"), []byte("bound"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A host folder the relative link would reach from the bundle's
	// rootfs, if followed on the host.
	target, err := os.MkdirTemp("/var/tmp", "lean-cve-2021-30465-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(target) })
	hostMounts := func() string {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && (f[4] == "/etc" || strings.HasPrefix(f[4], target) || strings.HasPrefix(f[4], src)) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	mountsBefore := hostMounts()
	etcBefore, _ := os.ReadDir("/etc")
	e := newLeanEnv(t, false, nil, "sh", "-c", "ls /etc /tmp/rel; cat /proc/self/mountinfo")
	rootfs := filepath.Join(e.bundle, "rootfs")
	rel, err := filepath.Rel(filepath.Join(rootfs, "mnt"), target)
	if !strings.HasPrefix(rel, "../../../../") {
		t.Fatalf("the link %s does not climb out of the root", rel)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "tmp/rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	// /mnt/abs -> /etc; /mnt/rel -> ../../../…/<target>, which inside
	// the root resolves to /<target's path>: made so the mount has a place.
	if err := os.Symlink("/etc", filepath.Join(rootfs, "mnt/abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(rel, filepath.Join(rootfs, "mnt/rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, target), 0o755); err != nil {
		t.Fatal(err)
	}
	// And a second level: a link to a link out (/mnt/up -> ../../../..).
	if err := os.Symlink("../../../../../../../../tmp/rel", filepath.Join(rootfs, "mnt/up")); err != nil {
		t.Fatal(err)
	}
	spec := readSpec(t, e.bundle)
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/mnt/abs", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/mnt/rel", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/mnt/up", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
	)
	writeSpec(t, e.bundle, spec)
	res, err := runProbe(t, e, InitLean, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLean(t, res.steps)
	t.Logf("container:\n%s", res.out)
	if !strings.Contains(res.out, "bound-marker") {
		t.Errorf("the bind through the absolute link is not on the container's /etc:\n%s", res.out)
	}
	var mi []string
	for _, l := range strings.Split(res.out, "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == "/etc" || f[4] == target || f[4] == "/tmp/rel") {
			mi = append(mi, f[4])
		}
	}
	slices.Sort(mi)
	if strings.Join(mi, " ") != "/etc /tmp/rel "+target && strings.Join(mi, " ") != "/etc "+target+" /tmp/rel" {
		t.Errorf("the binds landed on %q, want /etc, %s, /tmp/rel inside the container", mi, target)
	}
	if got := hostMounts(); got != mountsBefore {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", mountsBefore, got)
	}
	etcAfter, _ := os.ReadDir("/etc")
	if len(etcAfter) != len(etcBefore) {
		t.Errorf("the host's /etc changed: %d entries, was %d", len(etcAfter), len(etcBefore))
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("the host folder %s got %d entries", target, len(ents))
	}
	if _, err := os.Stat("/etc/bound-marker"); err == nil {
		t.Error("the host's /etc has the bound folder")
	}
}

// TestLeanProcNotProcfs: a file system other than procfs at /proc (a
// tmpfs, a bind of a plain folder) is refused at create, with
// libcontainer's message, by both inits.
func TestLeanProcNotProcfs(t *testing.T) {
	dir := t.TempDir()
	for name, m := range map[string]specs.Mount{
		"tmpfs": {Destination: "/proc", Type: "tmpfs", Source: "tmpfs"},
		"bind":  {Destination: "/proc", Type: "bind", Source: dir, Options: []string{"rbind"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newLeanEnv(t, false, func(s *specs.Spec) {
				s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/proc" })
				s.Mounts = append([]specs.Mount{m}, s.Mounts...)
			}, "true")
			refusedTheSame(t, e, `destination /proc needs a procfs (type "proc", source "proc"), not type "`+m.Type+`"`)
		})
	}
	// The rootfs's /proc is a link to a folder: procfs is not mounted
	// through it.
	t.Run("symlink", func(t *testing.T) {
		e := newLeanEnv(t, false, nil, "true")
		rootfs := filepath.Join(e.bundle, "rootfs")
		if err := os.Remove(filepath.Join(rootfs, "proc")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(rootfs, "fakeproc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/fakeproc", filepath.Join(rootfs, "proc")); err != nil {
			t.Fatal(err)
		}
		refusedTheSame(t, e, `filesystem "proc" must be mounted on ordinary directory`)
	})
}

func readSpec(t *testing.T, bundle string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func writeSpec(t *testing.T, bundle string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLeanCVE2021_30465Race: while containers are created, the host swaps
// the bind mount's destination folder with a link that climbs out of the
// root (as a container sharing the volume would): every create fails or
// mounts inside the root; the host's /etc gets no mount and no file.
func TestLeanCVE2021_30465Race(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	e := newLeanEnv(t, false, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/race/lean-cve-race-marker", Type: "bind", Source: src, Options: []string{"rbind"}})
	}, "true")
	rootfs := filepath.Join(e.bundle, "rootfs")
	race, other := filepath.Join(rootfs, "mnt/race"), filepath.Join(rootfs, "mnt/other")
	if err := os.MkdirAll(filepath.Join(race, "lean-cve-race-marker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../../../../etc", other); err != nil {
		t.Fatal(err)
	}
	hostEtcMounts := func() int {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && (f[4] == "/etc" || strings.HasPrefix(f[4], "/etc/")) {
				n++
			}
		}
		return n
	}
	before := hostEtcMounts()
	stop, swapped := keepSwapping(race, other)
	created, failed := 0, 0
	for range 10 {
		opts := e.opts
		opts.Init = InitLean
		code, err := e.rt.Run(ctx, newID(t), e.bundle, opts, nil)
		if err != nil || code != 0 {
			if failed == 0 {
				t.Logf("refused: exit %d, %v", code, err)
			}
			failed++
		} else {
			created++
		}
		if _, err := os.Stat("/etc/lean-cve-race-marker"); err == nil {
			os.Remove("/etc/lean-cve-race-marker")
			t.Fatal("the host's /etc got the bind's mountpoint")
		}
		if n := hostEtcMounts(); n != before {
			t.Fatalf("the host's /etc has %d mounts, had %d", n, before)
		}
	}
	close(stop)
	t.Logf("%d swaps; %d containers created, %d refused", <-swapped, created, failed)
}

// TestLeanReadOnlyBindRace: the same swap, with two binds — a read-write
// one at /mnt/other/x, then a read-only one at /mnt/race/x. If the init
// finds the read-only mount again by its path after mounting it, a swap in
// between has it make the wrong mount read-only and leave the read-only
// volume writable. The container writes where it can; the read-only
// volume's folder on the host must stay empty.
//
// libcontainer (runc 1.5.2) fails this test too: its reopenAfterMount
// compares the reopened path's text, which a swap there and back keeps
// (its comment says so). The lean init can do better with the mount API
// (the flags set on the detached tree before it is attached).
func TestLeanReadOnlyBindRace(t *testing.T) {
	ctx := context.Background()
	init := InitLean
	roSrc, rwSrc := t.TempDir(), t.TempDir()
	e := newLeanEnv(t, false, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/mnt/other/x", Type: "bind", Source: rwSrc, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/mnt/race/x", Type: "bind", Source: roSrc, Options: []string{"rbind", "ro"}},
		)
	}, "sh", "-c", "for d in /mnt/race/x /mnt/other/x; do touch $d/written-$$ 2>/dev/null; done; true")
	rootfs := filepath.Join(e.bundle, "rootfs")
	race, other := filepath.Join(rootfs, "mnt/race"), filepath.Join(rootfs, "mnt/other")
	for _, d := range []string{race, other} {
		if err := os.MkdirAll(filepath.Join(d, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stop, swapped := keepSwapping(race, other)
	created := 0
	for range 20 {
		opts := e.opts
		opts.Init = init
		if code, err := e.rt.Run(ctx, newID(t), e.bundle, opts, nil); err == nil && code == 0 {
			created++
		}
		if ents, _ := os.ReadDir(roSrc); len(ents) > 0 {
			close(stop)
			<-swapped
			t.Fatalf("the container wrote to its read-only volume: %v", ents)
		}
	}
	close(stop)
	t.Logf("%d swaps; %d containers created", <-swapped, created)
}

// keepSwapping exchanges the folders a and b (RENAME_EXCHANGE) over and
// over until stop is closed, then sends how many times it did on swapped.
func keepSwapping(a, b string) (stop chan struct{}, swapped chan int) {
	stop, swapped = make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				swapped <- n
				return
			default:
			}
			if unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE) == nil {
				n++
			}
		}
	}()
	return stop, swapped
}
