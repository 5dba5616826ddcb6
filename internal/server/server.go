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
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

const (
	// APIVersion is the newest API version hull speaks (Docker 27's).
	APIVersion = "1.47"
	// MinAPIVersion is the oldest it accepts, as dockerd.
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
}

// Server answers the Docker Engine API.
type Server struct {
	backend Backend
	mux     *http.ServeMux
	// OSType is the Ostype header and /version's Os (the daemon's
	// platform; the Windows backend sets "windows").
	OSType string
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

// ServeHTTP strips and checks the /vX.Y prefix, sets the headers every
// answer carries, logs the call at debug level and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	slog.DebugContext(r.Context(), fmt.Sprintf("Calling %s %s", r.Method, r.URL.RequestURI()))
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Ostype", s.OSType)
	h.Set("Docker-Experimental", "false")
	h.Set("Builder-Version", "1")
	h.Set("Server", "hull/"+Version+" ("+s.OSType+")")
	path, version, ok := splitVersion(r.URL.Path)
	if ok {
		if err := checkVersion(version); err != nil {
			writeError(w, r, err)
			return
		}
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = path, ""
		r2.URL = &u
		r = &r2
	}
	s.mux.ServeHTTP(w, r)
	slog.DebugContext(r.Context(), "served", "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
}

// splitVersion takes /v1.44/containers/json apart; ok is false for an
// unversioned path.
func splitVersion(p string) (path, version string, ok bool) {
	if !strings.HasPrefix(p, "/v") {
		return p, "", false
	}
	rest := p[2:]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		i = len(rest)
	}
	v := rest[:i]
	if _, _, ok := parseVersion(v); !ok {
		return p, "", false
	}
	return rest[i:], v, true
}

func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return x, y, err1 == nil && err2 == nil
}

func versionLess(a, b string) bool {
	am, an, _ := parseVersion(a)
	bm, bn, _ := parseVersion(b)
	return am < bm || am == bm && an < bn
}

// checkVersion answers as dockerd does for a version it does not speak.
func checkVersion(v string) error {
	if versionLess(APIVersion, v) {
		return fmt.Errorf("client version %s is too new. Maximum supported API version is %s: %w", v, APIVersion, errdefs.ErrInvalidArgument)
	}
	if versionLess(v, MinAPIVersion) {
		return fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version: %w", v, MinAPIVersion, errdefs.ErrInvalidArgument)
	}
	return nil
}

// statusOf is the one mapping of error kinds to HTTP status codes.
func statusOf(err error) int {
	switch {
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err), errdefs.IsDataLoss(err):
		// DataLoss reaches the API from content the client sent (an
		// archive whose digests do not match).
		return http.StatusBadRequest
	case errdefs.IsConflict(err), errdefs.IsAlreadyExists(err):
		return http.StatusConflict
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsForbidden(err):
		return http.StatusForbidden
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsLimit(err):
		return http.StatusRequestEntityTooLarge
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
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
	writeJSON(w, code, errorMessage{Message: apiMessage(err)})
}

// apiMessage is what the API says of err: dockerd's own words when the
// error carries them (errdefs.Dockerf), else the whole chain.
func apiMessage(err error) string {
	if m, ok := errdefs.DockerMessage(err); ok {
		return m
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// decodeJSON reads a JSON body into v: a body that is not JSON is bad
// input with the decoder's message; one over the limit is refused.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
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
