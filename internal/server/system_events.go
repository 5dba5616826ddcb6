package server

import (
	"context"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/events"
)

// EventsBackend serves /events.
type EventsBackend interface {
	// Events sends the kept events since since (zero: none of them), then
	// new ones until until (zero: until ctx ends); filters are docker's.
	Events(ctx context.Context, since, until time.Time, filters map[string][]string, emit func(events.Message) error) error
}

func (s *Server) eventRoutes() {
	s.handle("GET /events", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		since, err := parseTime(q.Get("since"))
		if err != nil {
			return err
		}
		if q.Get("since") != "" && since.IsZero() {
			since = time.Unix(0, 0) // since=0: every kept event
		}
		until, err := parseTime(q.Get("until"))
		if err != nil {
			return err
		}
		filters, err := parseFilters(q.Get("filters"))
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
		s.backend.Events(r.Context(), since, until, filters, func(m events.Message) error {
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
