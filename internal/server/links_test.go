package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLinkNamePath(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/containers/web/db/json", "/containers/web%2Fdb/json"},
		{"DELETE", "/containers/web/db", "/containers/web%2Fdb"},
		{"POST", "/containers/web/db/start", "/containers/web%2Fdb/start"},
		{"GET", "/containers/abc/json", "/containers/abc/json"},
		{"GET", "/containers/abc/attach/ws", "/containers/abc/attach/ws"},
		{"POST", "/containers/abc/exec", "/containers/abc/exec"},
		{"GET", "/containers/json", "/containers/json"},
		{"POST", "/containers/web/db/bogus", "/containers/web/db/bogus"},
		{"GET", "/images/a/b/json", "/images/a/b/json"},
	} {
		if got := linkNamePath(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
	// The route's {id} gets the name with its slash.
	mux := http.NewServeMux()
	var got string
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) { got = r.PathValue("id") })
	r := httptest.NewRequest("GET", "/containers/web/db/json", nil)
	mux.ServeHTTP(httptest.NewRecorder(), withLinkNamePath(r))
	if got != "web/db" {
		t.Errorf("{id} = %q, want web/db", got)
	}
}
