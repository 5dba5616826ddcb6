package cli

import (
	"os/exec"
	"syscall"
)

// DefaultHost is where hull daemon listens unless told otherwise.
const DefaultHost = "unix:///run/hull/hull.sock"

// pipeAnswers: no named pipes on Linux.
func pipeAnswers(string) bool { return false }

// detach gives the daemon a session of its own: it outlives the command.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
