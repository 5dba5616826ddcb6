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
	"sync"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// attacher is one attached client's output files.
type attacher struct {
	stdout, stderr *os.File
	gone           chan struct{} // closed when a write to it failed
}

// attachers are the clients attached to a container's output.
type attachers struct {
	mu   sync.Mutex
	subs map[*attacher]struct{}
}

func (a *attachers) add(x *attacher) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.subs == nil {
		a.subs = map[*attacher]struct{}{}
	}
	a.subs[x] = struct{}{}
}

func (a *attachers) remove(x *attacher) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.subs, x)
}

// write gives b to every attached client. A client that cannot take it
// (it went away) is dropped. A slow client slows the container's output,
// as with Docker's attach.
func (a *attachers) write(stream string, b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for x := range a.subs {
		w := x.stdout
		if stream == "stderr" {
			w = x.stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(b); err != nil {
			delete(a.subs, x)
			close(x.gone)
		}
	}
}

// pump copies one output stream of the container to the attached clients
// and, line by line, to the log, until the stream ends.
func (m *Monitor) pump(stream string, r io.Reader, log *JSONLog) {
	Pump(stream, r, log, func(b []byte) { m.attached.write(stream, b) })
}

// attach serves an attach request: the files sent are the client's stdin
// (read here, written to the container's), stdout and stderr (written
// here). It answers at once, then once more, with Done, when the
// container's output has ended; the client detaches by closing c.
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
	x := &attacher{stdout: fds["stdout"], stderr: fds["stderr"], gone: make(chan struct{})}
	if m.cfg.Terminal && x.stderr == nil {
		x.stderr = x.stdout
	}
	select {
	case <-m.outputEnded:
		// Nothing more will come: say so at once.
		shimapi.Send(c, shimapi.Response{})
		shimapi.Send(c, shimapi.Response{Done: true})
		return
	default:
	}
	m.attached.add(x)
	defer m.attached.remove(x)
	if in := fds["stdin"]; in != nil && m.stdin != nil {
		go func() {
			io.Copy(m.stdin, in)
			if m.cfg.StdinOnce {
				m.closeStdin()
			}
		}()
	}
	if err := shimapi.Send(c, shimapi.Response{}); err != nil {
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
	case <-x.gone:
	case <-closed:
	}
}
