// Package buildproc runs hull's image builder (internal/build, BuildKit)
// in a process of its own, hull-buildkit, started on the first /grpc or
// /session request, and relays those requests to it. BuildKit and what it
// brings (gRPC, containerd, OpenTelemetry) thus stay out of the daemon's
// binary: a daemon that never builds is as small as one without a
// builder, and a builder that crashes does not take the daemon with it.
package buildproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"path/filepath"
	"sync"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// Proc is the builder process. Its methods are safe for concurrent use.
type Proc struct {
	root, execRoot string
	// Exe is the hull-buildkit binary; default: beside os.Executable(),
	// then $PATH.
	Exe string
	// DaemonSocket is the daemon's private API socket, which
	// hull-buildkit calls back on: images for FROM, the built image to
	// load and tag, networks for RUN steps.
	DaemonSocket string
	// Registries are the daemon's registry mirrors and insecure
	// registries as JSON (internal/build's Registries), given to
	// hull-buildkit; empty for none.
	Registries string
	// IdleTimeout stops hull-buildkit once no request has been relayed
	// to it for this long, so that a daemon goes back to its idle size
	// after its builds; 0 keeps it running.
	IdleTimeout time.Duration
	// Exited, when set, is called each time hull-buildkit has exited
	// (stopped, idle or crashed), before it can be started again: the
	// daemon releases the build sandboxes it held.
	Exited func()

	// mu guards the process, the relays under way and the idle timer.
	mu     sync.Mutex
	proc   *process
	active int
	idle   *time.Timer
}

// New returns the builder whose state is under root (<data-root>/buildkit)
// and whose sockets and build containers' state are under execRoot
// (<exec-root>/buildkit). Nothing starts until the first request.
func New(root, execRoot string) *Proc {
	return &Proc{root: root, execRoot: execRoot, IdleTimeout: defaultIdleTimeout}
}

// defaultIdleTimeout is how long hull-buildkit outlives its last request.
const defaultIdleTimeout = 10 * time.Minute

// begin counts a relay under way: hull-buildkit is not idle.
func (p *Proc) begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active++
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
}

// end counts a relay finished; the last one arms the idle timer.
func (p *Proc) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if p.active > 0 || p.IdleTimeout <= 0 || p.proc == nil {
		return
	}
	proc := p.proc
	var t *time.Timer
	t = time.AfterFunc(p.IdleTimeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.idle != t || p.active > 0 || p.proc != proc {
			return // a request came in meanwhile
		}
		p.idle = nil
		p.proc = nil
		proc.stop()
	})
	p.idle = t
}

func (p *Proc) grpcSocket() string { return filepath.Join(p.execRoot, "grpc.sock") }
func (p *Proc) httpSocket() string { return filepath.Join(p.execRoot, "http.sock") }

// Start starts hull-buildkit unless it runs, and returns once it answers.
func (p *Proc) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle != nil {
		// A request is coming: no stop until it has been relayed.
		p.idle.Stop()
		p.idle = nil
	}
	if p.proc != nil && !p.proc.exited() {
		return nil
	}
	proc, err := p.spawn(ctx)
	if err != nil {
		return err
	}
	p.proc = proc
	return nil
}

// ServeGRPC relays conn, already upgraded to h2c, to hull-buildkit's
// control API until either side hangs up.
func (p *Proc) ServeGRPC(ctx context.Context, conn net.Conn) error {
	p.begin()
	defer p.end()
	defer conn.Close()
	c, err := net.Dial("unix", p.grpcSocket())
	if err != nil {
		return fmt.Errorf("BuildKit's control API: %w", errdefs.ErrUnavailable)
	}
	splice(conn, c)
	return nil
}

// HandleSession hijacks the request's connection and relays the request
// and then the connection to hull-buildkit's session manager, which
// answers the 101 and serves the session.
func (p *Proc) HandleSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	p.begin()
	defer p.end()
	c, err := net.Dial("unix", p.httpSocket())
	if err != nil {
		return fmt.Errorf("BuildKit's session manager: %v: %w", err, errdefs.ErrUnavailable)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		c.Close()
		return fmt.Errorf("build session: the connection cannot be hijacked: %w", errdefs.ErrNotImplemented)
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		c.Close()
		return fmt.Errorf("build session: hijack: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{})
	if err := r.Write(c); err != nil {
		c.Close()
		return nil // the answer can no longer be an error: the connection is ours
	}
	var from io.Reader = conn
	if n := rw.Reader.Buffered(); n > 0 {
		from = io.MultiReader(io.LimitReader(rw.Reader, int64(n)), conn)
	}
	spliceReader(conn, from, c)
	return nil
}

// Relay forwards an HTTP request (POST /build, /build/prune, …) to
// hull-buildkit's HTTP socket and streams its answer back, flushing as it
// comes; a client that hangs up cancels the request there.
func (p *Proc) Relay(w http.ResponseWriter, r *http.Request) error {
	p.begin()
	defer p.end()
	sock := p.httpSocket()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "hull-buildkit"
			pr.Out.Host = "hull-buildkit"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			DisableKeepAlives: true,
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client is gone
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"message": "hull-buildkit: " + err.Error()})
		},
	}
	rp.ServeHTTP(w, r)
	return nil
}

// Close stops hull-buildkit if it runs.
func (p *Proc) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
	if p.proc == nil {
		return nil
	}
	err := p.proc.stop()
	p.proc = nil
	return err
}

// splice copies both ways between a and b until one side ends, then
// closes both.
func splice(a, b net.Conn) { spliceReader(a, a, b) }

func spliceReader(a net.Conn, fromA io.Reader, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(b, fromA)
		if cw, ok := b.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(a, b)
		if cw, ok := a.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	a.Close()
	b.Close()
}
