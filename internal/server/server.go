// Package server is hull's Docker Engine API: HTTP routes, the version
// prefix, and the one place where error kinds become HTTP status codes. It
// imports no engine package; what it serves comes through the Backend
// interfaces, in the API's wire types (github.com/moby/moby/api).
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/apiversion"
	"github.com/hullproject/hull/internal/errdefs"
)

const (
	// APIVersion is the newest API version hull speaks: the newest that
	// the github.com/moby/moby/api module in go.mod describes (its
	// docs/v1.56.yaml; dockerd 29's config.MaxAPIVersion). A request
	// without a version prefix gets this version's shapes.
	APIVersion = "1.56"
	// MinAPIVersion is the oldest it accepts: dockerd's lowest
	// (config.MinAPIVersion). dockerd 29 starts with 1.40 as its minimum
	// and lowers it to 1.24 with DOCKER_MIN_API_VERSION; hull accepts
	// 1.24 from the start, as DESIGN.md's compatibility targets say.
	MinAPIVersion = "1.24"
	// maxJSONBody bounds a request's JSON body.
	maxJSONBody = 10 << 20
)

// Backend is everything the API serves.
type Backend interface {
	SystemBackend
	ImageBackend
	RegistryBackend
	ContainerBackend
	VolumeBackend
	NetworkBackend
	EventsBackend
	DiskUsageBackend
	ArchiveBackend
	LinkBackend
	MACBackend
}

// Server answers the Docker Engine API.
type Server struct {
	backend Backend
	mux     *http.ServeMux
	// OSType is the Ostype header and /version's Os (the daemon's
	// platform; the Windows backend sets "windows").
	OSType string
	// BodyTimeout bounds each read of a request's body, but for uploads
	// and hijacked streams (boundBody); 0 leaves them unbounded.
	BodyTimeout time.Duration
	// BuildKit serves /grpc and /session; nil answers that hull has no
	// builder.
	BuildKit BuildKitBackend
	// BuildCache is the builder's cache (system df, /build/prune); nil
	// is an empty one.
	BuildCache BuildCacheBackend
}

// New returns the API handler over b.
func New(b Backend) *Server {
	s := &Server{backend: b, mux: http.NewServeMux(), OSType: goruntime.GOOS}
	s.systemRoutes()
	s.imageRoutes()
	s.containerRoutes()
	s.volumeRoutes()
	s.networkRoutes()
	s.eventRoutes()
	s.diskUsageRoutes()
	s.archiveRoutes()
	s.pluginRoutes()
	return s
}

// handlerFunc is an API handler: it writes its answer, or returns an error
// that ServeHTTP turns into a status and a message.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.Handle(pattern, h)
}

func (h handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		writeError(w, r, err)
	}
}

// ServeHTTP is the version middleware and the router, in dockerd's order:
// a cleaned path, the route (an unknown one, or a known path with another
// method, answers JSON 404 "page not found" with none of the API's headers,
// as dockerd's router does), then the /vX.Y prefix checked against the
// versions hull speaks, the headers every answer carries, and the
// request's version put in its context (apiversion.FromContext) for the
// handler and the backend to choose that version's shapes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	slog.DebugContext(r.Context(), fmt.Sprintf("Calling %s %s", r.Method, r.URL.RequestURI()))
	p, version, _ := splitVersion(r.URL.Path)
	if clean := cleanPath(p); clean != p {
		prefix := strings.TrimSuffix(r.URL.Path, p)
		// As gorilla/mux, which dockerd routes with: a permanent redirect
		// to the cleaned path, the version prefix kept.
		u := *r.URL
		u.Path, u.RawPath = prefix+clean, ""
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	r2 := *r
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	r = &r2
	r = withLinkNamePath(r)
	h, pattern := s.mux.Handler(r)
	_, ok := h.(handlerFunc)
	// Go's mux lets HEAD reach a GET route; dockerd's router does not.
	if !ok || r.Method == http.MethodHead && !strings.HasPrefix(pattern, http.MethodHead+" ") {
		writeJSON(w, http.StatusNotFound, errorMessage{Message: "page not found"})
		return
	}
	hd := w.Header()
	hd.Set("Server", "hull/"+Version+" ("+s.OSType+")")
	hd.Set("Api-Version", APIVersion)
	hd.Set("Ostype", s.OSType)
	if version == "" {
		version = APIVersion
	} else if err := checkVersion(version); err != nil {
		writeError(w, r, err)
		return
	}
	hd.Set("Docker-Experimental", "false")
	r = r.WithContext(apiversion.WithVersion(r.Context(), version))
	s.boundBody(w, r, pattern)
	// The mux matches again, and this time sets the path's values.
	s.mux.ServeHTTP(w, r)
	slog.DebugContext(r.Context(), "served", "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
}

// splitVersion takes /v1.44/containers/json apart into "/containers/json"
// and "1.44"; ok is false for a path without a version prefix (dockerd's
// /v{version:[0-9.]+}), which is returned whole.
func splitVersion(p string) (path, version string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v")
	if !found {
		return p, "", false
	}
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return p, "", false
	}
	v := rest[:i]
	if strings.Trim(v, "0123456789.") != "" {
		return p, "", false
	}
	return rest[i:], v, true
}

// versionLess reports whether API version a is older than b.
func versionLess(a, b string) bool { return apiversion.Compare(a, b) < 0 }

// cleanPath is path.Clean keeping a trailing slash, as the routers do.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// checkVersion answers as dockerd does for a version it does not speak.
func checkVersion(v string) error {
	if apiversion.Compare(v, APIVersion) > 0 {
		return fmt.Errorf("client version %s is too new. Maximum supported API version is %s: %w", v, APIVersion, errdefs.ErrInvalidArgument)
	}
	if apiversion.Compare(v, MinAPIVersion) < 0 {
		return fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version: %w", v, MinAPIVersion, errdefs.ErrInvalidArgument)
	}
	return nil
}

// statusOf is errdefs.HTTPStatus, with a body over its limit as 413.
func statusOf(err error) int {
	var maxErr *http.MaxBytesError
	if code := errdefs.HTTPStatus(err); code != http.StatusInternalServerError || !errors.As(err, &maxErr) {
		return code
	}
	return http.StatusRequestEntityTooLarge
}

// errorMessage is the body of an error answer.
type errorMessage struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code >= 500 {
		slog.ErrorContext(r.Context(), "API error", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	} else {
		slog.DebugContext(r.Context(), "API error", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	}
	writeJSON(w, code, errorMessage{Message: publicMessage(err)})
}

// publicMessage is err's message as a client reads it (errdefs.Message).
func publicMessage(err error) string { return errdefs.Message(err) }

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// As dockerd: "<name|id>" stays as written, not \u003c…\u003e.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// decodeJSON reads a JSON body into v: a body that is not JSON is bad
// input with the decoder's message; one over the limit is refused.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkJSONType(r); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the request has an empty body: %w", errdefs.ErrInvalidArgument)
		}
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return fmt.Errorf("the request body is over %d bytes: %w", maxJSONBody, errdefs.ErrLimit)
		}
		return fmt.Errorf("invalid JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// checkJSONType refuses a JSON body sent as another Content-Type, in moby's
// CheckForJSON words; a missing Content-Type is let through, for hand-made
// requests.
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("malformed Content-Type header (%s): %v: %w", ct, err, errdefs.ErrInvalidArgument)
	}
	if mt != "application/json" {
		return fmt.Errorf("unsupported Content-Type header (%s): must be 'application/json': %w", ct, errdefs.ErrInvalidArgument)
	}
	return nil
}

// boolValue reads a query flag as dockerd does: "", "0", "no", "false",
// "none" are false; anything else is true.
func boolValue(r *http.Request, k string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(k))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// Version is hull's version, set by the build.
var Version = "0.1.0-dev"
