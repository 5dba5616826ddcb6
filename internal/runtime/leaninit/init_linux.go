package leaninit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/moby/sys/user"
	"github.com/opencontainers/runc/libcontainer/keys"
	"golang.org/x/sys/unix"
)

// ReadSeccomp reads the compiled filter in the file (before pivot_root:
// the file is the host's) and returns what installs it on the calling
// thread. cmd/hull-init sets it (seccompbpf); a config with a filter and
// no reader is an error, never a container without its filter.
var ReadSeccomp func(path string) (install func() error, err error)

// Main is the init. It runs on the main thread, locked to it by the
// caller's init function: namespaces joined, credentials, capabilities,
// no_new_privs and the seccomp filter are the calling thread's, and the
// execve at the end keeps that thread's. It does not return.
func Main() {
	goruntime.LockOSThread()
	// Executed from /proc/self/fd/N, the process would be named "N".
	name := []byte("hull-init\x00")
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
	sync := os.NewFile(SyncFd, "sync")
	prefork := len(os.Args) > 1 && os.Args[1] == PreforkArg
	err := run(sync, prefork)
	// run returns only on failure.
	msg := err.Error()
	if msg == "" || msg == "r" {
		msg = "init failed: " + msg
	}
	if _, werr := sync.Write([]byte(msg)); werr != nil {
		// The shim has had its answer (the init was ready) or is gone:
		// the container's stderr is the one place left, and 255 the
		// status, as libcontainer's init leaves them.
		os.Stderr.WriteString(msg + "\n")
		os.Exit(255)
	}
	os.Exit(1)
}

// readConfig reads the config's length (of which first, when set, is
// the beginning) and the config.
func readConfig(sync *os.File, first []byte) (*Config, error) {
	var n [4]byte
	if _, err := io.ReadFull(sync, n[copy(n[:], first):]); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 64<<20 {
		return nil, fmt.Errorf("read config: %d bytes", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(sync, b); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if cfg.Container == nil || len(cfg.Args) == 0 {
		return nil, errors.New("read config: no container or no args")
	}
	return &cfg, nil
}

// joinable are the namespaces a multi-threaded process may enter, by
// their clone flag.
var joinable = map[int]string{unix.CLONE_NEWNET: "network", unix.CLONE_NEWIPC: "IPC", unix.CLONE_NEWUTS: "UTS"}

func run(sync *os.File, prefork bool) error {
	// 0 in a new pid namespace; a change means the shim died.
	ppid := unix.Getppid()
	var first []byte
	if prefork {
		// Until its config comes the shim may still choose another
		// init: a failure here is no container's, and says nothing.
		if _, err := sync.Write([]byte{'w'}); err != nil {
			os.Exit(1)
		}
		var err error
		if first, err = takeDescriptors(); err != nil {
			os.Exit(1)
		}
	}
	cfg, err := readConfig(sync, first)
	if err != nil {
		return err
	}
	for _, j := range cfg.Join {
		name, ok := joinable[j.Type]
		if !ok {
			return fmt.Errorf("join namespace %#x: not supported by the lean init", j.Type)
		}
		if err := unix.Setns(j.Fd, j.Type); err != nil {
			return fmt.Errorf("join %s namespace: %w", name, err)
		}
		unix.Close(j.Fd)
	}
	if cfg.Unshare != 0 {
		// A pre-forked init's namespaces but pid, made now on this thread,
		// which builds the container and executes its program: the mount
		// table is the host's of this moment, as a fork now would copy it.
		// (The other threads stay where they are; they touch no file, and
		// the execve ends them.)
		if cfg.Unshare&^(unix.CLONE_NEWNS|unix.CLONE_NEWNET|unix.CLONE_NEWIPC|unix.CLONE_NEWUTS) != 0 {
			return fmt.Errorf("unshare %#x: not supported by the lean init", cfg.Unshare)
		}
		if err := unix.Unshare(cfg.Unshare); err != nil {
			return &os.SyscallError{Syscall: "unshare", Err: err}
		}
	}
	// Nothing of the container's runs before the shim has put this
	// process in the container's cgroups.
	var g [1]byte
	if _, err := io.ReadFull(sync, g[:]); err != nil || g[0] != 'g' {
		return fmt.Errorf("wait for the shim: %v", err)
	}
	c := cfg.Container
	var installSeccomp func() error
	if cfg.Seccomp != "" {
		if ReadSeccomp == nil {
			return errors.New("seccomp: this init cannot read a compiled filter")
		}
		if installSeccomp, err = ReadSeccomp(cfg.Seccomp); err != nil {
			return fmt.Errorf("read seccomp filter: %w", err)
		}
	}
	if c.CgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return &os.SyscallError{Syscall: "unshare(CLONE_NEWCGROUP)", Err: err}
		}
	}
	if !c.NoNewKeyring {
		// The host's session keyring stays out of the container.
		id, err := keys.JoinSessionKeyring("_ses." + cfg.ID)
		if err != nil && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("join session keyring: %w", err)
		}
		if err == nil {
			if err := keys.ModKeyringPerm(id, 0xffffffff, 0x80000); err != nil {
				return fmt.Errorf("keyring permissions: %w", err)
			}
		}
	}
	if c.Loopback {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := prepareRootfs(cfg); err != nil {
		return err
	}
	if cfg.Terminal {
		if err := setupConsole(cfg); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	if err := finalizeRootfs(c); err != nil {
		return err
	}
	if c.Hostname != "" {
		if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
			return &os.SyscallError{Syscall: "sethostname", Err: err}
		}
	}
	if c.Domainname != "" {
		if err := unix.Setdomainname([]byte(c.Domainname)); err != nil {
			return &os.SyscallError{Syscall: "setdomainname", Err: err}
		}
	}
	if err := writeSysctls(c.Sysctl); err != nil {
		return err
	}
	for _, p := range c.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("can't make %q read-only: %w", p, err)
		}
	}
	if err := maskPaths(c.MaskPaths); err != nil {
		return err
	}
	// Where libcontainer's parent sets them: once the rootfs is done.
	addressSpace, err := setRlimits(cfg.Rlimits)
	if err != nil {
		return err
	}
	if cfg.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return &os.SyscallError{Syscall: "prctl(SET_NO_NEW_PRIVS)", Err: err}
		}
	}
	// No descriptor of the shim's or of this init's reaches the container
	// (CVE-2024-21626): everything past stdio is closed by the execve.
	// Marked before the seccomp filter goes in, which may not allow
	// close_range (a profile older than Linux 5.9); what is opened after
	// this is close-on-exec anyway.
	if err := closeOnExecFrom(3); err != nil {
		return err
	}
	// Without no_new_privs installing a filter needs CAP_SYS_ADMIN, which
	// the user change below drops: the filter goes in first, as
	// libcontainer does; with no_new_privs it goes in last.
	if installSeccomp != nil && !cfg.NoNewPrivileges {
		if err := installSeccomp(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
	}
	env, err := finalizeNamespace(cfg)
	if err != nil {
		return err
	}
	// The user change cleared the parent death signal; the container
	// still dies with its shim.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return &os.SyscallError{Syscall: "prctl(SET_PDEATHSIG)", Err: err}
	}
	if unix.Getppid() != ppid {
		// The shim died before the signal was armed again: nobody would
		// start or reap this container.
		unix.Kill(unix.Getpid(), unix.SIGKILL)
	}
	name, err := exec.LookPath(cfg.Args[0])
	if err != nil {
		return err
	}
	if installSeccomp != nil && cfg.NoNewPrivileges {
		if err := installSeccomp(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
	}
	if _, err := sync.Write([]byte{'r'}); err != nil {
		return err
	}
	sync.Close()
	// Wait until the container is started: the open blocks until the
	// shim opens the fifo for reading.
	fifo, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(FifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("reopen exec fifo: %w", err)
	}
	if _, err := fifo.Write([]byte("0")); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	fifo.Close()
	unix.Close(FifoFd)
	if addressSpace != nil {
		return execLimited(name, cfg.Args, env, addressSpace)
	}
	if err := unix.Exec(name, cfg.Args, env); err != nil {
		return &os.PathError{Op: "exec", Path: name, Err: err}
	}
	return nil
}

// setRlimits sets the process's resource limits but RLIMIT_AS, which it
// returns: the Go runtime of this init holds more address space than a
// container's limit commonly allows (over 1 GiB of reservations), so that
// limit can only go in with the execve (execLimited). RLIMIT_NOFILE goes
// through syscall.Setrlimit, which also tells Go's exec not to put back
// the limit this init started with.
func setRlimits(limits []Rlimit) (addressSpace *syscall.Rlimit, err error) {
	for _, l := range limits {
		lim := syscall.Rlimit{Cur: l.Soft, Max: l.Hard}
		if l.Type == unix.RLIMIT_AS {
			addressSpace = &lim
			continue
		}
		if err := syscall.Setrlimit(l.Type, &lim); err != nil {
			return nil, fmt.Errorf("set rlimit %d: %w", l.Type, err)
		}
	}
	return addressSpace, nil
}

// execLimited sets RLIMIT_AS and executes name with no Go code in
// between: after the limit, the runtime's next mapping (a span, a thread)
// would fail and crash the init. The arguments are ready before the limit.
// What Go's exec does besides is left out: holding thread creation (the
// init runs on its locked thread, nothing else of it is at work) and
// putting back the RLIMIT_NOFILE the init started with — a container that
// asks for RLIMIT_AS without RLIMIT_NOFILE keeps the init's (the hard
// limit, the soft one a file below it). It returns an error when the limit
// cannot be set; a failed execve ends the init as Main would, status 255
// with the error on the container's stderr.
func execLimited(name string, args, env []string, lim *syscall.Rlimit) error {
	argv0, err := syscall.BytePtrFromString(name)
	if err != nil {
		return &os.PathError{Op: "exec", Path: name, Err: err}
	}
	argv, err := syscall.SlicePtrFromStrings(args)
	if err != nil {
		return &os.PathError{Op: "exec", Path: name, Err: err}
	}
	envv, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return &os.PathError{Op: "exec", Path: name, Err: err}
	}
	prefix := []byte("exec " + name + ": ")
	if _, _, errno := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_AS, uintptr(unsafe.Pointer(lim)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("set rlimit %d: %w", unix.RLIMIT_AS, errno)
	}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	// An errno's text is a constant: nothing here allocates.
	text := errno.Error()
	unix.RawSyscall(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&prefix[0])), uintptr(len(prefix)))
	unix.RawSyscall(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(unsafe.StringData(text))), uintptr(len(text)))
	unix.RawSyscall(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&newline)), 1)
	unix.RawSyscall(unix.SYS_EXIT_GROUP, 255, 0, 0)
	panic("unreachable")
}

var newline byte = '\n'

// closeOnExecFrom marks every descriptor from first on close-on-exec:
// close_range, or one by one from /proc/self/fd on a kernel without it.
func closeOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil || !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		if err != nil {
			return &os.SyscallError{Syscall: "close_range", Err: err}
		}
		return nil
	}
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, d := range des {
		if fd, err := strconv.Atoi(d.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// finalizeNamespace drops to the container's user and capabilities, in
// libcontainer's order, and returns the process's environment.
func finalizeNamespace(cfg *Config) ([]string, error) {
	doChdir := cfg.Cwd != ""
	if doChdir {
		// A cwd only the container's user may enter is entered again
		// after the user change.
		err := unix.Chdir(cfg.Cwd)
		switch {
		case err == nil:
			doChdir = false
		case errors.Is(err, os.ErrPermission):
		default:
			return nil, fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", cfg.Cwd, err)
		}
	}
	env, err := prepareEnv(cfg.Env, cfg.UID)
	if err != nil {
		return nil, err
	}
	w, err := newCaps(cfg.Capabilities)
	if err != nil {
		return nil, err
	}
	if err := w.applyBoundingSet(); err != nil {
		return nil, fmt.Errorf("unable to apply bounding set: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return nil, &os.SyscallError{Syscall: "prctl(SET_KEEPCAPS)", Err: err}
	}
	if err := setupUser(cfg); err != nil {
		return nil, fmt.Errorf("unable to setup user: %w", err)
	}
	if doChdir {
		if err := unix.Chdir(cfg.Cwd); err != nil {
			return nil, fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", cfg.Cwd, err)
		}
	}
	if err := verifyCwd(); err != nil {
		return nil, err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return nil, &os.SyscallError{Syscall: "prctl(SET_KEEPCAPS)", Err: err}
	}
	if err := w.applyCaps(); err != nil {
		return nil, fmt.Errorf("unable to apply caps: %w", err)
	}
	return env, nil
}

// verifyCwd refuses a working directory outside the container's root: a
// descriptor of the host's leaked into the cwd shows as a path the kernel
// cannot reach from this root (CVE-2024-21626).
func verifyCwd() error {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Getcwd(buf)
	if errors.Is(err, unix.ENOENT) {
		return errors.New("current working directory is outside of container mount namespace root -- possible container breakout detected")
	}
	if err != nil {
		return fmt.Errorf("failed to verify if current working directory is safe: %w", err)
	}
	if n < 1 || buf[0] != '/' {
		return fmt.Errorf("current working directory is not absolute -- possible container breakout detected: cwd is %q", string(bytes.TrimRight(buf[:n], "\x00")))
	}
	return nil
}

func setupUser(cfg *Config) error {
	// The stdio the shim handed over belongs to the container's user.
	for fd := range 3 {
		var s unix.Stat_t
		if err := unix.Fstat(fd, &s); err != nil {
			return &os.PathError{Op: "fstat", Path: "fd " + strconv.Itoa(fd), Err: err}
		}
		if int(s.Uid) == cfg.UID || isDevNull(&s) {
			continue
		}
		if err := unix.Fchown(fd, cfg.UID, -1); err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EROFS) {
			return &os.PathError{Op: "fchown", Path: "fd " + strconv.Itoa(fd), Err: err}
		}
	}
	setgroups, err := os.ReadFile("/proc/self/setgroups")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// On this thread only: the execve keeps the calling thread's
	// credentials, and Go's process-wide setgroups, setgid and setuid stop
	// every thread of the runtime and signal each (~0.5 ms here); the
	// others run nothing of the container's before the execve ends them.
	if string(bytes.TrimSpace(setgroups)) != "deny" {
		gids := make([]uint32, len(cfg.AdditionalGroups))
		for i, g := range cfg.AdditionalGroups {
			gids[i] = uint32(g)
		}
		var p unsafe.Pointer
		if len(gids) > 0 {
			p = unsafe.Pointer(&gids[0])
		}
		if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(p), 0); errno != 0 {
			return &os.SyscallError{Syscall: "setgroups", Err: errno}
		}
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETGID, uintptr(cfg.GID), 0, 0); errno != 0 {
		return &os.SyscallError{Syscall: "setgid", Err: errno}
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETUID, uintptr(cfg.UID), 0, 0); errno != 0 {
		return &os.SyscallError{Syscall: "setuid", Err: errno}
	}
	return nil
}

// prepareEnv is the process's environment as libcontainer makes it: the
// last of duplicate keys wins, PATH is what the program is looked up in,
// and HOME comes from the container's /etc/passwd when unset.
func prepareEnv(env []string, uid int) ([]string, error) {
	homeIsSet := false
	out := make([]string, 0, len(env)+1)
	saw := make(map[string]bool, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		eq := strings.IndexByte(kv, '=')
		if eq == -1 {
			return nil, errors.New("invalid environment variable: missing '='")
		}
		if eq == 0 {
			return nil, errors.New("invalid environment variable: name cannot be empty")
		}
		key, val := kv[:eq], kv[eq+1:]
		if saw[key] {
			continue
		}
		saw[key] = true
		if strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("invalid environment variable %q: contains nul byte (\\x00)", key)
		}
		switch key {
		case "PATH":
			if err := os.Setenv("PATH", val); err != nil {
				return nil, err
			}
		case "HOME":
			if val == "" {
				continue
			}
			homeIsSet = true
		}
		out = append(out, kv)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if !homeIsSet {
		home := "/"
		if u, err := user.LookupUid(uid); err == nil {
			home = u.Home
		}
		out = append(out, "HOME="+home)
	}
	return out, nil
}

func writeSysctls(sysctls map[string]string) error {
	for key, value := range sysctls {
		p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("open sysctl %s file: %w", key, err)
		}
		_, err = f.WriteString(value)
		f.Close()
		if err != nil {
			return fmt.Errorf("failed to write sysctl %s = %q: %w", key, value, err)
		}
	}
	return nil
}

// loopbackUp brings up lo, the loopback network libcontainer configures
// in a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return &os.SyscallError{Syscall: "socket", Err: err}
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return &os.SyscallError{Syscall: "ioctl(SIOCGIFFLAGS)", Err: err}
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}
