package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/moby/moby/api/types/registry"

	"github.com/hullproject/hull/internal/apiversion"
	"github.com/hullproject/hull/internal/errdefs"
)

// AuthBackend serves POST /auth.
type AuthBackend interface {
	// AuthenticateToRegistry checks the credentials against their
	// registry (docker login), as dockerd does.
	AuthenticateToRegistry(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error)
}

// BuildBackend takes POST /build's context.
type BuildBackend interface {
	// ImageBuild reads the build context r (a tar, plain or compressed)
	// as dockerd's classic builder reads it, refuses it in dockerd's
	// words when its Dockerfile (dockerfile, "Dockerfile" when empty) is
	// missing, and keeps it in a file for the builder: the caller removes
	// the file at path after the build.
	ImageBuild(ctx context.Context, r io.Reader, dockerfile string) (path string, err error)
}

// BuildKitBackend is the embedded BuildKit behind POST /grpc and POST
// /session (issue 14).
type BuildKitBackend interface {
	// Start starts BuildKit if it is not running yet; a daemon starts it
	// on the first request that needs it.
	Start(ctx context.Context) error
	// ServeGRPC serves BuildKit's control API as HTTP/2 gRPC on conn,
	// already upgraded to h2c, until the client hangs up; it owns conn.
	ServeGRPC(ctx context.Context, conn net.Conn) error
	// HandleSession hijacks the request's connection for a BuildKit
	// session (it answers the 101 itself) and serves it until it ends.
	HandleSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error
	// Relay hands an HTTP request to the builder (POST /build with its
	// context in the file that BuildContextHeader names) and streams its
	// answer back.
	Relay(w http.ResponseWriter, r *http.Request) error
}

// BuildContextHeader names, in a POST /build relayed to the builder, the
// file that holds the build's context.
const BuildContextHeader = "X-Hull-Build-Context"

// errNoBuilder is what a daemon without a builder (hull on Windows)
// answers to a build.
func errNoBuilder(what string) error {
	return fmt.Errorf("%s: image builds are not supported on this platform (hull builds images on Linux): %w", what, errdefs.ErrNotImplemented)
}

func (s *Server) buildRoutes() {
	s.handle("POST /auth", func(w http.ResponseWriter, r *http.Request) error {
		// dockerd 20.10 reads the body with the decoder's own words
		// ("EOF" for none).
		var auth registry.AuthConfig
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(&auth); err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return fmt.Errorf("the request body is over %d bytes: %w", maxJSONBody, errdefs.ErrLimit)
			}
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
		}
		ok, err := s.backend.AuthenticateToRegistry(r.Context(), auth)
		if err != nil {
			return err
		}
		if apiversion.Before(r.Context(), "1.52") {
			// IdentityToken is there even when empty, as moby answered it
			// until its API module made it omitempty.
			return writeJSON(w, http.StatusOK, map[string]string{"IdentityToken": ok.IdentityToken, "Status": ok.Status})
		}
		return writeJSON(w, http.StatusOK, ok)
	})
	s.handle("POST /build", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		switch v := q.Get("version"); v {
		case "", "1":
		case "2":
			return fmt.Errorf("build with a BuildKit session (version=2): not supported by hull; build with buildx (docker buildx build, POST /grpc) or version=1: %w", errdefs.ErrNotImplemented)
		default:
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid version %q", v)
		}
		// One build engine: the legacy build runs on BuildKit too, as
		// dockerd's builder-next runs it, with the context read from a
		// file the daemon kept (or from remote, a URL BuildKit fetches).
		if s.BuildKit == nil {
			return errNoBuilder("build")
		}
		out := r.Clone(r.Context())
		out.Header.Del(BuildContextHeader)
		if q.Get("remote") == "" {
			path, err := s.backend.ImageBuild(r.Context(), r.Body, q.Get("dockerfile"))
			if err != nil {
				return err
			}
			defer os.Remove(path)
			out.Header.Set(BuildContextHeader, path)
		}
		out.Body, out.ContentLength = http.NoBody, 0
		out.Header.Del("Content-Length")
		if err := s.BuildKit.Start(r.Context()); err != nil {
			return err
		}
		return s.BuildKit.Relay(w, out)
	})
	// A BuildKit session, as dockerd's session manager takes it: the
	// request must ask to upgrade to h2c; the session manager then
	// hijacks the connection, answers 101 and serves the session on it.
	s.handle("POST /session", func(w http.ResponseWriter, r *http.Request) error {
		if err := checkH2C(r); err != nil {
			return err
		}
		if s.BuildKit == nil {
			return errNoBuilder("build session")
		}
		if err := s.BuildKit.Start(r.Context()); err != nil {
			return err
		}
		return s.BuildKit.HandleSession(r.Context(), w, r)
	})
	// BuildKit's control API (buildx's docker driver), as dockerd's grpc
	// router serves it: Upgrade: h2c, 101, then HTTP/2 gRPC on the
	// hijacked connection, starting with any bytes the server had
	// already read past the request.
	s.handle("POST /grpc", func(w http.ResponseWriter, r *http.Request) error {
		if err := checkH2C(r); err != nil {
			return err
		}
		if s.BuildKit == nil {
			return errNoBuilder("BuildKit's control API")
		}
		// Started before the hijack, so that a start that fails is an
		// answer and not a dropped connection.
		if err := s.BuildKit.Start(r.Context()); err != nil {
			return err
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			return fmt.Errorf("POST /grpc: the connection cannot be hijacked: %w", errdefs.ErrNotImplemented)
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			return fmt.Errorf("POST /grpc: hijack: %w", err)
		}
		conn.SetDeadline(time.Time{})
		resp := &http.Response{StatusCode: http.StatusSwitchingProtocols, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}}
		resp.Header.Set("Connection", "Upgrade")
		resp.Header.Set("Upgrade", "h2c")
		if err := resp.Write(conn); err != nil {
			conn.Close()
			return nil // the client is gone: nobody to answer
		}
		if n := rw.Reader.Buffered(); n > 0 {
			conn = &bufferedConn{Conn: conn, r: io.MultiReader(io.LimitReader(rw.Reader, int64(n)), conn)}
		}
		s.BuildKit.ServeGRPC(r.Context(), conn)
		return nil
	})
}

// checkH2C accepts a request that asks to upgrade to h2c, as dockerd's
// session and grpc routers do, with their words otherwise.
func checkH2C(r *http.Request) error {
	switch proto := r.Header.Get("Upgrade"); proto {
	case "":
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "no upgrade proto in request")
	case "h2c":
		return nil
	default:
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "protocol %s not supported", proto)
	}
}

// bufferedConn is a hijacked connection whose reads first drain what the
// HTTP server had buffered.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
