package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

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

// BuildBackend serves POST /build until hull has its builder (issue 14).
type BuildBackend interface {
	// ImageBuild reads the build context r (a tar, plain or compressed)
	// as dockerd's classic builder reads it and finds its Dockerfile
	// (dockerfile, "Dockerfile" when empty); with no builder to run it,
	// it then refuses as not implemented.
	ImageBuild(ctx context.Context, r io.Reader, dockerfile string) error
}

// errNoBuilder is what a build hull cannot run answers.
func errNoBuilder(what string) error {
	return fmt.Errorf("%s: hull has no image builder yet (BuildKit comes with issue 14): %w", what, errdefs.ErrNotImplemented)
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
			return errNoBuilder("build with BuildKit")
		default:
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid version %q", v)
		}
		if q.Get("remote") != "" {
			return errNoBuilder("build from a remote context")
		}
		return s.backend.ImageBuild(r.Context(), r.Body, q.Get("dockerfile"))
	})
	// A BuildKit session, as dockerd's session manager takes it: the
	// request must ask to upgrade to h2c; hull has no builder to serve
	// the session then.
	s.handle("POST /session", func(w http.ResponseWriter, r *http.Request) error {
		switch proto := r.Header.Get("Upgrade"); proto {
		case "":
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "no upgrade proto in request")
		case "h2c":
			return errNoBuilder("build session")
		default:
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "protocol %s not supported", proto)
		}
	})
}
