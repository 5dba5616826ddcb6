package build

import "net/http"

// serve is a route of hull-buildkit's that needs BuildKit running: f
// serves it, and an error it returns before answering is answered as the
// daemon's API does.
func (b *Builder) serve(f func(*buildkit, http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := b.started(r.Context())
		if err == nil {
			err = f(k, w, r)
		}
		if err != nil {
			writeError(w, err)
		}
	}
}
