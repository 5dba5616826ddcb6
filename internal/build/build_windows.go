package build

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/hullproject/hull/internal/errdefs"
)

// buildkit is never started on Windows: hull builds Linux images only on
// Linux.
type buildkit struct{}

func startBuildKit(context.Context, string, string, string, Registries) (*buildkit, error) {
	return nil, fmt.Errorf("build: BuildKit is not supported on this platform (hull builds on Linux only): %w", errdefs.ErrNotImplemented)
}

func (*buildkit) serveGRPC(context.Context, net.Conn) error { return nil }

func (*buildkit) handleSession(context.Context, http.ResponseWriter, *http.Request) error { return nil }

func (*buildkit) close() error { return nil }

func (*buildkit) build(http.ResponseWriter, *http.Request) error { return nil }
