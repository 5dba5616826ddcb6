package seccompbpf

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Load installs p on the calling thread, as libcontainer's init loads the
// same profile: no_new_privs first when p.NoNewPrivs, then seccomp(2)
// SECCOMP_SET_MODE_FILTER with p.Flags, or prctl(PR_SET_SECCOMP) when
// there are no flags. Like libcontainer it does not use
// SECCOMP_FILTER_FLAG_TSYNC: only this thread is filtered, and after
// execve only this thread is left.
//
// Preconditions: the calling goroutine is locked to its thread
// (runtime.LockOSThread) and that thread is the one that calls execve; the
// thread has no_new_privs set or CAP_SYS_ADMIN (so, as libcontainer does,
// a container without no_new_privs loads its filter before it drops its
// capabilities); nothing between Load and execve makes a system call the
// filter refuses.
//
// Load needs neither cgo nor libseccomp.
func (p *Program) Load() error {
	if err := p.check(); err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	if p.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("load seccomp filter: set no_new_privs: %w", err)
		}
	}
	if err := setFilter(p.Filter, p.Flags); err != nil {
		if p.Flags == 0 {
			return fmt.Errorf("load seccomp filter: prctl(PR_SET_SECCOMP): %w", err)
		}
		return fmt.Errorf("load seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER, %#x): %w", p.Flags, err)
	}
	return nil
}
