package runtime

// The lean init (hull-init) against libcontainer's: for the same bundle, a
// probe container created with each prints what its process sees (status,
// mounts, limits, cgroups, devices, user, environment ...) and the test
// reads from the host what the process cannot (namespaces, the devices
// cgroup); both must be the same once ids, inode numbers and times are
// taken out. Every variant must really take the lean path.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// probeScript prints, section by section, what the container's process
// sees of itself. Children of the shell (grep, cat, ls) inherit all of it.
const probeScript = `
sec() { echo "== $1"; }
sec status; grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups|Umask|Sig(Blk|Ign)|Speculation|Cpus_allowed_list|Mems_allowed_list)' /proc/self/status
sec mountinfo; cat /proc/self/mountinfo
sec limits; cat /proc/self/limits
sec cgroup; cat /proc/self/cgroup
sec dev
for f in /dev/* /dev/pts/* /dev/shm/* /dev/mqueue/*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else stat -c '%n %F %a %u:%g %t:%T' "$f"; fi
done
sec id; id
sec env; env | sort
sec umask; umask
sec cwd; pwd
sec hostname; hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname
sec fds; ls /proc/$$/fd; stat -L -c '%u:%g %a %F' /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2
sec oom; cat /proc/self/oom_score_adj
sec session; read -r pid comm st ppid pgrp sid rest < /proc/$$/stat; [ "$pgrp" = "$pid" ] && echo "pgrp is pid"; [ "$sid" = "$pid" ] && echo "session is pid"; echo "ppid $([ "$ppid" = 0 ] && echo 0 || echo other)"
sec misc; cat /proc/self/personality /proc/self/loginuid /proc/self/timerslack_ns; echo; cat /proc/self/attr/current 2>&1
sec sysctl
for s in net/ipv4/ip_unprivileged_port_start net/ipv4/ping_group_range net/ipv4/ip_forward kernel/msgmax kernel/shmmni; do
	echo "$s=$(cat /proc/sys/$s 2>&1)"
done
sec net; ip -o link | sed 's/ qlen.*//'
sec tty; [ -t 0 ] && echo "stdin is a tty"; [ -t 1 ] && echo "stdout is a tty"; tty; [ -t 0 ] && stty size && stat -L -c '%u:%g %a' /proc/$$/fd/0
sec syscalls; unshare -U true 2>&1; echo "unshare -U: $?"; unshare -m true 2>&1; echo "unshare -m: $?"
sec writable
for d in / /sys /sys/fs/cgroup /proc/sys /etc /tmp /mnt/rw /mnt/ro; do
	[ -d "$d" ] || continue
	if touch "$d/.probe" 2>/dev/null; then rm -f "$d/.probe"; echo "$d rw"; else echo "$d ro"; fi
done
sec special; for f in /run/host.sock /mnt/rotmp; do [ -e "$f" ] && stat -c '%n %F %a' "$f"; done
sec files; for f in /etc/extra /mnt/ro/marker /mnt/rw/marker; do [ -e "$f" ] && echo "$f: $(head -c 40 "$f" | tr -d '\n')"; done
grep -q '^12345.67 ' /proc/uptime && echo "/proc/uptime: bound"
sec end
`

// leanRootfs is a rootfs with the static busybox and all its applets, a
// user 1000 ("u", groups 1000 and 2000) whose home only they may enter.
func leanRootfs(t *testing.T, dir string) {
	t.Helper()
	busyboxRootfs(t, dir)
	out, err := exec.Command(filepath.Join(dir, "bin/busybox"), "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(out)) {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:u:/home/u:/bin/sh\n",
		"etc/group":  "root:x:0:\nwheel:x:10:u\nu:x:1000:\nextra:x:2000:u\n",
	}
	for p, s := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"root", "home/u", "mnt", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "home/u"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "home/u"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
}

// newLeanEnv makes a runtime root and a bundle of Docker's default spec
// (DefaultSpec; without its seccomp profile unless seccomp) over
// leanRootfs, running args, with mutate applied.
func newLeanEnv(t *testing.T, seccomp bool, mutate func(*specs.Spec), args ...string) *env {
	t.Helper()
	shim := testShim(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	leanRootfs(t, filepath.Join(bundle, "rootfs"))
	spec, err := DefaultSpec(SpecOptions{Args: args, NoSeccomp: !seccomp})
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(spec)
	}
	return writeEnv(t, shim, dir, bundle, spec)
}

// probeResult is what one probe container showed.
type probeResult struct {
	id       string
	steps    []string
	out      string // the probe's output, raw
	host     string // what the host saw of the created container
	exitCode int
}

// trace is the creation trace's step names, one a line.
func (p *probeResult) trace() string { return strings.Join(p.steps, "\n") }

// createTraced creates id with init and returns the creation trace's
// step names; the container is deleted when the test ends.
func createTraced(t *testing.T, e *env, id, init string, opts CreateOptions) ([]string, error) {
	t.Helper()
	var steps []string
	opts.Init = init
	opts.Steps = func(s TimedStep) { steps = append(steps, s.Name) }
	err := e.rt.Create(context.Background(), id, e.bundle, opts)
	t.Cleanup(func() {
		e.rt.Delete(context.Background(), id, true)
		assertNothingLeft(t, e.rt, id)
	})
	return steps, err
}

// runProbe creates a container of e's bundle with init, looks at it from
// the host while its init waits on the exec fifo, starts it and returns
// its output. joined names containers whose namespaces the host view
// compares against. A terminal bundle gets a console socket.
func runProbe(t *testing.T, e *env, init string, joined map[string]int) (*probeResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := &probeResult{id: newID(t) + "-" + init}
	opts := e.opts
	spec := bundleSpec(t, e)
	output := make(chan string, 1)
	if spec.Process.Terminal {
		sock := filepath.Join(t.TempDir(), "console.sock")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		opts.ConsoleSocket = sock
		go func() { output <- readConsole(l) }()
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		opts.Stdout, opts.Stderr = w, w
		go func() {
			b, _ := io.ReadAll(r)
			output <- string(b)
		}()
		defer w.Close()
	}
	var err error
	res.steps, err = createTraced(t, e, res.id, init, opts)
	if opts.Stdout != nil {
		opts.Stdout.Close()
	}
	if err != nil {
		return res, err
	}
	st, err := e.rt.State(ctx, res.id)
	if err != nil {
		t.Fatal(err)
	}
	res.host = hostView(t, st.Pid, joined)
	if err := e.rt.Start(ctx, res.id); err != nil {
		t.Fatal(err)
	}
	if res.exitCode, err = e.rt.Wait(ctx, res.id); err != nil {
		t.Fatal(err)
	}
	select {
	case res.out = <-output:
	case <-ctx.Done():
		t.Fatalf("%s: no end of output", res.id)
	}
	res.out = strings.ReplaceAll(res.out, "\r", "")
	return res, nil
}

// bundleSpec is e's bundle's config.json.
func bundleSpec(t *testing.T, e *env) *specs.Spec {
	t.Helper()
	var spec specs.Spec
	b, err := os.ReadFile(filepath.Join(e.bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return &spec
}

// readConsole takes the pty master sent on the console socket and reads
// it to its end.
func readConsole(l *net.UnixListener) string {
	c, err := l.AcceptUnix()
	if err != nil {
		return "accept: " + err.Error()
	}
	defer c.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return "recvmsg: " + err.Error()
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return fmt.Sprintf("no control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return fmt.Sprintf("no descriptor: %v", err)
	}
	master := os.NewFile(uintptr(fds[0]), "pty")
	defer master.Close()
	var out bytes.Buffer
	io.Copy(&out, master) // ends with EIO once the container is gone
	return out.String()
}

// hostView is what the host sees of the container's init pid: which
// namespaces are the host's, its own or a joined container's, and the
// devices its cgroup allows.
func hostView(t *testing.T, pid int, joined map[string]int) string {
	t.Helper()
	var b strings.Builder
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		mine, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			fmt.Fprintf(&b, "ns %s: %v\n", ns, err)
			continue
		}
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		what := "own"
		if mine == host {
			what = "host"
		}
		for name, other := range joined {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", other, ns)); l == mine {
				what = "joined " + name
			}
		}
		fmt.Fprintf(&b, "ns %s: %s\n", ns, what)
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(cg), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && (f[1] == "devices" || (f[1] == "" && f[0] == "0" && isUnified())) {
			list := "/sys/fs/cgroup/devices" + f[2] + "/devices.list"
			if f[1] == "" {
				continue // cgroup v2: the devices filter is BPF, compared by the probe's behaviour
			}
			d, err := os.ReadFile(list)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(d)), "\n")
			slices.Sort(lines)
			fmt.Fprintf(&b, "devices.list:\n%s\n", strings.Join(lines, "\n"))
		}
	}
	return b.String()
}

func isUnified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

var (
	mountOptional = regexp.MustCompile(`^(shared|master|propagate_from):\d+$`)
	hexID         = regexp.MustCompile(`[0-9a-f]{64}`)
)

// normalise takes out of a probe's output what differs between any two
// containers: their ids, mount ids and device numbers, and puts mountinfo
// in a stable order.
func normalise(out, id string) map[string]string {
	out = strings.ReplaceAll(out, id, "ID")
	out = hexID.ReplaceAllString(out, "HEX")
	secs := map[string]string{}
	name := ""
	var lines []string
	flush := func() {
		if name == "mountinfo" {
			for i, l := range lines {
				f := strings.Fields(l)
				if len(f) < 7 {
					continue
				}
				f = f[3:] // mount id, parent id, major:minor
				for j := range f {
					if f[j] == "-" {
						break
					}
					if m := mountOptional.FindStringSubmatch(f[j]); m != nil {
						f[j] = m[1]
					}
				}
				lines[i] = strings.Join(f, " ")
			}
			slices.Sort(lines)
		}
		if name != "" {
			secs[name] = strings.Join(lines, "\n")
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(l, "== "); ok {
			flush()
			name, lines = s, nil
			continue
		}
		lines = append(lines, l)
	}
	flush()
	return secs
}

// compareProbes fails the test for every section that differs.
func compareProbes(t *testing.T, lean, lc *probeResult, ignore ...string) {
	t.Helper()
	a, b := normalise(lean.out, lean.id), normalise(lc.out, lc.id)
	if _, ok := a["end"]; !ok {
		t.Errorf("lean probe did not finish (exit %d):\n%s", lean.exitCode, lean.out)
	}
	if _, ok := b["end"]; !ok {
		t.Errorf("libcontainer probe did not finish (exit %d):\n%s", lc.exitCode, lc.out)
	}
	if t.Failed() {
		return // the sections of a probe that did not run say nothing more
	}
	if lean.exitCode != lc.exitCode {
		t.Errorf("exit code: lean %d, libcontainer %d", lean.exitCode, lc.exitCode)
	}
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if a[n] != b[n] && !slices.Contains(ignore, n) {
			t.Errorf("%s differs:\n--- lean\n%s\n--- libcontainer\n%s", n, a[n], b[n])
		}
	}
	if lean.host != lc.host {
		t.Errorf("host view differs:\n--- lean\n%s\n--- libcontainer\n%s", lean.host, lc.host)
	}
}

// wantLean fails unless the trace says the lean init created the
// container.
func wantLean(t *testing.T, steps []string) {
	t.Helper()
	if !slices.Contains(steps, "lean init") {
		t.Fatalf("the lean init did not run; trace:\n%s", strings.Join(steps, "\n"))
	}
	// Without a console, hull-monitor starts while the init sets itself
	// up and finishes the create.
	if i := slices.Index(steps, "lean init: handed to hull-monitor"); i >= 0 && !slices.Contains(steps[i:], "lean init: ready") {
		t.Fatalf("handed to hull-monitor, which did not say the init was ready; trace:\n%s", strings.Join(steps, "\n"))
	}
}

// equivalent runs the probe under both inits and compares them; it
// returns both for variant-specific checks.
func equivalent(t *testing.T, e *env, joined map[string]int, ignore ...string) (lean, lc *probeResult) {
	t.Helper()
	lean, err := runProbe(t, e, InitLean, joined)
	if err != nil {
		t.Fatalf("lean: %v", err)
	}
	wantLean(t, lean.steps)
	lc, err = runProbe(t, e, InitLibcontainer, joined)
	if err != nil {
		t.Fatalf("libcontainer: %v", err)
	}
	if !slices.Contains(lc.steps, "libcontainer init: asked for") {
		t.Errorf("the libcontainer run's trace:\n%s", lc.trace())
	}
	compareProbes(t, lean, lc, ignore...)
	if t.Failed() {
		t.Logf("lean output:\n%s\nhost:\n%s", lean.out, lean.host)
		return lean, lc
	}
	// The same container again from a spare shim's pre-forked init.
	pre, err := runPreforked(t, e, joined)
	if err != nil {
		t.Fatalf("pre-forked: %v", err)
	}
	wantLean(t, pre.steps)
	compareProbes(t, pre, lc, ignore...)
	if t.Failed() {
		t.Logf("pre-forked output:\n%s\nhost:\n%s\ntrace:\n%s", pre.out, pre.host, pre.trace())
	}
	return lean, lc
}

// runPreforked runs the probe with the lean init from a spare shim's
// pre-forked init (prefork_linux.go) and checks from the trace that the
// init was the pre-forked one — or, for a container in the host's pid
// namespace, that it was not. The runtime keeps no spare afterwards.
func runPreforked(t *testing.T, e *env, joined map[string]int) (*probeResult, error) {
	t.Helper()
	e.rt.KeepSpareShim()
	defer func() {
		e.rt.spares.mu.Lock()
		e.rt.spares.on = false
		e.rt.spares.mu.Unlock()
		e.rt.Close()
	}()
	// A spare is made once a create is answered.
	e.rt.refillSpare(e.opts.ShimPath)
	for deadline := time.Now().Add(10 * time.Second); len(sparePids(e.opts.ShimPath)) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no spare shim")
		}
	}
	res, err := runProbe(t, e, InitLean, joined)
	if err != nil {
		return res, err
	}
	spec := bundleSpec(t, e)
	ownPid := slices.ContainsFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
		return ns.Type == specs.PIDNamespace && ns.Path == ""
	})
	switch taken := slices.Contains(res.steps, "lean init: pre-forked init taken"); {
	case ownPid && !taken:
		t.Errorf("the pre-forked init was not taken; trace:\n%s", res.trace())
	case !ownPid && (taken || !slices.ContainsFunc(res.steps, func(s string) bool { return strings.HasPrefix(s, "lean init: pre-forked init not taken: ") })):
		t.Errorf("a container in the host's pid namespace, and the pre-forked init was not refused; trace:\n%s", res.trace())
	}
	return res, nil
}

// section is one section of a probe's normalised output.
func section(p *probeResult, name string) string { return normalise(p.out, p.id)[name] }

func probeArgs() []string { return []string{"sh", "-c", probeScript} }

// allCaps is every capability this kernel knows, as the spec names them.
func allCaps(t *testing.T) []string {
	last, err := capability.LastCap()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range capability.ListKnown() {
		if c <= last {
			out = append(out, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	return out
}

// hostDevices are the host's character devices directly under /dev that
// a privileged container gets, as docker --privileged adds them.
func hostDevices(t *testing.T) []specs.LinuxDevice {
	ents, err := os.ReadDir("/dev")
	if err != nil {
		t.Fatal(err)
	}
	var out []specs.LinuxDevice
	for _, e := range ents {
		var st unix.Stat_t
		p := "/dev/" + e.Name()
		if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
			continue
		}
		if strings.HasPrefix(e.Name(), "tty") || e.Name() == "console" || e.Name() == "ptmx" {
			continue
		}
		mode := os.FileMode(st.Mode & 0o777)
		uid, gid := st.Uid, st.Gid
		out = append(out, specs.LinuxDevice{Path: p, Type: "c", Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), FileMode: &mode, UID: &uid, GID: &gid})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func dropCaps(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
}

func setCaps(s *specs.Spec, caps []string) {
	s.Process.Capabilities.Bounding = slices.Clone(caps)
	s.Process.Capabilities.Effective = slices.Clone(caps)
	s.Process.Capabilities.Permitted = slices.Clone(caps)
}

// TestLeanEquivalence: for each config, the lean init and libcontainer's
// give the container's process the same view of itself and the host the
// same view of the container.
func TestLeanEquivalence(t *testing.T) {
	hostDir := t.TempDir()
	for _, p := range []string{"rw", "ro"} {
		if err := os.MkdirAll(filepath.Join(hostDir, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hostDir, p, "marker"), []byte("host folder "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(hostDir, "file"), []byte("host file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "uptime"), []byte("12345.67 1.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(hostDir, "host.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	variants := []struct {
		name   string
		mutate func(*specs.Spec)
		check  func(t *testing.T, lean *probeResult)
		opts   func(*CreateOptions)
		rootfs func(t *testing.T, rootfs string)
		ignore []string // sections that read the host's changing state
	}{
		{name: "default", check: func(t *testing.T, p *probeResult) {
			if s := section(p, "status"); !strings.Contains(s, "CapEff:\t00000000a80425fb") || !strings.Contains(s, "Seccomp:\t0") {
				t.Errorf("Docker's default capabilities, no filter:\n%s", s)
			}
			if s := section(p, "mountinfo"); !strings.Contains(s, "/null /proc/keys ") || !strings.Contains(s, "/proc/sys ro,") {
				t.Errorf("masked and read-only paths missing:\n%s", s)
			}
			if s := section(p, "syscalls"); !strings.Contains(s, "unshare -U: 0") {
				t.Errorf("without a filter, unshare of a user namespace fails:\n%s", s)
			}
		}},
		{name: "privileged", mutate: func(s *specs.Spec) {
			setCaps(s, allCaps(t))
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
			s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
			s.Linux.Devices = hostDevices(t)
			for i, m := range s.Mounts {
				if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
					s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
					s.Mounts[i].Options = append(s.Mounts[i].Options, "rw")
				}
			}
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "mountinfo"); !strings.Contains(s, "/ /sys rw,") || strings.Contains(s, "/proc/keys") {
				t.Errorf("/sys not read-write or paths masked:\n%s", s)
			}
			if !strings.Contains(p.host, "a *:* rwm") {
				t.Errorf("devices cgroup:\n%s", p.host)
			}
		}},
		{name: "user", mutate: func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 2000}}
			s.Process.Cwd = "/home/u"
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "cwd"); s != "/home/u" {
				t.Errorf("cwd %q", s)
			}
			if s := section(p, "id"); s != "uid=1000(u) gid=1000(u) groups=10(wheel),2000(extra)" {
				t.Errorf("id %q", s)
			}
			if s := section(p, "env"); !strings.Contains(s, "HOME=/home/u") {
				t.Errorf("env %q", s)
			}
		}},
		{name: "readonly-rootfs", mutate: func(s *specs.Spec) { s.Root.Readonly = true }, check: func(t *testing.T, p *probeResult) {
			if !strings.Contains(section(p, "writable"), "/ ro") {
				t.Errorf("rootfs writable:\n%s", section(p, "writable"))
			}
		}},
		{name: "mounts", mutate: func(s *specs.Spec) {
			s.Root.Readonly = true
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "size=1m"}},
				specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "mode=1777"}},
				specs.Mount{Destination: "/etc/extra", Type: "bind", Source: filepath.Join(hostDir, "file"), Options: []string{"rbind", "ro"}},
				specs.Mount{Destination: "/mnt/rw", Type: "bind", Source: filepath.Join(hostDir, "rw"), Options: []string{"rbind", "rw"}},
				specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: filepath.Join(hostDir, "ro"), Options: []string{"bind", "ro", "nosuid", "nodev"}},
			)
		}, check: func(t *testing.T, p *probeResult) {
			w := section(p, "writable")
			for _, want := range []string{"/ ro", "/tmp rw", "/mnt/rw rw", "/mnt/ro ro"} {
				if !strings.Contains(w, want) {
					t.Errorf("want %q in\n%s", want, w)
				}
			}
			if f := section(p, "files"); !strings.Contains(f, "/etc/extra: host file") || !strings.Contains(f, "/mnt/ro/marker: host folder ro") {
				t.Errorf("bind mounts:\n%s", f)
			}
		}},
		{name: "sysctl-hostname", mutate: func(s *specs.Spec) {
			s.Hostname, s.Domainname = "probe-host", "example.org"
			s.Linux.Sysctl["net.ipv4.ip_forward"] = "1"
			s.Linux.Sysctl["kernel.msgmax"] = "12345"
			s.Linux.Sysctl["kernel.shmmni"] = "1234"
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "sysctl"); !strings.Contains(s, "kernel/msgmax=12345") || !strings.Contains(s, "net/ipv4/ip_forward=1") {
				t.Errorf("sysctls:\n%s", s)
			}
			if s := section(p, "hostname"); s != "probe-host\nprobe-host\nexample.org" {
				t.Errorf("hostname:\n%s", s)
			}
		}},
		{name: "caps", mutate: func(s *specs.Spec) {
			setCaps(s, append(dropCaps(s.Process.Capabilities.Bounding, "CAP_CHOWN", "CAP_NET_RAW", "CAP_SETFCAP"), "CAP_NET_ADMIN", "CAP_SYS_PTRACE"))
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "status"); !strings.Contains(s, "CapEff:\t00000000280c15fa") {
				t.Errorf("caps:\n%s", s)
			}
		}},
		{name: "no-new-privileges", mutate: func(s *specs.Spec) { s.Process.NoNewPrivileges = true }, check: func(t *testing.T, p *probeResult) {
			if !strings.Contains(section(p, "status"), "NoNewPrivs:\t1") {
				t.Errorf("status:\n%s", section(p, "status"))
			}
		}},
		{name: "rlimits", mutate: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 1234, Hard: 2345},
				{Type: "RLIMIT_AS", Soft: 8 << 30, Hard: 16 << 30},
				{Type: "RLIMIT_NPROC", Soft: 777, Hard: 888},
				{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
			}
		}, check: func(t *testing.T, p *probeResult) {
			l := section(p, "limits")
			for _, re := range []string{`Max open files +1234 +2345`, `Max address space +8589934592 +17179869184`, `Max processes +777 +888`} {
				if !regexp.MustCompile(re).MatchString(l) {
					t.Errorf("limits: no %q in\n%s", re, l)
				}
			}
		}},
		{name: "terminal", mutate: func(s *specs.Spec) { s.Process.Terminal = true; s.Process.Env = append(s.Process.Env, "TERM=xterm") }, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "tty"); !strings.Contains(s, "stdin is a tty") || !strings.Contains(s, "/dev/pts/0") {
				t.Errorf("tty:\n%s", s)
			}
		}},
		{name: "no-pivot", opts: func(o *CreateOptions) { o.NoPivot = true }},
		{name: "propagation", mutate: func(s *specs.Spec) {
			s.Linux.RootfsPropagation = "rslave"
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/mnt/rw", Type: "bind", Source: filepath.Join(hostDir, "rw"), Options: []string{"rbind", "rshared"}},
				specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: filepath.Join(hostDir, "ro"), Options: []string{"rbind", "ro", "rprivate", "noexec", "strictatime"}},
				specs.Mount{Destination: "/etc/extra", Type: "bind", Source: filepath.Join(hostDir, "file"), Options: []string{"rbind", "rprivate"}},
			)
		}},
		{name: "rootfs-shared", mutate: func(s *specs.Spec) { s.Linux.RootfsPropagation = "shared" }},
		{name: "rootfs-private", mutate: func(s *specs.Spec) { s.Linux.RootfsPropagation = "rprivate" }},
		{name: "no-capabilities", mutate: func(s *specs.Spec) { s.Process.Capabilities = nil }},
		{name: "no-resources", mutate: func(s *specs.Spec) { s.Linux.Resources = nil }},
		{name: "process-details", mutate: func(s *specs.Spec) {
			umask := uint32(0o027)
			oom := 500
			s.Process.User = specs.User{UID: 4242, GID: 4242, Umask: &umask}
			s.Process.OOMScoreAdj = &oom
			s.Process.Cwd = "/does/not/exist"
			s.Process.Env = append(s.Process.Env, "A=1", "A=2", "HOME=")
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "umask"); s != "0027" {
				t.Errorf("umask %q", s)
			}
			if s := section(p, "oom"); s != "500" {
				t.Errorf("oom_score_adj %q", s)
			}
		}},
		// Images whose /etc/resolv.conf (which Docker binds a file over) is
		// a link to a file that is not there.
		{name: "dangling-link-target", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(hostDir, "file"), Options: []string{"rbind", "rprivate"}})
		}, rootfs: func(t *testing.T, rootfs string) {
			if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(rootfs, "etc/resolv.conf")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "dev-bind", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind", "rslave"}})
			s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		}},
		{name: "terminal-user", mutate: func(s *specs.Spec) {
			s.Process.Terminal = true
			s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 111}
			s.Process.User = specs.User{UID: 1000, GID: 1000}
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "tty"); !strings.Contains(s, "33 111\n1000:5 620") {
				t.Errorf("tty:\n%s", s)
			}
		}},
		{name: "ambient", mutate: func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000}
			s.Process.Capabilities.Inheritable = []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}
			s.Process.Capabilities.Ambient = []string{"CAP_NET_BIND_SERVICE"}
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "status"); !strings.Contains(s, "CapAmb:\t0000000000000400") {
				t.Errorf("ambient:\n%s", s)
			}
		}},
		{name: "special-mounts", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/run/host.sock", Type: "bind", Source: filepath.Join(hostDir, "host.sock"), Options: []string{"rbind"}},
				specs.Mount{Destination: "/mnt/rotmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "size=1m", "mode=0700"}},
			)
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "special"); !strings.Contains(s, "/run/host.sock socket") || !strings.Contains(s, "/mnt/rotmp directory 700") {
				t.Errorf("special:\n%s", s)
			}
		}},
		{name: "devices", mutate: func(s *specs.Spec) {
			mode, uid, gid := os.FileMode(0o600), uint32(1000), uint32(1000)
			s.Linux.Devices = append(s.Linux.Devices,
				specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid},
				specs.LinuxDevice{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200})
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(10)), Minor: ptr(int64(229)), Access: "rwm"},
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(10)), Minor: ptr(int64(200)), Access: "rw"})
		}, check: func(t *testing.T, p *probeResult) {
			if s := section(p, "dev"); !strings.Contains(s, "/dev/fuse character special file 600 1000:1000 a:e5") {
				t.Errorf("dev:\n%s", s)
			}
		}},
		{name: "host-namespaces", ignore: []string{"net"}, mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
				return ns.Type == specs.NetworkNamespace || ns.Type == specs.UTSNamespace || ns.Type == specs.IPCNamespace || ns.Type == specs.PIDNamespace
			})
			s.Hostname = ""
			for k := range s.Linux.Sysctl {
				if strings.HasPrefix(k, "net.") {
					delete(s.Linux.Sysctl, k)
				}
			}
		}, check: func(t *testing.T, p *probeResult) {
			for _, want := range []string{"ns net: host", "ns uts: host", "ns ipc: host", "ns pid: host", "ns mnt: own"} {
				if !strings.Contains(p.host, want) {
					t.Errorf("want %q in\n%s", want, p.host)
				}
			}
		}},
		{name: "proc-uptime", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/uptime", Type: "bind", Source: filepath.Join(hostDir, "uptime"), Options: []string{"bind", "ro"}})
		}, check: func(t *testing.T, p *probeResult) {
			if !strings.Contains(section(p, "files"), "/proc/uptime: bound") {
				t.Errorf("files:\n%s", section(p, "files"))
			}
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			e := newLeanEnv(t, false, v.mutate, probeArgs()...)
			if v.opts != nil {
				v.opts(&e.opts)
			}
			if v.rootfs != nil {
				v.rootfs(t, filepath.Join(e.bundle, "rootfs"))
			}
			lean, _ := equivalent(t, e, nil, v.ignore...)
			if v.check != nil {
				v.check(t, lean)
			}
		})
	}

	// Docker's seccomp profile, loaded by the lean init from the program
	// the shim compiled once (internal/runtime/seccompbpf).
	for _, v := range []struct {
		name   string
		mutate func(*specs.Spec)
	}{
		{"seccomp-default", nil},
		{"seccomp-no-new-privileges", func(s *specs.Spec) { s.Process.NoNewPrivileges = true }},
		{"seccomp-user", func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}}
		}},
		{"seccomp-privileged", func(s *specs.Spec) { setCaps(s, allCaps(t)) }},
		// A profile from before close_range(2) (Linux 5.9), as runtime-tools
		// v0.9.0's default: libcontainer runs under it, so must the lean init.
		{"seccomp-without-close_range", func(s *specs.Spec) {
			for i := range s.Linux.Seccomp.Syscalls {
				s.Linux.Seccomp.Syscalls[i].Names = slices.DeleteFunc(s.Linux.Seccomp.Syscalls[i].Names, func(n string) bool { return n == "close_range" })
			}
		}},
	} {
		t.Run(v.name, func(t *testing.T) {
			e := newLeanEnv(t, true, v.mutate, probeArgs()...)
			if _, err := runProbe(t, e, InitLean, nil); err != nil && strings.Contains(err.Error(), "no precompiled seccomp filter") {
				t.Skip("no precompiled seccomp filter in this build (internal/runtime/seccompbpf): ", err)
			}
			lean, _ := equivalent(t, e, nil)
			if s := section(lean, "status"); !strings.Contains(s, "Seccomp:\t2") || !strings.Contains(s, "Seccomp_filters:\t1") {
				t.Errorf("Docker's profile is not the one filter:\n%s", s)
			}
			if v.name != "seccomp-privileged" && !strings.Contains(section(lean, "syscalls"), "unshare -U: 1") {
				t.Errorf("unshare allowed without CAP_SYS_ADMIN:\n%s", section(lean, "syscalls"))
			}
		})
	}

	t.Run("joined-namespaces", func(t *testing.T) {
		pe := newLeanEnv(t, false, nil, "sleep", "100")
		pid := startSleeper(t, pe, InitLean)
		e := newLeanEnv(t, false, func(s *specs.Spec) {
			for i, ns := range s.Linux.Namespaces {
				switch ns.Type {
				case specs.NetworkNamespace:
					s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", pid)
				case specs.IPCNamespace:
					s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/ipc", pid)
				}
			}
		}, probeArgs()...)
		lean, _ := equivalent(t, e, map[string]int{"sleeper": pid})
		for _, want := range []string{"ns net: joined sleeper", "ns ipc: joined sleeper", "ns uts: own", "ns mnt: own", "ns pid: own"} {
			if !strings.Contains(lean.host, want) {
				t.Errorf("want %q in\n%s", want, lean.host)
			}
		}
	})

	t.Run("proc-refused", func(t *testing.T) {
		e := newLeanEnv(t, false, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/version", Type: "bind", Source: filepath.Join(hostDir, "uptime"), Options: []string{"bind", "ro"}})
		}, "true")
		refusedTheSame(t, e, `"/proc/version" is inside /proc`)
	})

	// The same through a link in the rootfs, which only the inits
	// resolve: the init's own check refuses it, as libcontainer's does,
	// and lets /proc/uptime through.
	t.Run("proc-via-link", func(t *testing.T) {
		e := newLeanEnv(t, false, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/p/version", Type: "bind", Source: filepath.Join(hostDir, "uptime"), Options: []string{"bind", "ro"}})
		}, "true")
		if err := os.Symlink("/proc", filepath.Join(e.bundle, "rootfs/mnt/p")); err != nil {
			t.Fatal(err)
		}
		refusedTheSame(t, e, `/proc/version" cannot be mounted because it is inside /proc`)
	})
	t.Run("proc-uptime-via-link", func(t *testing.T) {
		e := newLeanEnv(t, false, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/p/uptime", Type: "bind", Source: filepath.Join(hostDir, "uptime"), Options: []string{"bind", "ro"}})
		}, probeArgs()...)
		if err := os.Symlink("/proc", filepath.Join(e.bundle, "rootfs/mnt/p")); err != nil {
			t.Fatal(err)
		}
		lean, _ := equivalent(t, e, nil)
		if !strings.Contains(section(lean, "files"), "/proc/uptime: bound") {
			t.Errorf("files:\n%s", section(lean, "files"))
		}
	})
}

// refusedTheSame checks that both inits refuse e's bundle at create with
// an error that says want.
func refusedTheSame(t *testing.T, e *env, want string) {
	t.Helper()
	for _, init := range []string{InitLean, InitLibcontainer} {
		id := newID(t) + "-" + init
		steps, err := createTraced(t, e, id, init, e.opts)
		if err == nil {
			t.Errorf("%s: created; trace:\n%s", init, strings.Join(steps, "\n"))
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", init, err, want)
		}
	}
}

// startSleeper creates and starts a container of e (which sleeps) with
// init and returns its pid.
func startSleeper(t *testing.T, e *env, init string) int {
	t.Helper()
	id := newID(t) + "-sleeper"
	steps, err := createTraced(t, e, id, init, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if init == InitLean {
		wantLean(t, steps)
	}
	if err := e.rt.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return wantStatus(t, e.rt, id, StatusRunning).Pid
}

// TestLeanFallback: what the lean init does not support goes to
// libcontainer's, and the trace says why; asked for the lean init, such a
// config is refused as invalid.
func TestLeanFallback(t *testing.T) {
	e := newLeanEnv(t, false, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}}
	}, "true")
	steps, err := createTraced(t, e, newID(t), InitAuto, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(steps, "libcontainer init: hooks") || slices.Contains(steps, "lean init") {
		t.Errorf("trace of a config with hooks:\n%s", strings.Join(steps, "\n"))
	}
	_, err = createTraced(t, e, newID(t), InitLean, e.opts)
	if !errdefs.IsInvalidArgument(err) || err == nil || !strings.Contains(err.Error(), "the lean init cannot create this container: hooks") {
		t.Errorf("lean init with hooks: %v; want InvalidArgument naming hooks", err)
	}

	userns := newLeanEnv(t, false, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	}, "true")
	_, err = createTraced(t, userns, newID(t), InitLean, userns.opts)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(fmt.Sprint(err), "user namespace") {
		t.Errorf("lean init with a user namespace: %v; want InvalidArgument naming it", err)
	}
}

// TestLeanStartErrors: a process that cannot be started fails the same way
// under both inits (the daemon maps the words to docker run's 126/127).
func TestLeanStartErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*specs.Spec)
	}{
		{"not-found", func(s *specs.Spec) { s.Process.Args = []string{"no-such-command"} }},
		{"not-found-abs", func(s *specs.Spec) { s.Process.Args = []string{"/no/such/file"} }},
		{"not-executable", func(s *specs.Spec) { s.Process.Args = []string{"/etc/passwd"} }},
		{"directory", func(s *specs.Spec) { s.Process.Args = []string{"/etc"} }},
		{"cwd-is-a-file", func(s *specs.Spec) { s.Process.Cwd = "/etc/passwd" }},
		{"bad-env", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "NOEQUALS") }},
		{"no-path", func(s *specs.Spec) { s.Process.Env = []string{"A=1"}; s.Process.Args = []string{"sh", "-c", "exit 3"} }},
		// Found and executable, but not a program: execve fails after the
		// init said it was ready.
		{"exec-format", func(s *specs.Spec) { s.Process.Args = []string{"/bin/not-a-program"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newLeanEnv(t, false, c.mutate, "true")
			if err := os.WriteFile(filepath.Join(e.bundle, "rootfs/bin/not-a-program"), []byte("\x01\x02garbage"), 0o755); err != nil {
				t.Fatal(err)
			}
			var errs [2]string
			for i, init := range []string{InitLean, InitLibcontainer} {
				id := newID(t) + "-" + init
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				opts := e.opts
				opts.Stdout, opts.Stderr = w, w
				steps, err := createTraced(t, e, id, init, opts)
				w.Close()
				if err != nil && init == InitLean {
					// Refused by the init as it set itself up, mostly
					// after the shim handed the create to hull-monitor,
					// which undid it (monitor.FinishCreate): nothing of
					// it is left, before any delete.
					assertNothingLeft(t, e.rt, id)
				}
				if err == nil {
					err = e.rt.Start(context.Background(), id)
				}
				if err == nil {
					code, werr := e.rt.Wait(context.Background(), id)
					out, _ := io.ReadAll(r)
					err = fmt.Errorf("ran: exit %d, %v, output %q", code, werr, out)
				}
				r.Close()
				errs[i] = strings.ReplaceAll(err.Error(), id, "ID")
				t.Logf("%s: %s (trace %q)", init, errs[i], steps)
			}
			if errs[0] != errs[1] {
				t.Errorf("lean: %s\nlibcontainer: %s", errs[0], errs[1])
			}
		})
	}

	// Where libcontainer's text names its own paths, the two cannot be
	// the same word for word; the words the daemon classifies by, and so
	// the class (invalid or not, docker run's exit code), must be.
	for _, c := range []struct {
		name, want string
		mutate     func(*specs.Spec)
	}{
		{"bad-sysctl", "failed to write sysctl kernel.shmmax", func(s *specs.Spec) { s.Linux.Sysctl["kernel.shmmax"] = "abc" }},
		{"unknown-sysctl", "no such file or directory", func(s *specs.Spec) { s.Linux.Sysctl["net.ipv4.no_such_sysctl"] = "1" }},
		{"folder-onto-file", "not a directory", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/passwd", Type: "bind", Source: t.TempDir(), Options: []string{"rbind"}})
		}},
		{"file-onto-folder", "not a directory", func(s *specs.Spec) {
			f := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc", Type: "bind", Source: f, Options: []string{"rbind"}})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newLeanEnv(t, false, c.mutate, "true")
			var class [2]string
			for i, init := range []string{InitLean, InitLibcontainer} {
				_, err := createTraced(t, e, newID(t)+"-"+init, init, e.opts)
				var se *StartError
				code := -1
				if errors.As(err, &se) {
					code = se.ExitCode
				}
				class[i] = fmt.Sprintf("invalid %v, exit %d", errdefs.IsInvalidArgument(err), code)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: %v; want %q in it", init, err, c.want)
				}
			}
			if class[0] != class[1] {
				t.Errorf("lean: %s; libcontainer: %s", class[0], class[1])
			}
		})
	}
}

// TestLeanExecEquivalence: a process exec'd into a container the lean init
// created (libcontainer's exec, from the state the lean path wrote) sees
// what one exec'd into a libcontainer-created container sees: namespaces,
// cgroups, capabilities, the seccomp filter, mounts, limits.
func TestLeanExecEquivalence(t *testing.T) {
	ctx := context.Background()
	for _, seccomp := range []bool{false, true} {
		t.Run(fmt.Sprintf("seccomp-%v", seccomp), func(t *testing.T) {
			e := newLeanEnv(t, seccomp, func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1234, Hard: 2345}}
				s.Process.NoNewPrivileges = true
			}, "sleep", "1000")
			var res [2]*probeResult
			for i, init := range []string{InitLean, InitLibcontainer} {
				id := newID(t) + "-" + init
				steps, err := createTraced(t, e, id, init, e.opts)
				if err != nil {
					t.Fatal(err)
				}
				if init == InitLean {
					wantLean(t, steps)
				}
				if err := e.rt.Start(ctx, id); err != nil {
					t.Fatal(err)
				}
				spec := readSpec(t, e.bundle)
				proc := *spec.Process
				proc.Args = probeArgs()
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				p, err := e.rt.Exec(ctx, id, &proc, ExecOptions{Stdout: w, Stderr: w})
				w.Close()
				if err != nil {
					r.Close()
					t.Fatal(err)
				}
				out, _ := io.ReadAll(r)
				r.Close()
				code, err := p.Wait(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pid := wantStatus(t, e.rt, id, StatusRunning).Pid
				res[i] = &probeResult{id: id, steps: steps, out: string(out), exitCode: code, host: hostView(t, pid, nil)}
			}
			compareProbes(t, res[0], res[1])
			if seccomp && !strings.Contains(section(res[0], "status"), "Seccomp:\t2") {
				t.Errorf("exec'd process without the filter:\n%s", section(res[0], "status"))
			}
		})
	}
}

// TestLeanHandoffToMonitor: a detached lean create without a console is
// handed to hull-monitor as soon as the init has its go — the monitor's
// start overlaps the init's setup — and the monitor finishes it: it says
// when the init was ready, and serves start and wait.
func TestLeanHandoffToMonitor(t *testing.T) {
	e := newLeanEnv(t, false, nil, "sh", "-c", "exit 7")
	id := newID(t)
	steps, err := createTraced(t, e, id, InitLean, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	wantLean(t, steps)
	i := slices.Index(steps, "lean init: handed to hull-monitor")
	if i < 0 || !slices.Contains(steps[i:], "lean init: ready") || steps[len(steps)-1] != "container created (init waiting to start)" {
		t.Fatalf("not handed to hull-monitor, or not finished by it; trace:\n%s", strings.Join(steps, "\n"))
	}
	if err := e.rt.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if code, err := e.rt.Wait(context.Background(), id); err != nil || code != 7 {
		t.Fatalf("wait: %d, %v; want 7", code, err)
	}
}
