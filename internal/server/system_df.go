package server

import (
	"context"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/errdefs"
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
	// BuildCachePruned tells a prune of the build cache that reclaimed
	// that many bytes (a builder prune event).
	BuildCachePruned(ctx context.Context, reclaimed uint64)
}

// BuildCacheBackend is the builder's state behind system df's build
// cache, POST /build/prune and POST /build/cancel (the cancel is relayed
// to it through BuildKitBackend).
type BuildCacheBackend interface {
	// BuildState tells whether the builder has kept state (it has run
	// once: it may have a cache) and whether it runs now.
	BuildState() (kept, running bool)
	// BuildCacheUsage lists BuildKit's cache records; the caller has
	// started the builder.
	BuildCacheUsage(ctx context.Context) ([]build.CacheRecord, error)
	// BuildCachePrune prunes BuildKit's cache with its prune request q
	// (see buildPruneQuery); the caller has started the builder.
	BuildCachePrune(ctx context.Context, q url.Values) (build.CachePruneReport, error)
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
	// BuildKit's cache, pruned in hull-buildkit (its control service's
	// Prune, as moby's builder prunes it): the request is checked and
	// turned into BuildKit's prune request here. A builder that has never
	// run has no cache: nothing to prune (CachesDeleted null, as moby's
	// prune of an empty cache), and nothing is started. Either way the
	// daemon tells it as a builder prune event, as dockerd.
	s.handle("POST /build/prune", func(w http.ResponseWriter, r *http.Request) error {
		q, err := buildPruneQuery(r)
		if err != nil {
			return err
		}
		var rep build.CachePruneReport
		if s.BuildKit != nil && s.BuildCache != nil {
			if kept, _ := s.BuildCache.BuildState(); kept {
				if err := s.BuildKit.Start(r.Context()); err != nil {
					return err
				}
				if rep, err = s.BuildCache.BuildCachePrune(r.Context(), q); err != nil {
					return pruneError(err)
				}
			}
		}
		s.backend.BuildCachePruned(r.Context(), rep.SpaceReclaimed)
		return writeJSON(w, http.StatusOK, rep)
	})
	// A legacy build's cancel (the id its POST /build gave as buildid),
	// answered as dockerd: 200 and no body, whether a build had the id
	// or not. A builder that is not running runs no build.
	s.handle("POST /build/cancel", func(w http.ResponseWriter, r *http.Request) error {
		id := r.URL.Query().Get("id")
		if id == "" {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "build ID not provided")
		}
		if s.BuildKit != nil && s.BuildCache != nil {
			if _, running := s.BuildCache.BuildState(); running {
				return s.BuildKit.Relay(w, relayed(r, url.Values{"id": {id}}))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

// relayed is r, without a body, with query q, for the builder.
func relayed(r *http.Request, q url.Values) *http.Request {
	out := r.Clone(r.Context())
	out.URL.RawQuery = q.Encode()
	out.Body, out.ContentLength = http.NoBody, 0
	out.Header.Del("Content-Length")
	return out
}
