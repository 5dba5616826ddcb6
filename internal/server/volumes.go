package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/errdefs"
)

// VolumeBackend serves /volumes.
type VolumeBackend interface {
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	VolumeInspect(ctx context.Context, name string) (volume.Volume, error)
	VolumeList(ctx context.Context) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	// VolumesPrune removes unused anonymous volumes, or every unused one
	// with all.
	VolumesPrune(ctx context.Context, all bool) (volume.PruneReport, error)
}

func (s *Server) volumeRoutes() {
	s.handle("GET /volumes", func(w http.ResponseWriter, r *http.Request) error {
		l, err := s.backend.VolumeList(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, l)
	})
	s.handle("POST /volumes/create", func(w http.ResponseWriter, r *http.Request) error {
		var req volume.CreateRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		v, err := s.backend.VolumeCreate(r.Context(), req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, v)
	})
	s.handle("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request) error {
		all := false
		if f := r.URL.Query().Get("filters"); f != "" {
			var filters map[string]map[string]bool
			if err := json.Unmarshal([]byte(f), &filters); err != nil {
				return fmt.Errorf("filters: %v: %w", err, errdefs.ErrInvalidArgument)
			}
			for k := range filters {
				if k != "all" {
					return fmt.Errorf("invalid filter %q: %w", k, errdefs.ErrInvalidArgument)
				}
			}
			all = filters["all"]["true"] || filters["all"]["1"]
		}
		rep, err := s.backend.VolumesPrune(r.Context(), all)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
	s.handle("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.backend.VolumeInspect(r.Context(), r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	})
	s.handle("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.backend.VolumeRemove(r.Context(), r.PathValue("name"), boolValue(r, "force")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
