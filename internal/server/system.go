package server

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/system"
)

// SystemBackend answers /version and /info.
type SystemBackend interface {
	SystemVersion(ctx context.Context) (system.VersionResponse, error)
	SystemInfo(ctx context.Context) (system.Info, error)
}

func (s *Server) systemRoutes() {
	ping := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
		w.Header().Set("Pragma", "no-cache")
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Length", "0")
			return nil
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.Write([]byte("OK"))
		return err
	}
	s.handle("GET /_ping", ping)
	s.handle("HEAD /_ping", ping)
	s.handle("GET /version", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.backend.SystemVersion(r.Context())
		if err != nil {
			return err
		}
		v.APIVersion, v.MinAPIVersion, v.Os = APIVersion, MinAPIVersion, s.OSType
		if v.Version == "" {
			v.Version = Version
		}
		return writeJSON(w, http.StatusOK, v)
	})
	s.handle("GET /info", func(w http.ResponseWriter, r *http.Request) error {
		info, err := s.backend.SystemInfo(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, info)
	})
}
