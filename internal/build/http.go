package build

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/hullproject/hull/internal/errdefs"
)

// versionPrefix is the API version the daemon's route carried
// (/v1.47/build); hull-buildkit's routes do not depend on it.
var versionPrefix = regexp.MustCompile(`^/v[0-9]+(\.[0-9]+)?/`)

// Handler serves the HTTP requests the daemon relays to hull-buildkit:
// POST /session (the session manager's hijack), POST /build (the
// legacy build, answered as a JSON-message stream), and the cache's
// housekeeping (housekeeping_linux.go): POST /build/prune, GET /build/du
// and POST /build/cancel.
func (b *Builder) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /session", func(w http.ResponseWriter, r *http.Request) {
		if err := b.HandleSession(r.Context(), w, r); err != nil {
			slog.ErrorContext(r.Context(), "build session", "error", err)
			writeError(w, err)
		}
	})
	mux.HandleFunc("POST /build", func(w http.ResponseWriter, r *http.Request) {
		if err := b.handleBuild(w, r); err != nil {
			writeError(w, err)
		}
	})
	mux.HandleFunc("POST /build/prune", b.serve((*buildkit).prune))
	mux.HandleFunc("POST /build/cancel", b.serve((*buildkit).cancel))
	mux.HandleFunc("GET /build/du", b.serve((*buildkit).diskUsage))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loc := versionPrefix.FindStringIndex(r.URL.Path); loc != nil {
			r.URL.Path = r.URL.Path[loc[1]-1:]
			r.URL.RawPath = ""
		}
		mux.ServeHTTP(w, r)
	})
}

// writeError answers err as the daemon's API does: its kind's status and
// {"message": …}. Only for errors before an answer has begun.
func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(errdefs.HTTPStatus(err))
	json.NewEncoder(w).Encode(map[string]string{"message": errdefs.Message(err)})
}
