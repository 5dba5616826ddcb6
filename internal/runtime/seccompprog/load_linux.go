package seccompprog

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
// (runtime.LockOSThread) and that thread is the one that calls execve;
// every system call it makes after Load goes through the filter. Without no_new_privs the kernel wants CAP_SYS_ADMIN in the thread's
// effective set, so libcontainer's init loads at two different moments
// (standard_init_linux.go): with process.noNewPrivileges, after the
// switch to the container's user and capabilities, just before closing
// its sync pipe and waiting on the exec fifo; without it (Docker's
// default), before that switch — setgroups, setresuid, capset and the
// exec fifo's open then go through the filter, and a profile that refuses
// them makes the container fail to start. An init that wants the same
// behaviour loads at the same moments.
//
// Load needs neither cgo nor libseccomp.
func (p *Program) Load() error {
	if err := p.Check(); err != nil {
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
