// Package build is hull's image builder: BuildKit embedded in the daemon
// (issue 14). Its control service, session manager, cache and history
// databases and worker live under <data-root>/buildkit and are created on
// the first request that needs them, so a daemon that never builds pays
// nothing for them but the binary's size.
package build

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// Builder is the embedded BuildKit. The zero value is not usable: make it
// with New.
type Builder struct {
	root, execRoot string
	// DaemonSocket is the daemon's private API socket: hull's images for
	// FROM, the built image loaded and tagged there (the moby exporter),
	// networks for RUN steps. Set it before the first request.
	DaemonSocket string
	// Registries are the daemon's registry mirrors and insecure
	// registries, which BuildKit's own pulls (FROM) follow too. Set it
	// before the first request.
	Registries Registries

	// mu guards the lazy start: kit is the running BuildKit once started.
	mu  sync.Mutex
	kit *buildkit
}

// New returns a builder keeping its state under root (the daemon's
// <data-root>/buildkit) and its build containers' runtime state under
// execRoot (<exec-root>/buildkit). Nothing is opened or started until the
// first request.
func New(root, execRoot string) *Builder {
	return &Builder{root: root, execRoot: execRoot}
}

// started returns the running BuildKit, starting it on the first call.
// A start that fails is tried again by the next request.
func (b *Builder) started(ctx context.Context) (*buildkit, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kit != nil {
		return b.kit, nil
	}
	k, err := startBuildKit(ctx, b.root, b.execRoot, b.DaemonSocket, b.Registries)
	if err != nil {
		return nil, err
	}
	b.kit = k
	return k, nil
}

// Start starts BuildKit if it is not running yet.
func (b *Builder) Start(ctx context.Context) error {
	_, err := b.started(ctx)
	return err
}

// ServeGRPC serves BuildKit's control API (moby.buildkit.v1.Control) as
// HTTP/2 gRPC on conn, a connection the caller has already upgraded to
// h2c; it returns when the client hangs up.
func (b *Builder) ServeGRPC(ctx context.Context, conn net.Conn) error {
	k, err := b.started(ctx)
	if err != nil {
		conn.Close()
		return err
	}
	return k.serveGRPC(ctx, conn)
}

// HandleSession takes a BuildKit session (POST /session): the session
// manager hijacks the request's connection, answers 101 and serves the
// client's session services over it until the session ends.
func (b *Builder) HandleSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	k, err := b.started(ctx)
	if err != nil {
		return err
	}
	return k.handleSession(ctx, w, r)
}

// Close stops BuildKit if it was started.
func (b *Builder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kit == nil {
		return nil
	}
	err := b.kit.close()
	b.kit = nil
	return err
}

// handleBuild serves a relayed POST /build (see legacy_linux.go).
func (b *Builder) handleBuild(w http.ResponseWriter, r *http.Request) error {
	k, err := b.started(r.Context())
	if err != nil {
		return err
	}
	return k.build(w, r)
}
