package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/filters"
)

// DiskUsageBackend serves docker system df and the prunes.
type DiskUsageBackend interface {
	LayersSize(ctx context.Context) (int64, error)
	ContainerListSize(ctx context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error)
	VolumesUsage(ctx context.Context) ([]volume.Volume, error)
	// ContainersPrune and ImagesPrune remove what the filters select, or
	// nothing when a filter is wrong.
	ContainersPrune(ctx context.Context, f filters.Args) (container.PruneReport, error)
	ImagesPrune(ctx context.Context, f filters.Args) (image.PruneReport, error)
}

func (s *Server) diskUsageRoutes() {
	s.handle("GET /system/df", s.systemDiskUsage)
	s.handle("POST /containers/prune", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		rep, err := s.backend.ContainersPrune(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
	s.handle("POST /images/prune", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		rep, err := s.backend.ImagesPrune(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
	// No build cache yet: nothing to prune, as a daemon without one would
	// answer (CachesDeleted null, as moby's prune of an empty cache), once
	// the request passes the builder's checks.
	s.handle("POST /build/prune", func(w http.ResponseWriter, r *http.Request) error {
		if err := checkBuildPrune(r); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, json.RawMessage(`{"CachesDeleted":null,"SpaceReclaimed":0}`))
	})
}
