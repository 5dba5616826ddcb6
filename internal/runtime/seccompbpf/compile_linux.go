//go:build linux && cgo && seccomp

package seccompbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/seccompprog"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ErrNotify is returned for a profile with SCMP_ACT_NOTIFY: its filter
// needs libcontainer's init, which hands the listener to a seccomp agent.
// The caller falls back to libcontainer.
var ErrNotify = fmt.Errorf("seccomp profile with SCMP_ACT_NOTIFY: %w", errdefs.ErrNotImplemented)

// compiles counts Compile's runs that reached libseccomp, for tests.
var compiles atomic.Int64

// Compile builds the program libcontainer's init (runc v1.5.2,
// libcontainer/seccomp.InitSeccomp) would load for c, the configuration
// specconv.SetupSeccomp makes: the same libseccomp filter (default action,
// architectures, attributes, one rule per syscall with its conditions and
// errno, unknown syscall names ignored, a rule whose action is the default
// one skipped), exported as BPF, behind an ENOSYS stub with libcontainer's
// behaviour (see enosys_linux.go), with the seccomp(2) flags libcontainer
// would pass. Where libcontainer's init would fail, Compile fails; a
// profile that needs the notify listener is ErrNotify.
func Compile(c *configs.Seccomp) (*seccompprog.Program, error) {
	if c == nil {
		return nil, errors.New("compile seccomp profile: no profile")
	}
	if usesNotify(c) {
		return nil, ErrNotify
	}
	compiles.Add(1)
	defAct, err := scmpAction(c.DefaultAction, c.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: default action: %w", err)
	}
	f, err := libseccomp.NewFilter(defAct)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: create filter: %w", err)
	}
	defer f.Release()
	for _, name := range c.Architectures {
		a, err := libseccomp.GetArchFromString(name)
		if err != nil {
			return nil, fmt.Errorf("compile seccomp profile: architecture %q: %w", name, err)
		}
		if err := f.AddArch(a); err != nil {
			return nil, fmt.Errorf("compile seccomp profile: add architecture %s: %w", name, err)
		}
	}
	for _, flag := range c.Flags {
		if err := setFlag(f, flag); err != nil {
			return nil, fmt.Errorf("compile seccomp profile: %w", err)
		}
	}
	// libcontainer asks for libseccomp's binary tree past 32 rules (and
	// goes on without it when libseccomp cannot).
	if len(c.Syscalls) > 32 {
		_ = f.SetOptimize(2)
	}
	// no_new_privs is the runtime's business, not the filter's.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("compile seccomp profile: clear no_new_privs attribute: %w", err)
	}
	for _, call := range c.Syscalls {
		if err := addRule(f, call, defAct); err != nil {
			return nil, fmt.Errorf("compile seccomp profile: %w", err)
		}
	}
	body, err := exportBPF(f)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	var stub []unix.SockFilter
	if needsStub(c) {
		archs, native, err := stubArchs(c)
		if err != nil {
			return nil, fmt.Errorf("compile seccomp profile: %w", err)
		}
		if stub, err = enosysStub(archs, native); err != nil {
			return nil, fmt.Errorf("compile seccomp profile: %w", err)
		}
	}
	flags, nnp, err := filterFlags(f)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	p := &seccompprog.Program{Filter: append(stub, body...), Flags: flags, NoNewPrivs: nnp}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("compile seccomp profile: %w", err)
	}
	return p, nil
}

func usesNotify(c *configs.Seccomp) bool {
	if c.DefaultAction == configs.Notify {
		return true
	}
	for _, call := range c.Syscalls {
		if call != nil && call.Action == configs.Notify {
			return true
		}
	}
	return false
}

// scmpAction maps libcontainer's action to libseccomp's as libcontainer
// does: KILL is KILL_THREAD, ERRNO and TRACE default to EPERM, an errno
// is cut to 16 bits.
func scmpAction(act configs.Action, errno *uint) (libseccomp.ScmpAction, error) {
	withErrno := func(a libseccomp.ScmpAction) libseccomp.ScmpAction {
		if errno != nil {
			return a.SetReturnCode(int16(*errno))
		}
		return a.SetReturnCode(int16(unix.EPERM))
	}
	switch act {
	case configs.Kill, configs.KillThread:
		return libseccomp.ActKillThread, nil
	case configs.KillProcess:
		return libseccomp.ActKillProcess, nil
	case configs.Errno:
		return withErrno(libseccomp.ActErrno), nil
	case configs.Trace:
		return withErrno(libseccomp.ActTrace), nil
	case configs.Trap:
		return libseccomp.ActTrap, nil
	case configs.Allow:
		return libseccomp.ActAllow, nil
	case configs.Log:
		return libseccomp.ActLog, nil
	case configs.Notify:
		return libseccomp.ActNotify, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("seccomp action %d: %w", act, errdefs.ErrInvalidArgument)
}

func scmpCompare(op configs.Operator) (libseccomp.ScmpCompareOp, error) {
	switch op {
	case configs.EqualTo:
		return libseccomp.CompareEqual, nil
	case configs.NotEqualTo:
		return libseccomp.CompareNotEqual, nil
	case configs.GreaterThan:
		return libseccomp.CompareGreater, nil
	case configs.GreaterThanOrEqualTo:
		return libseccomp.CompareGreaterEqual, nil
	case configs.LessThan:
		return libseccomp.CompareLess, nil
	case configs.LessThanOrEqualTo:
		return libseccomp.CompareLessOrEqual, nil
	case configs.MaskEqualTo:
		return libseccomp.CompareMaskedEqual, nil
	}
	return libseccomp.CompareInvalid, fmt.Errorf("seccomp comparison %d: %w", op, errdefs.ErrInvalidArgument)
}

// setFlag sets the filter attribute behind an OCI seccomp flag, as
// libcontainer does; TSYNC is accepted and means nothing (only the init's
// thread is left after execve).
func setFlag(f *libseccomp.ScmpFilter, flag specs.LinuxSeccompFlag) error {
	var err error
	switch flag {
	case "SECCOMP_FILTER_FLAG_TSYNC":
		return nil
	case specs.LinuxSeccompFlagLog:
		err = f.SetLogBit(true)
	case specs.LinuxSeccompFlagSpecAllow:
		err = f.SetSSB(true)
	case specs.LinuxSeccompFlagWaitKillableRecv:
		err = f.SetWaitKill(true)
	default:
		return fmt.Errorf("seccomp flag %s: %w", flag, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return fmt.Errorf("seccomp flag %s: %w", flag, err)
	}
	return nil
}

// addRule adds call's rule as libcontainer's matchCall does. Conditions
// on different arguments go into one rule (all must hold); when two
// conditions test the same argument, each becomes a rule of its own (any
// may hold), libseccomp's older behaviour that runc keeps.
func addRule(f *libseccomp.ScmpFilter, call *configs.Syscall, defAct libseccomp.ScmpAction) error {
	if call == nil {
		return errors.New("a seccomp rule is nil")
	}
	if call.Name == "" {
		return errors.New("a seccomp rule has no syscall name")
	}
	act, err := scmpAction(call.Action, call.ErrnoRet)
	if err != nil {
		return fmt.Errorf("rule for %s: %w", call.Name, err)
	}
	if act == defAct {
		return nil
	}
	nr, err := libseccomp.GetSyscallFromName(call.Name)
	if err != nil {
		// Not a syscall of this libseccomp and architecture: ignored,
		// as libcontainer ignores it.
		return nil
	}
	if len(call.Args) == 0 {
		if err := f.AddRule(nr, act); err != nil {
			return fmt.Errorf("rule for %s: %w", call.Name, err)
		}
		return nil
	}
	conds := make([]libseccomp.ScmpCondition, 0, len(call.Args))
	perArg := make(map[uint]int)
	shared := false
	for _, a := range call.Args {
		if a == nil {
			return fmt.Errorf("rule for %s: a condition is nil", call.Name)
		}
		op, err := scmpCompare(a.Op)
		if err != nil {
			return fmt.Errorf("rule for %s: %w", call.Name, err)
		}
		cond, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		if err != nil {
			return fmt.Errorf("rule for %s: %w", call.Name, err)
		}
		perArg[a.Index]++
		shared = shared || perArg[a.Index] > 1
		conds = append(conds, cond)
	}
	if !shared {
		if err := f.AddRuleConditional(nr, act, conds); err != nil {
			return fmt.Errorf("rule for %s: %w", call.Name, err)
		}
		return nil
	}
	for _, cond := range conds {
		if err := f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{cond}); err != nil {
			return fmt.Errorf("rule for %s: %w", call.Name, err)
		}
	}
	return nil
}

// exportBPF is libseccomp's program for f, through a memfd.
func exportBPF(f *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	fd, err := unix.MemfdCreate("seccompbpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("export seccomp BPF: memfd: %w", err)
	}
	file := os.NewFile(uintptr(fd), "seccompbpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("export seccomp BPF: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("export seccomp BPF: %w", err)
	}
	b, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("export seccomp BPF: %w", err)
	}
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("export seccomp BPF: %d bytes is not a program", len(b))
	}
	// libseccomp writes struct sock_filter in the host's byte order.
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		in := b[8*i:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(in),
			Jt:   in[2],
			Jf:   in[3],
			K:    binary.NativeEndian.Uint32(in[4:]),
		}
	}
	return prog, nil
}

// needsStub reports whether libcontainer adds its ENOSYS stub: not when
// the default action lets calls through (ALLOW, LOG, or TRACE, whose
// tracer handles new calls itself), and not when the default errno equals
// SCMP_ACT_ERRNO(ENOSYS) — runc's test compares the errno with the action
// value, so this holds only for an errno of 0x50026, which libseccomp cuts
// to ENOSYS anyway; kept so that the two programs agree.
func needsStub(c *configs.Seccomp) bool {
	if c.DefaultErrnoRet != nil && *c.DefaultErrnoRet == uint(retENOSYS) {
		return false
	}
	switch c.DefaultAction {
	case configs.Allow, configs.Log, configs.Trace:
		return false
	}
	return true
}

// stubArchs finds, for the stub, the newest system call the profile names
// on each architecture it covers plus the native one (Docker's profiles on
// some hosts leave the native one out), as libcontainer's
// findLastSyscalls: every rule counts, whatever its action, and names
// unknown on an architecture are skipped.
func stubArchs(c *configs.Seccomp) ([]enosysArch, uint32, error) {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, 0, fmt.Errorf("native architecture: %w", err)
	}
	scmp := []libseccomp.ScmpArch{native}
	for _, name := range c.Architectures {
		a, err := libseccomp.GetArchFromString(name)
		if err != nil {
			return nil, 0, fmt.Errorf("architecture %q: %w", name, err)
		}
		scmp = append(scmp, a)
	}
	nativeAudit, err := auditArch(native)
	if err != nil {
		return nil, 0, err
	}
	byAudit := make(map[uint32]*enosysArch)
	var order []uint32
	for _, a := range scmp {
		audit, err := auditArch(a)
		if err != nil {
			return nil, 0, err
		}
		var newest libseccomp.ScmpSyscall
		for _, call := range c.Syscalls {
			nr, err := libseccomp.GetSyscallFromNameByArch(call.Name, a)
			if err == nil && nr > newest {
				newest = nr
			}
		}
		if newest == 0 {
			continue
		}
		e := byAudit[audit]
		if e == nil {
			e = &enosysArch{audit: audit}
			byAudit[audit] = e
			order = append(order, audit)
		}
		if a == libseccomp.ArchX32 {
			e.x32Max = uint32(newest)
		} else {
			e.max = uint32(newest)
		}
	}
	archs := make([]enosysArch, 0, len(order))
	for _, audit := range order {
		archs = append(archs, *byAudit[audit])
	}
	return archs, nativeAudit, nil
}

// auditArch is the AUDIT_ARCH_* value the kernel puts in seccomp_data for
// a libseccomp architecture; x32 shares x86_64's and sets bit 30 of the
// number instead.
func auditArch(a libseccomp.ScmpArch) (uint32, error) {
	switch a {
	case libseccomp.ArchX86:
		return unix.AUDIT_ARCH_I386, nil
	case libseccomp.ArchAMD64, libseccomp.ArchX32:
		return unix.AUDIT_ARCH_X86_64, nil
	case libseccomp.ArchARM:
		return unix.AUDIT_ARCH_ARM, nil
	case libseccomp.ArchARM64:
		return unix.AUDIT_ARCH_AARCH64, nil
	case libseccomp.ArchMIPS:
		return unix.AUDIT_ARCH_MIPS, nil
	case libseccomp.ArchMIPS64:
		return unix.AUDIT_ARCH_MIPS64, nil
	case libseccomp.ArchMIPS64N32:
		return unix.AUDIT_ARCH_MIPS64N32, nil
	case libseccomp.ArchMIPSEL:
		return unix.AUDIT_ARCH_MIPSEL, nil
	case libseccomp.ArchMIPSEL64:
		return unix.AUDIT_ARCH_MIPSEL64, nil
	case libseccomp.ArchMIPSEL64N32:
		return unix.AUDIT_ARCH_MIPSEL64N32, nil
	case libseccomp.ArchPPC:
		return unix.AUDIT_ARCH_PPC, nil
	case libseccomp.ArchPPC64:
		return unix.AUDIT_ARCH_PPC64, nil
	case libseccomp.ArchPPC64LE:
		return unix.AUDIT_ARCH_PPC64LE, nil
	case libseccomp.ArchS390:
		return unix.AUDIT_ARCH_S390, nil
	case libseccomp.ArchS390X:
		return unix.AUDIT_ARCH_S390X, nil
	case libseccomp.ArchRISCV64:
		return unix.AUDIT_ARCH_RISCV64, nil
	case libseccomp.ArchLOONGARCH64:
		return unix.AUDIT_ARCH_LOONGARCH64, nil
	}
	return 0, fmt.Errorf("architecture %v has no ENOSYS stub: %w", a, errdefs.ErrNotImplemented)
}

// filterFlags are the seccomp(2) flags libcontainer reads back from the
// filter's attributes, each only at the libseccomp API level that knows
// it, and the no_new_privs attribute.
func filterFlags(f *libseccomp.ScmpFilter) (uint, bool, error) {
	api, _ := libseccomp.GetAPI()
	nnp, err := f.GetNoNewPrivsBit()
	if err != nil {
		return 0, false, fmt.Errorf("read no_new_privs attribute: %w", err)
	}
	var flags uint
	for _, attr := range []struct {
		api  uint
		flag uint
		get  func() (bool, error)
	}{
		{3, unix.SECCOMP_FILTER_FLAG_LOG, f.GetLogBit},
		{4, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, f.GetSSB},
		{7, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, f.GetWaitKill},
	} {
		if api < attr.api {
			continue
		}
		on, err := attr.get()
		if err != nil {
			return 0, false, fmt.Errorf("read filter attribute for seccomp flag %#x: %w", attr.flag, err)
		}
		if on {
			flags |= attr.flag
		}
	}
	return flags, nnp, nil
}
