package cli

import (
	"os/exec"
	"syscall"
)

// detach gives the daemon a session of its own: it outlives the command.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
