package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/errdefs"
)

// DiskUsageBackend serves docker system df and the prunes.
type DiskUsageBackend interface {
	LayersSize(ctx context.Context) (int64, error)
	ContainerListSize(ctx context.Context, all bool, limit int, filters map[string][]string) ([]container.Summary, error)
	VolumesUsage(ctx context.Context) ([]volume.Volume, error)
	ContainersPrune(ctx context.Context) (container.PruneReport, error)
	ImagesPrune(ctx context.Context, all bool) (image.PruneReport, error)
}

func (s *Server) diskUsageRoutes() {
	s.handle("GET /system/df", s.systemDiskUsage)
	s.handle("POST /containers/prune", func(w http.ResponseWriter, r *http.Request) error {
		rep, err := s.backend.ContainersPrune(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
	s.handle("POST /images/prune", func(w http.ResponseWriter, r *http.Request) error {
		filters, err := parseFilters(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		all := false
		for k, v := range filters {
			switch k {
			case "dangling":
				for _, x := range v {
					if x == "false" || x == "0" {
						all = true
					}
				}
			default:
				return fmt.Errorf("invalid filter %q: %w", k, errdefs.ErrInvalidArgument)
			}
		}
		rep, err := s.backend.ImagesPrune(r.Context(), all)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
	// No build cache yet: nothing to prune, as a daemon without one would
	// answer.
	s.handle("POST /build/prune", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, json.RawMessage(`{"CachesDeleted":[],"SpaceReclaimed":0}`))
	})
}
