package runtime

import (
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Init is the container's init (`hull-shim init`, run by libcontainer after
// nsenter has joined the namespaces). It does not return.
//
// libcontainer sets the configured parent death signal only on the process
// it forks, and nsexec's stages fork again, which clears it; but the final
// stage is forked with CLONE_PARENT, so its parent is the shim. Setting the
// signal here, before libcontainer's init reads it (and restores it after
// changing user), makes the container die with its shim.
func Init() {
	ppid := unix.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err == nil && unix.Getppid() != ppid {
		// The shim died before the signal was armed.
		unix.Kill(unix.Getpid(), unix.SIGKILL)
	}
	libcontainer.Init()
}
