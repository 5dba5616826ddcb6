package server

import (
	"context"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// EventsBackend serves /events.
type EventsBackend interface {
	// Events sends the kept events from since to until (both zero: none
	// of them), then new ones until until (zero: until ctx ends); the
	// filters are dockerd's.
	Events(ctx context.Context, since, until time.Time, f filters.Args, emit func(events.Message) error) error
}

func (s *Server) eventRoutes() {
	s.handle("GET /events", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		legacy := filters.IsLegacy(requestVersion(r))
		since, err := eventTime(q.Get("since"), "since", legacy)
		if err != nil {
			return err
		}
		until, err := eventTime(q.Get("until"), "until", legacy)
		if err != nil {
			return err
		}
		if !until.IsZero() && until.Before(since) {
			return filters.Errorf(errdefs.ErrInvalidArgument, "`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until"))
		}
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		ct, encode := eventsEncoder(r, w)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
		s.backend.Events(r.Context(), since, until, f, func(m events.Message) error {
			if err := encode(m); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		})
		return nil
	})
}

// eventTime reads /events' since or until: Unix seconds with an optional
// fraction; empty is no bound (zero), "0" the epoch.
func eventTime(v, name string, legacy bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := filters.ParseUnix(v, legacy)
	if err != nil && !legacy {
		return time.Time{}, filters.Errorf(errdefs.ErrInvalidArgument, "invalid value for '%s': invalid timestamp %q: %s", name, v, err)
	}
	return t, err
}
