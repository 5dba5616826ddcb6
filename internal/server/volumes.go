package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// VolumeBackend serves /volumes.
type VolumeBackend interface {
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error)
	VolumeInspect(ctx context.Context, name string) (volume.Volume, error)
	// VolumeList lists the volumes the filters select.
	VolumeList(ctx context.Context, f filters.Args) (volume.ListResponse, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	// VolumesPrune removes the unused volumes the filters select (from
	// API 1.42 anonymous ones unless all=true), or nothing when a filter
	// is wrong.
	VolumesPrune(ctx context.Context, f filters.Args) (volume.PruneReport, error)
}

func (s *Server) volumeRoutes() {
	s.handle("GET /volumes", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return filters.Errorf(errdefs.ErrInvalidArgument, "error reading volume filters: %s", err)
		}
		l, err := s.backend.VolumeList(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, l)
	})
	s.handle("POST /volumes/create", func(w http.ResponseWriter, r *http.Request) error {
		var req volume.CreateRequest
		if err := decodeVolumeCreate(w, r, &req); err != nil {
			return err
		}
		v, err := s.backend.VolumeCreate(r.Context(), req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, v)
	})
	s.handle("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		rep, err := s.backend.VolumesPrune(r.Context(), f)
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

// decodeVolumeCreate reads volume create's body as dockerd's route does:
// the decoder's own words for bad JSON, and its text for an empty body.
func decodeVolumeCreate(w http.ResponseWriter, r *http.Request, req *volume.CreateRequest) error {
	if err := checkJSONType(r); err != nil {
		return err
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody)).Decode(req)
	var maxErr *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "got EOF while reading request body")
	case errors.As(err, &maxErr):
		return fmt.Errorf("the request body is over %d bytes: %w", maxJSONBody, errdefs.ErrLimit)
	}
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
}
