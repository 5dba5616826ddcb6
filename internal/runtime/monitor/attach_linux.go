package monitor

// Attach: the shim holds a container's streams (pipes, or the pty master)
// and any number of clients attach to them: each gets the output from the
// moment it attaches, and its stdin goes to the container's. The json-file
// log takes whole lines; attached clients take bytes as they come, so a
// prompt without a newline shows at once.

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// pump copies one output stream of the container to the attached clients
// and, line by line, to the log, until the stream ends.
func (m *Monitor) pump(stream string, r io.Reader) { Pump(stream, r, &m.attached) }

// attach serves an attach request: the files sent are the client's stdin
// (read here, written to the container's), stdout and stderr (written
// here). It answers at once, then once more, with Done, when the
// container's output has ended; the client detaches by closing c. The
// first answer says how far the log was written when the client joined:
// what is before that offset the client gets from the log, the rest here.
func (m *Monitor) attach(c *net.UnixConn, req shimapi.Request, files []*os.File) {
	fds := map[string]*os.File{}
	for i, name := range req.Fds {
		if i < len(files) {
			fds[name] = files[i]
		}
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if !m.holdsStdio {
		shimapi.Send(c, shimapi.ErrorResponse(fmt.Errorf("attach to %s: its stdio belongs to the process that created it (it was created with the caller's streams or a console socket): %w", m.cfg.ID, errdefs.ErrConflict)))
		return
	}
	x := NewSubscriber(orNil(fds["stdout"]), orNil(fds["stderr"]))
	if m.cfg.Terminal && x.Stderr == nil {
		x.Stderr = x.Stdout
	}
	select {
	case <-m.outputEnded:
		// Nothing more will come: say so at once.
		shimapi.Send(c, shimapi.Response{})
		shimapi.Send(c, shimapi.Response{Done: true})
		return
	default:
	}
	at := m.attached.Add(x)
	defer m.attached.Remove(x)
	if in := fds["stdin"]; in != nil && m.stdin != nil {
		go func() {
			io.Copy(m.stdin, in)
			if m.cfg.StdinOnce {
				m.closeStdin()
			}
		}()
	}
	resp := shimapi.Response{}
	if at >= 0 {
		resp.LogOffset = &at
	}
	if err := shimapi.Send(c, resp); err != nil {
		return
	}
	closed := make(chan struct{})
	go func() {
		// The client sends nothing more; a read ends when it detaches.
		var r shimapi.Response
		shimapi.Recv(c, &r)
		close(closed)
	}()
	select {
	case <-m.outputEnded:
		shimapi.Send(c, shimapi.Response{Done: true})
	case <-x.Gone:
	case <-closed:
	}
}
