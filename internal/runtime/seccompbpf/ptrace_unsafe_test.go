//go:build linux

package seccompbpf_test

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadedFilter reads the seccomp filter thread tid runs under with
// ptrace(PTRACE_SECCOMP_GET_FILTER) (CONFIG_CHECKPOINT_RESTORE, root), and
// the flags PTRACE_SECCOMP_GET_METADATA reports for it (the kernel keeps
// only SECCOMP_FILTER_FLAG_LOG there). The thread is seized, interrupted,
// read and detached; it must have exactly one filter.
func loadedFilter(tid int) ([]unix.SockFilter, uint64, error) {
	// A tracee belongs to the thread that seized it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(tid); err != nil {
		return nil, 0, fmt.Errorf("PTRACE_SEIZE %d: %w", tid, err)
	}
	defer unix.PtraceDetach(tid)
	if err := unix.PtraceInterrupt(tid); err != nil {
		return nil, 0, fmt.Errorf("PTRACE_INTERRUPT %d: %w", tid, err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
		return nil, 0, fmt.Errorf("wait for %d to stop: %w", tid, err)
	}
	if !ws.Stopped() {
		return nil, 0, fmt.Errorf("thread %d did not stop: status %#x", tid, ws)
	}
	n, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(tid), 0, 0, 0, 0)
	if errno != 0 {
		return nil, 0, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER %d: %w", tid, errno)
	}
	prog := make([]unix.SockFilter, n)
	if n > 0 {
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(tid), 0,
			uintptr(unsafe.Pointer(&prog[0])), 0, 0); errno != 0 {
			return nil, 0, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER %d: %w", tid, errno)
		}
	}
	// A second filter (index 1) would mean this one was not alone.
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(tid), 1, 0, 0, 0); errno != unix.ENOENT {
		return nil, 0, fmt.Errorf("thread %d has more than one filter (%v)", tid, errno)
	}
	md := struct{ FilterOff, Flags uint64 }{}
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_METADATA, uintptr(tid),
		unsafe.Sizeof(md), uintptr(unsafe.Pointer(&md)), 0, 0); errno != 0 {
		return nil, 0, fmt.Errorf("PTRACE_SECCOMP_GET_METADATA %d: %w", tid, errno)
	}
	return prog, md.Flags, nil
}
