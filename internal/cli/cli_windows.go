package cli

import (
	"os/exec"
	"syscall"
	"time"

	"github.com/Microsoft/go-winio"
)

// DefaultHost is where hull daemon listens unless told otherwise: its
// named pipe, as dockerd's is npipe:////./pipe/docker_engine.
const DefaultHost = "npipe:////./pipe/hull_engine"

// pipeAnswers reports whether a daemon listens on the named pipe path
// (\\.\pipe\NAME).
func pipeAnswers(path string) bool {
	timeout := time.Second
	c, err := winio.DialPipe(path, &timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// detach starts the daemon in a process group of its own.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}
