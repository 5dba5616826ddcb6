package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/hullproject/hull/internal/daemon"
	"github.com/hullproject/hull/internal/errdefs"
)

// builderAPI is the daemon's private API for hull-buildkit, on a socket
// only root reaches (<exec-root>/buildkit/daemon.sock): the Engine API
// itself — hull-buildkit reads the images a build starts FROM and loads
// and tags the image it built through it — and routes of hull's own under
// /_hull/ that the public API does not have: POST /_hull/build/sandbox
// makes a RUN step's network compartment on the default bridge (201,
// {"Id", "Path", "IPAddress", "Gateway"}), DELETE
// /_hull/build/sandbox/{id} releases it (204; 404 when there is none).
type builderAPI struct {
	sock string
	srv  *http.Server
}

// startBuilderAPI serves api and the private routes on the builder's
// socket; nil on a platform without the builder.
func startBuilderAPI(ctx context.Context, execRoot string, api http.Handler, d *daemon.Daemon) (*builderAPI, error) {
	if goruntime.GOOS != "linux" {
		return nil, nil
	}
	dir := filepath.Join(execRoot, "buildkit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("the builder's API: %w", err)
	}
	sock := filepath.Join(dir, "daemon.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the builder's API: %w", err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("the builder's API: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("the builder's API: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	// A network compartment on the default bridge for a RUN step in the
	// default network mode (internal/build's bridge provider).
	mux.HandleFunc("POST /_hull/build/sandbox", func(w http.ResponseWriter, r *http.Request) {
		sb, err := d.CreateBuildSandbox(r.Context())
		if err != nil {
			writePrivateError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(sb)
	})
	mux.HandleFunc("DELETE /_hull/build/sandbox/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := d.RemoveBuildSandbox(r.Context(), r.PathValue("id")); err != nil {
			writePrivateError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	b := &builderAPI{sock: sock, srv: &http.Server{Handler: mux,
		BaseContext: func(net.Listener) context.Context { return daemon.BuilderContext(ctx) }}}
	go func() {
		if err := b.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("the builder's API", "error", err)
		}
	}()
	return b, nil
}

// writePrivateError answers err on a private route as the Engine API
// answers its errors: the kind's status and {"message": …}.
func writePrivateError(w http.ResponseWriter, r *http.Request, err error) {
	code := errdefs.HTTPStatus(err)
	if code >= 500 {
		slog.ErrorContext(r.Context(), "the builder's API", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": errdefs.Message(err)})
}

// close stops serving and removes the socket.
func (b *builderAPI) close() {
	if b == nil {
		return
	}
	b.srv.Close()
	os.Remove(b.sock)
}
