//go:build linux

package seccompprog

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setFilter hands filter to the kernel for the calling thread: with
// prctl(PR_SET_SECCOMP) when flags is 0 (what libcontainer does, and what
// kernels before seccomp(2) know), else with seccomp(2). The raw system
// call keeps the Go scheduler out of the way between the locked thread
// and the kernel. Preconditions: 0 < len(filter) <= 4096.
func setFilter(filter []unix.SockFilter, flags uint) error {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	var errno unix.Errno
	if flags == 0 {
		_, _, errno = unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER,
			uintptr(unsafe.Pointer(&prog)), 0, 0, 0)
	} else {
		_, _, errno = unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags),
			uintptr(unsafe.Pointer(&prog)))
	}
	runtime.KeepAlive(filter)
	runtime.KeepAlive(&prog)
	if errno != 0 {
		return errno
	}
	return nil
}
