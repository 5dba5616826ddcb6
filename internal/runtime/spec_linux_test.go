package runtime

import (
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestSpecLinuxGolden holds the default document for a cgroup v1 host in
// two golden files: the spec without its seccomp section, which is the same
// on every architecture, and the resolved seccomp section, which depends on
// the architecture (and on kernels older than 4.8) and is held for amd64.
func TestSpecLinuxGolden(t *testing.T) {
	s := linuxSpec(SpecOptions{}, v1Host)
	checkGolden(t, "default_spec.golden.json", s)
	if goruntime.GOARCH != "amd64" {
		t.Skipf("GOARCH=%s: the seccomp golden file is amd64's", goruntime.GOARCH)
	}
	if err := withDefaultSeccomp(s); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "default_seccomp_amd64.golden.json", s.Linux.Seccomp)
}

func TestSpecSeccomp(t *testing.T) {
	s, err := DefaultSpec(SpecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc := s.Linux.Seccomp
	if sc == nil {
		t.Fatal("no seccomp section")
	}
	if sc.DefaultAction != specs.ActErrno || sc.DefaultErrnoRet == nil || *sc.DefaultErrnoRet != uint(unix.EPERM) {
		t.Errorf("defaultAction %s errno %v, want SCMP_ACT_ERRNO with EPERM", sc.DefaultAction, sc.DefaultErrnoRet)
	}
	if len(sc.Syscalls) < 10 {
		t.Fatalf("only %d syscall rules", len(sc.Syscalls))
	}
	if goruntime.GOARCH == "amd64" && !slices.Contains(sc.Architectures, specs.ArchX86_64) {
		t.Errorf("architectures %v lack SCMP_ARCH_X86_64", sc.Architectures)
	}
	allowed := func(name string) bool {
		for _, r := range sc.Syscalls {
			if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
				return true
			}
		}
		return false
	}
	for _, name := range []string{"read", "write", "execve", "ptrace"} {
		if !allowed(name) {
			t.Errorf("%s is not allowed", name)
		}
	}
	// clone3 fails with ENOSYS, not EPERM, so that the C library falls back
	// to clone, whose namespace flags the profile can inspect.
	if i := slices.IndexFunc(sc.Syscalls, func(r specs.LinuxSyscall) bool { return slices.Equal(r.Names, []string{"clone3"}) }); i < 0 ||
		sc.Syscalls[i].Action != specs.ActErrno || sc.Syscalls[i].ErrnoRet == nil || *sc.Syscalls[i].ErrnoRet != uint(unix.ENOSYS) {
		t.Error("clone3 does not fail with ENOSYS")
	}
	// The mount family and bpf are allowed only with CAP_SYS_ADMIN, which
	// the default capabilities lack; the profile must have followed them.
	for _, name := range []string{"mount", "umount2", "unshare", "bpf", "init_module", "reboot"} {
		if allowed(name) {
			t.Errorf("%s is allowed without CAP_SYS_ADMIN", name)
		}
	}
	s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
	if err := withDefaultSeccomp(s); err != nil {
		t.Fatal(err)
	}
	sc = s.Linux.Seccomp
	if !allowed("mount") {
		t.Error("mount is not allowed with CAP_SYS_ADMIN")
	}

	s, err = DefaultSpec(SpecOptions{NoSeccomp: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Linux.Seccomp != nil {
		t.Error("NoSeccomp left a seccomp section")
	}
}

// TestSpecKnownCapabilities holds the name table to the kernel's numbering
// in x/sys/unix, and reports a running kernel that knows more.
func TestSpecKnownCapabilities(t *testing.T) {
	if got, want := len(knownCapabilities), unix.CAP_LAST_CAP+1; got != want {
		t.Errorf("%d known capabilities, x/sys/unix defines %d", got, want)
	}
	for name, n := range map[string]int{
		"CAP_CHOWN": unix.CAP_CHOWN, "CAP_KILL": unix.CAP_KILL, "CAP_NET_RAW": unix.CAP_NET_RAW,
		"CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_MKNOD": unix.CAP_MKNOD, "CAP_SETFCAP": unix.CAP_SETFCAP,
		"CAP_AUDIT_READ": unix.CAP_AUDIT_READ, "CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
	} {
		if n >= len(knownCapabilities) || knownCapabilities[n] != name {
			t.Errorf("%s is number %d in the kernel, not in the table", name, n)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if last >= len(knownCapabilities) {
			t.Errorf("the running kernel knows capabilities up to %d, the table only to %d: add the new names", last, len(knownCapabilities)-1)
		}
	}
}

// TestSpecProbeHost reads this host. It checks only what holds on any
// Linux host: the cgroup answer agrees with the file system type.
func TestSpecProbeHost(t *testing.T) {
	h := probeHost()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Skipf("no /sys/fs/cgroup: %v", err)
	}
	if h.cgroup2 != (st.Type == unix.CGROUP2_SUPER_MAGIC) {
		t.Errorf("cgroup2 = %v for file system type %#x", h.cgroup2, st.Type)
	}
	t.Logf("host: %+v", h)
}
