package build

// BuildKit's cache and its builds' housekeeping, as the daemon relays
// them to hull-buildkit: POST /build/prune (the control service's Prune,
// with the request the daemon has already checked and translated from
// Docker's filters and sizes), GET /build/du (its DiskUsage, as Docker's
// cache records) and POST /build/cancel (a legacy build's, by the
// buildid it was given).

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/types/build"

	"github.com/hullproject/hull/internal/errdefs"
)

// prune serves POST /build/prune: all, keep-duration (nanoseconds),
// reserved-space, max-used-space, min-free-space and filter (one BuildKit
// filter expression), as BuildKit's PruneRequest has them. It answers
// Docker's prune report: the records deleted and their size.
func (k *buildkit) prune(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	var n [4]int64
	for i, name := range []string{"keep-duration", "reserved-space", "max-used-space", "min-free-space"} {
		if v := q.Get(name); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s expects an integer, got %q", name, v)
			}
			n[i] = x
		}
	}
	opts := []bkclient.PruneOption{bkclient.WithKeepOpt(time.Duration(n[0]), n[1], n[2], n[3])}
	if q.Get("all") != "" {
		opts = append(opts, bkclient.PruneAll)
	}
	if f := q.Get("filter"); f != "" {
		opts = append(opts, bkclient.WithFilter([]string{f}))
	}
	c, err := k.client(ctx)
	if err != nil {
		return err
	}
	// CachesDeleted is null when nothing was, as dockerd answers.
	var report struct {
		CachesDeleted  []string
		SpaceReclaimed int64
	}
	ch := make(chan bkclient.UsageInfo)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			report.CachesDeleted = append(report.CachesDeleted, u.ID)
			report.SpaceReclaimed += u.Size
		}
	}()
	err = c.Prune(ctx, ch, opts...)
	close(ch)
	<-done
	if err != nil {
		return legacyError(err)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(report)
}

// diskUsage serves GET /build/du: BuildKit's cache records as Docker's
// (every field; the daemon shapes them per API version).
func (k *buildkit) diskUsage(w http.ResponseWriter, r *http.Request) error {
	c, err := k.client(r.Context())
	if err != nil {
		return err
	}
	du, err := c.DiskUsage(r.Context())
	if err != nil {
		return legacyError(err)
	}
	records := make([]build.CacheRecord, 0, len(du))
	for _, u := range du {
		records = append(records, build.CacheRecord{
			ID:          u.ID,
			Parents:     u.Parents,
			Type:        string(u.RecordType),
			Description: u.Description,
			InUse:       u.InUse,
			Shared:      u.Shared,
			Size:        u.Size,
			CreatedAt:   u.CreatedAt,
			LastUsedAt:  u.LastUsedAt,
			UsageCount:  u.UsageCount,
		})
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(records)
}

// cancel serves POST /build/cancel?id=: it cancels the legacy builds
// running with that buildid, if any, as dockerd (no answer either way).
func (k *buildkit) cancel(w http.ResponseWriter, r *http.Request) error {
	k.running.cancel(r.URL.Query().Get("id"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return nil
}

// solves are the legacy builds running, by the buildid their POST /build
// gave (the solve's Ref). The zero value is ready.
type solves struct {
	mu      sync.Mutex
	cancels map[string]map[*context.CancelFunc]struct{}
}

// add registers the solve whose context cancel ends under id, until the
// returned function is called. An empty id registers nothing.
func (s *solves) add(id string, cancel context.CancelFunc) func() {
	if id == "" {
		return func() {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancels == nil {
		s.cancels = map[string]map[*context.CancelFunc]struct{}{}
	}
	if s.cancels[id] == nil {
		s.cancels[id] = map[*context.CancelFunc]struct{}{}
	}
	key := &cancel
	s.cancels[id][key] = struct{}{}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.cancels[id], key)
		if len(s.cancels[id]) == 0 {
			delete(s.cancels, id)
		}
	}
}

// cancel cancels every solve registered under id.
func (s *solves) cancel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.cancels[id] {
		(*c)()
	}
}
