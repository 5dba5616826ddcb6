//go:build linux && cgo && seccomp

package seccompbpf_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/runc/libcontainer/configs"
	lcseccomp "github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	hullruntime "github.com/hullproject/hull/internal/runtime"
	"github.com/hullproject/hull/internal/runtime/seccompbpf"
	"github.com/hullproject/hull/internal/runtime/seccompprog"
)

// childEnv makes the test binary a child that loads the configuration in
// the file it names with libcontainer's own InitSeccomp, as libcontainer's
// init does, and then spins on its main thread for the parent to read the
// filter. A profile without flags is loaded there with unix.Prctl, a Go
// system call that may lose its P while in the kernel and then park the
// thread on a futex when it comes back: such a profile (trap-native.json)
// allows futex, sched_yield and nanosleep so that the child survives its
// own return.
const childEnv = "SECCOMPBPF_LIBCONTAINER_CHILD"

func init() {
	if os.Getenv(childEnv) != "" {
		runtime.LockOSThread() // main runs on the main thread: tid == pid
	}
}

var loaderDir string

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		libcontainerChild(path)
		return
	}
	if dir := os.Getenv(cacheChildEnv); dir != "" {
		cacheChild(dir, os.Getenv(cacheChildConfigEnv))
		return
	}
	code := m.Run()
	if loaderDir != "" {
		os.RemoveAll(loaderDir)
	}
	os.Exit(code)
}

func libcontainerChild(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var c configs.Seccomp
	if err := json.Unmarshal(b, &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	debug.SetGCPercent(-1)
	all := unix.Sigset_t{}
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("tid %d\n", unix.Gettid())
	if _, err := lcseccomp.InitSeccomp(&c); err != nil {
		fmt.Fprintln(os.Stderr, "InitSeccomp:", err)
		os.Exit(3)
	}
	for {
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (ptrace of the filter, CAP_SYS_ADMIN to load without no_new_privs)")
	}
}

var (
	loaderOnce sync.Once
	loaderPath string
	loaderErr  error
)

// loader builds testdata/loader with CGO_ENABLED=0: the stand-in for
// hull's own init that loads our program with Load.
func loader(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH: cannot build the CGO_ENABLED=0 loader")
	}
	loaderOnce.Do(func() {
		loaderDir, loaderErr = os.MkdirTemp("", "seccompbpf-loader")
		if loaderErr != nil {
			return
		}
		loaderPath = filepath.Join(loaderDir, "loader")
		cmd := exec.Command("go", "build", "-o", loaderPath, "./testdata/loader")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			loaderErr = fmt.Errorf("CGO_ENABLED=0 go build ./testdata/loader: %v\n%s", err, out)
		}
	})
	if loaderErr != nil {
		t.Fatal(loaderErr)
	}
	return loaderPath
}

// profile is a configuration as the shim hands it to libcontainer.
type profile struct {
	name string
	cfg  *configs.Seccomp
}

// dockerProfiles are Docker's default profile resolved for Docker's 14
// default capabilities and for every capability (which lets through, for
// instance, the mount family and unshare).
func dockerProfiles(t testing.TB) (fourteen, every profile) {
	t.Helper()
	s, err := hullruntime.DefaultSpec(hullruntime.SpecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Process.Capabilities.Bounding); n != 14 {
		t.Fatalf("DefaultSpec has %d capabilities, want Docker's 14", n)
	}
	c14, err := specconv.SetupSeccomp(s.Linux.Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	var caps []string
	for _, c := range capability.ListKnown() {
		caps = append(caps, "CAP_"+strings.ToUpper(c.String()))
	}
	s.Process.Capabilities.Bounding = caps
	if err := hullruntime.ApplySeccomp(s, ""); err != nil {
		t.Fatal(err)
	}
	cAll, err := specconv.SetupSeccomp(s.Linux.Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	return profile{name: "docker-14-caps", cfg: c14}, profile{name: "docker-every-cap", cfg: cAll}
}

func customProfiles(t testing.TB) []profile {
	t.Helper()
	files, err := filepath.Glob("testdata/profiles/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no profiles in testdata/profiles: %v", err)
	}
	var ps []profile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var oci specs.LinuxSeccomp
		if err := json.Unmarshal(b, &oci); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c, err := specconv.SetupSeccomp(&oci)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ps = append(ps, profile{name: strings.TrimSuffix(filepath.Base(f), ".json"), cfg: c})
	}
	return ps
}

// filtered is a child process whose main thread runs under a filter.
type filtered struct {
	cmd    *exec.Cmd
	tid    int
	stdout *bufio.Reader
	stderr *bytes.Buffer
	stdin  interface{ Close() error }
}

// start starts cmd, reads the line "tid N" or, for the loader's probe
// mode, its JSON line, and waits until thread N runs under a filter. The
// child is killed when the test ends.
func start(t *testing.T, cmd *exec.Cmd) (*filtered, string) {
	t.Helper()
	f := &filtered{cmd: cmd, stderr: new(bytes.Buffer)}
	cmd.Stderr = f.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.stdin = in
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	f.stdout = bufio.NewReader(out)
	line, err := f.stdout.ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%v: no first line (%v); stderr: %s", cmd.Args, err, f.stderr)
	}
	if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tid "); ok {
		f.tid, _ = strconv.Atoi(v)
	} else {
		var probe struct{ Tid int }
		if err := json.Unmarshal([]byte(line), &probe); err != nil {
			t.Fatalf("first line %q: %v", line, err)
		}
		f.tid = probe.Tid
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := f.status(t)
		if st["Seccomp"] == "2" {
			break
		}
		if st == nil || strings.HasPrefix(st["State"], "Z") || time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v: thread %d never ran under a filter (status %v); stderr: %s", cmd.Args, f.tid, st, f.stderr)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return f, line
}

// status is the filtered thread's /proc status, field by field; nil once
// it is gone.
func (f *filtered) status(t *testing.T) map[string]string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", f.cmd.Process.Pid, f.tid))
	if err != nil {
		return nil
	}
	m := make(map[string]string)
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// loadedByLibcontainer is the filter libcontainer's InitSeccomp installs
// for c, read back from the kernel, with the metadata flags and the
// thread's status.
func loadedByLibcontainer(t *testing.T, c *configs.Seccomp) ([]unix.SockFilter, uint64, map[string]string) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	f, _ := start(t, cmd)
	if f.tid != f.cmd.Process.Pid {
		t.Fatalf("libcontainer's child loaded on thread %d, not its main thread %d", f.tid, f.cmd.Process.Pid)
	}
	st := f.status(t)
	prog, flags, err := loadedFilter(f.tid)
	if err != nil {
		t.Fatal(err)
	}
	return prog, flags, st
}

// loadedByLoader is the filter the CGO_ENABLED=0 loader installs with
// Program.Load from the file at path.
func loadedByLoader(t *testing.T, path string) ([]unix.SockFilter, uint64, map[string]string) {
	t.Helper()
	f, _ := start(t, exec.Command(loader(t), "spin", path))
	if f.tid != f.cmd.Process.Pid {
		t.Fatalf("the loader loaded on thread %d, not its main thread %d", f.tid, f.cmd.Process.Pid)
	}
	st := f.status(t)
	prog, flags, err := loadedFilter(f.tid)
	if err != nil {
		t.Fatal(err)
	}
	return prog, flags, st
}

func writeProgram(t testing.TB, p *seccompprog.Program) string {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.bpf")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEquivalenceWithLibcontainer is issue 16's gate for the filter: for
// Docker's default profile (with Docker's 14 capabilities and with every
// capability) and custom profiles (argument conditions of every
// comparison, errno returns, KILL, TRAP, LOG, TRACE, KILL_PROCESS actions
// and defaults, filter flags, architecture sets), the program
// libcontainer's InitSeccomp loads — read back from the kernel with
// PTRACE_SECCOMP_GET_FILTER — gives the same verdict as ours for every
// system call number 0-1023, the same with x32's bit and the edges of the
// 32-bit range, on x86_64, i386 and two unknown architectures, for
// argument vectors built from every constant the profile compares with.
// Our program, loaded by a CGO_ENABLED=0 binary with Load, is what the
// kernel then holds, byte for byte, with the same /proc status and
// metadata flags as libcontainer's.
func TestEquivalenceWithLibcontainer(t *testing.T) {
	needRoot(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the sweep's architectures and evaluator are x86_64's")
	}
	d14, dAll := dockerProfiles(t)
	api, _ := libseccomp.GetAPI()
	for _, pr := range append([]profile{d14, dAll}, customProfiles(t)...) {
		t.Run(pr.name, func(t *testing.T) {
			mine, err := seccompbpf.Compile(pr.cfg)
			if err != nil {
				t.Fatal(err)
			}
			stubLen, err := seccompbpf.StubLen(pr.cfg)
			if err != nil {
				t.Fatal(err)
			}
			body := mine.Filter[stubLen:]

			theirs, theirFlags, theirStatus := loadedByLibcontainer(t, pr.cfg)
			ours, ourFlags, ourStatus := loadedByLoader(t, writeProgram(t, mine))

			if !slices.Equal(ours, mine.Filter) {
				t.Errorf("the kernel holds %d instructions from Load, not the %d compiled", len(ours), len(mine.Filter))
			}
			if ourStatus["Seccomp"] != "2" || ourStatus["Seccomp_filters"] != "1" {
				t.Errorf("loader's status: Seccomp %q Seccomp_filters %q, want 2 and 1", ourStatus["Seccomp"], ourStatus["Seccomp_filters"])
			}
			for _, k := range []string{"Seccomp", "Seccomp_filters", "NoNewPrivs", "Speculation_Store_Bypass", "SpeculationIndirectBranch"} {
				if ourStatus[k] != theirStatus[k] {
					t.Errorf("status %s: ours %q, libcontainer's %q", k, ourStatus[k], theirStatus[k])
				}
			}
			if ourFlags != theirFlags {
				t.Errorf("filter metadata flags: ours %#x, libcontainer's %#x", ourFlags, theirFlags)
			}
			// specconv gives a profile without flags SPEC_ALLOW.
			wantFlags := uint(0)
			for _, f := range pr.cfg.Flags {
				switch {
				case f == specs.LinuxSeccompFlagLog && api >= 3:
					wantFlags |= unix.SECCOMP_FILTER_FLAG_LOG
				case f == specs.LinuxSeccompFlagSpecAllow && api >= 4:
					wantFlags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
				}
			}
			if mine.Flags != wantFlags || mine.NoNewPrivs {
				t.Errorf("flags %#x no_new_privs %v, want %#x (what libcontainer's filterFlags gives) and false", mine.Flags, mine.NoNewPrivs, wantFlags)
			}
			// libseccomp's part is the same bytes: only the stubs differ.
			if len(theirs) < len(body) || !slices.Equal(theirs[len(theirs)-len(body):], body) {
				t.Errorf("libseccomp's program (%d instructions) is not the tail of libcontainer's (%d)", len(body), len(theirs))
			} else {
				t.Logf("libcontainer: %d instructions (stub %d); ours: %d (stub %d); libseccomp's %d identical",
					len(theirs), len(theirs)-len(body), len(mine.Filter), stubLen, len(body))
			}

			vectors := argVectors(pr.cfg)
			// Our evaluator agrees with x/net/bpf's VM on both programs.
			for _, prog := range [][]unix.SockFilter{theirs, mine.Filter} {
				if err := crossCheck(prog, vectors[:4]); err != nil {
					t.Fatal(err)
				}
			}
			n, diffs := compareVerdicts(theirs, mine.Filter, vectors)
			for _, d := range diffs {
				t.Error(d)
			}
			t.Logf("%d verdicts compared (%d argument vectors)", n, len(vectors))
			// The sweep sees the stub: without it, some verdict changes
			// (unless the default answer is ENOSYS too).
			enosysDefault := pr.cfg.DefaultAction == configs.Errno && pr.cfg.DefaultErrnoRet != nil && *pr.cfg.DefaultErrnoRet == uint(unix.ENOSYS)
			if stubLen > 0 && !enosysDefault {
				if _, diffs := compareVerdicts(theirs, body, vectors[:1]); len(diffs) == 0 {
					t.Error("the sweep does not tell libcontainer's program from libseccomp's without the ENOSYS stub")
				}
			}
		})
	}
}

// TestSweepTellsProfilesApart: the verdict sweep is fine enough to see
// what a capability changes in Docker's profile.
func TestSweepTellsProfilesApart(t *testing.T) {
	d14, dAll := dockerProfiles(t)
	p14, err := seccompbpf.Compile(d14.cfg)
	if err != nil {
		t.Fatal(err)
	}
	pAll, err := seccompbpf.Compile(dAll.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, diffs := compareVerdicts(p14.Filter, pAll.Filter, argVectors(d14.cfg)[:1]); len(diffs) == 0 {
		t.Fatal("Docker's profile with 14 and with every capability give the same verdicts")
	}
}

// crossCheck compares eval with golang.org/x/net/bpf's VM on prog for
// every architecture and number of the sweep and the given vectors.
func crossCheck(prog []unix.SockFilter, vectors [][6]uint64) error {
	vm, err := newVM(prog)
	if err != nil {
		return err
	}
	for _, arch := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0x12345678} {
		for _, nr := range syscallNumbers() {
			for _, args := range vectors {
				d := &seccompData{nr: nr, arch: arch, ip: 0x7f0012345678, args: args}
				want, err := eval(prog, d)
				if err != nil {
					return err
				}
				got, err := vm.Run(d.bytes())
				if err != nil || uint32(got) != want {
					return fmt.Errorf("arch %#x nr %#x args %#x: x/net/bpf %#x (%v), eval %#x", arch, nr, args, got, err, want)
				}
			}
		}
	}
	return nil
}

// compareVerdicts runs both programs on every (arch, nr, args) of the
// sweep; it returns how many it compared and the first differences (or
// evaluation errors).
func compareVerdicts(want, got []unix.SockFilter, vectors [][6]uint64) (int, []string) {
	archs := []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0x12345678}
	nrs := syscallNumbers()
	type result struct {
		n     int
		diffs []string
	}
	results := make([]result, len(archs))
	var wg sync.WaitGroup
	for i, arch := range archs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			d := &seccompData{arch: arch, ip: 0x7f0012345678}
			for _, nr := range nrs {
				d.nr = nr
				for _, args := range vectors {
					d.args = args
					w, errW := eval(want, d)
					g, errG := eval(got, d)
					r.n++
					if errW != nil || errG != nil || w != g {
						if len(r.diffs) < 10 {
							r.diffs = append(r.diffs, fmt.Sprintf("arch %#x nr %#x args %#x: libcontainer %#x (%v), ours %#x (%v)", arch, nr, args, w, errW, g, errG))
						}
						if len(r.diffs) >= 10 {
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	var diffs []string
	for _, r := range results {
		n += r.n
		diffs = append(diffs, r.diffs...)
	}
	return n, diffs
}

// argVectors are the argument vectors of the sweep: all zeros first (the
// one a quick check uses), then, from a set of values — 0, 1, all ones,
// the 32-bit edges, every constant the profile compares with and the
// values around it (±1, with the upper half set or cleared, a masked
// comparison's datum with the bits outside the mask set and with one bit
// inside flipped), and random ones — each value in all six arguments at
// once and in each argument that a condition tests, alone; and for each
// rule that tests several arguments, the vector that meets all its
// conditions and the ones that miss exactly one.
func argVectors(c *configs.Seccomp) [][6]uint64 {
	vals := map[uint64]bool{}
	addAround := func(v uint64) {
		for _, w := range []uint64{v, v + 1, v - 1, v | 0xffffffff00000000, v | 1<<32, v & 0xffffffff, v >> 32} {
			vals[w] = true
		}
	}
	for _, v := range []uint64{0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32, ^uint64(0), 1 << 63} {
		addAround(v)
	}
	indexes := map[uint]bool{}
	meet := func(a *configs.Arg) uint64 {
		switch a.Op {
		case configs.NotEqualTo, configs.GreaterThan:
			return a.Value + 1
		case configs.LessThan:
			return a.Value - 1
		case configs.MaskEqualTo:
			return a.ValueTwo
		}
		return a.Value
	}
	miss := func(a *configs.Arg) uint64 {
		switch a.Op {
		case configs.EqualTo, configs.LessThanOrEqualTo:
			return a.Value + 1
		case configs.GreaterThanOrEqualTo:
			return a.Value - 1
		case configs.MaskEqualTo:
			return a.ValueTwo ^ (a.Value & -a.Value)
		}
		return a.Value
	}
	var multi [][6]uint64
	for _, call := range c.Syscalls {
		for _, a := range call.Args {
			indexes[a.Index] = true
			addAround(a.Value)
			addAround(a.ValueTwo)
			if a.Op == configs.MaskEqualTo {
				addAround(a.ValueTwo | ^a.Value)
				addAround(a.ValueTwo ^ (a.Value & -a.Value))
			}
		}
		if len(call.Args) > 1 {
			var all [6]uint64
			for _, a := range call.Args {
				all[a.Index] = meet(a)
			}
			multi = append(multi, all)
			for _, a := range call.Args {
				v := all
				v[a.Index] = miss(a)
				multi = append(multi, v)
			}
		}
	}
	rng := rand.New(rand.NewPCG(16, 1))
	for range 8 {
		vals[rng.Uint64()] = true
		vals[uint64(rng.Uint32())] = true
	}
	sorted := make([]uint64, 0, len(vals))
	for v := range vals {
		sorted = append(sorted, v)
	}
	slices.Sort(sorted)

	seen := map[[6]uint64]bool{}
	var vectors [][6]uint64
	add := func(v [6]uint64) {
		if !seen[v] {
			seen[v] = true
			vectors = append(vectors, v)
		}
	}
	add([6]uint64{})
	for _, v := range sorted {
		add([6]uint64{v, v, v, v, v, v})
		for i := range uint(6) {
			if indexes[i] {
				var one [6]uint64
				one[i] = v
				add(one)
			}
		}
	}
	for _, v := range multi {
		add(v)
	}
	for range 16 {
		var v [6]uint64
		for i := range v {
			v[i] = sorted[rng.IntN(len(sorted))]
		}
		add(v)
	}
	return vectors
}

// TestLoadedFilterBehaviour loads our program for Docker's profile from
// the cache file in the CGO_ENABLED=0 loader and makes system calls under
// it: a call the profile does not list answers EPERM (the default action)
// where it answered something else before; socket(AF_VSOCK) — refused by
// an argument condition — EPERM, socket(AF_UNIX) works; a number above
// the newest the profile names answers ENOSYS, not EPERM; /proc shows one
// filter in mode 2.
func TestLoadedFilterBehaviour(t *testing.T) {
	needRoot(t)
	d14, _ := dockerProfiles(t)
	path, err := seccompbpf.Cached(t.TempDir(), d14.cfg)
	if err != nil {
		t.Fatal(err)
	}
	nr := func(name string) uint64 {
		n, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			t.Fatal(err)
		}
		return uint64(n)
	}
	for _, call := range d14.cfg.Syscalls {
		if call.Name == "keyctl" || call.Name == "nfsservctl" {
			t.Fatalf("Docker's profile names %s: pick another unlisted call", call.Name)
		}
	}
	const beyond = 1000
	probes := []struct {
		name  string
		call  [7]uint64
		after unix.Errno
	}{
		{"getpid", [7]uint64{nr("getpid")}, 0},
		{"keyctl(KEYCTL_GET_KEYRING_ID, bad id)", [7]uint64{nr("keyctl"), 0, 0x7fffffff}, unix.EPERM},
		{"nfsservctl (gone from the kernel, below the newest)", [7]uint64{nr("nfsservctl")}, unix.EPERM},
		{"socket(AF_VSOCK)", [7]uint64{nr("socket"), unix.AF_VSOCK, unix.SOCK_STREAM}, unix.EPERM},
		{"socket(AF_UNIX)", [7]uint64{nr("socket"), unix.AF_UNIX, unix.SOCK_STREAM}, 0},
		{"syscall 1000 (beyond the newest)", [7]uint64{beyond}, unix.ENOSYS},
	}
	var calls [][7]uint64
	for _, p := range probes {
		calls = append(calls, p.call)
	}
	arg, _ := json.Marshal(calls)
	f, line := start(t, exec.Command(loader(t), "probe", path, string(arg)))
	var res struct{ Before, After []int }
	if err := json.Unmarshal([]byte(line), &res); err != nil || len(res.After) != len(probes) {
		t.Fatalf("loader's answer %q: %v", line, err)
	}
	for i, p := range probes {
		before, after := unix.Errno(res.Before[i]), unix.Errno(res.After[i])
		t.Logf("%s: before %v (%d), after %v (%d)", p.name, before, before, after, after)
		if after != p.after {
			t.Errorf("%s under the filter: %v, want %v", p.name, after, p.after)
		}
		if p.after == unix.EPERM && before == unix.EPERM {
			t.Errorf("%s answered EPERM without the filter too: the probe proves nothing", p.name)
		}
	}
	st := f.status(t)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if !strings.Contains(string(b), "\nSeccomp:\t2\n") || !strings.Contains(string(b), "\nSeccomp_filters:\t1\n") {
		t.Errorf("/proc/%d/status: Seccomp %q, Seccomp_filters %q; want 2 and 1", f.cmd.Process.Pid, st["Seccomp"], st["Seccomp_filters"])
	}
	f.stdin.Close()
	if err := f.cmd.Wait(); err != nil {
		t.Errorf("the loader, once stdin closed: %v; stderr: %s", err, f.stderr)
	}
}

// TestLoaderIsPureGo: a program that imports the package to load a filter
// builds with CGO_ENABLED=0, links neither libseccomp nor libcontainer,
// and is static.
func TestLoaderIsPureGo(t *testing.T) {
	bin := loader(t)
	cmd := exec.Command("go", "list", "-deps", "./testdata/loader")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "runtime/cgo" || strings.HasPrefix(dep, "github.com/seccomp/") || strings.HasPrefix(dep, "github.com/opencontainers/runc") {
			t.Errorf("the loader depends on %s", dep)
		}
	}
	e, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, p := range e.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the loader is dynamically linked")
		}
	}
}

func TestCompileIsDeterministic(t *testing.T) {
	d14, _ := dockerProfiles(t)
	a, err := seccompbpf.Compile(d14.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := seccompbpf.Compile(d14.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ab, bb) {
		t.Fatal("two compilations of Docker's profile differ")
	}
}
