package daemon

// What the CRI's streaming sessions (internal/cri's streaming.go) need
// beyond the Docker API's exec and attach: a terminal's stdin without
// detach keys. kubectl and crictl have none — ctrl-p reaches the shell at
// once (its history), ctrl-p ctrl-q does not end the session — where the
// docker CLI's sessions end on ctrl-p ctrl-q.

import (
	"context"
	"io"
)

// ExecRawStdin makes the exec's terminal take its stdin as is, without
// detach keys. Preconditions: the exec has not started.
func (d *Daemon) ExecRawStdin(execID string) error {
	e, err := d.exec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.rawStdin = true
	e.mu.Unlock()
	return nil
}

// ContainerAttachRaw attaches the streams to the running container's
// stdio (no log replay) until its output ends or ctx is done, a
// terminal's stdin without detach keys.
func (d *Daemon) ContainerAttachRaw(ctx context.Context, ref string, stdin io.Reader, stdout, stderr io.Writer) error {
	return d.containerAttach(ctx, ref, false, true, "", false, stdin, stdout, stderr, func() {})
}
