package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// ImageBackend serves /images.
type ImageBackend interface {
	// Images is every image with its number of containers (system df).
	Images(ctx context.Context) ([]image.Summary, error)
	// ImageList lists images as GET /images/json: all shows intermediate
	// images, sharedSize computes SharedSize; the filters are checked
	// there.
	ImageList(ctx context.Context, all, sharedSize bool, f filters.Args) ([]image.Summary, error)
	// ImageInspect returns the image and, in legacy, the deprecated fields
	// older API versions show (Container, ContainerConfig, Parent,
	// DockerVersion).
	ImageInspect(ctx context.Context, name string) (_ image.InspectResponse, legacy map[string]any, _ error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	// ImageTag gives the image name names the reference repo:tag.
	ImageTag(ctx context.Context, name, repo, tag string) error
	ImageDelete(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error)
	// ImageLoad loads an archive (docker save or OCI layout), writing to
	// out what dockerd writes: the layers' progress unless quiet, and the
	// "Loaded image" lines.
	ImageLoad(ctx context.Context, r io.Reader, quiet bool, out func(jsonstream.Message)) error
	// ImageSave writes the images names name (references or ids) to w.
	ImageSave(ctx context.Context, names []string, w io.Writer) error
}

func (s *Server) imageRoutes() {
	s.handle("GET /images/json", s.imageList)
	s.handle("POST /images/load", s.imageLoad)
	s.handle("GET /images/search", s.imageSearch)
	s.handle("POST /images/create", s.imageCreate)
	s.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) error {
		return s.imageSave(w, r, r.URL.Query()["names"])
	})
	// Image names hold slashes: the operation is the last path element.
	s.handle("GET /images/{path...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op, ok := cutOp(r.PathValue("path"))
		switch {
		case ok && op == "json":
			p, err := imageInspectQuery(r)
			if err != nil {
				return err
			}
			img, legacy, err := s.backend.ImageInspect(r.Context(), name)
			if err != nil {
				return err
			}
			if err := s.checkImagePlatform(r.Context(), name, p); err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, inspectShape(img, legacy, requestVersion(r)))
		case ok && op == "history":
			if err := s.checkImagePlatforms(r, name, "1.48"); err != nil {
				return err
			}
			h, err := s.backend.ImageHistory(r.Context(), name)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, h)
		case ok && op == "get":
			return s.imageSave(w, r, []string{name})
		}
		return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
	})
	s.handle("POST /images/{path...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op, ok := cutOp(r.PathValue("path"))
		if ok && op == "push" {
			return s.imagePush(w, r, name)
		}
		if !ok || op != "tag" {
			return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
		}
		q := r.URL.Query()
		if err := s.backend.ImageTag(r.Context(), name, q.Get("repo"), q.Get("tag")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	s.handle("DELETE /images/{name...}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.checkImageDeletePlatforms(r, r.PathValue("name")); err != nil {
			return err
		}
		deleted, err := s.backend.ImageDelete(r.Context(), r.PathValue("name"), boolValue(r, "force"), !boolValue(r, "noprune"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, deleted)
	})
}

// cutOp splits "library/busybox:latest/json" into the name and "json".
func cutOp(p string) (name, op string, ok bool) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "", "", false
	}
	return p[:i], p[i+1:], true
}

// imageLoad streams JSON messages, as dockerd: the answer begins at
// once, and an error goes in-band (errorDetail). quiet is dockerd's
// default.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	if err := checkLoadPlatforms(r); err != nil {
		return err
	}
	quiet := true
	if r.URL.Query().Has("quiet") {
		quiet = boolValue(r, "quiet")
	}
	st := newJSONStream(w)
	defer st.closeBody(r)
	st.start()
	return st.finish(s.backend.ImageLoad(r.Context(), r.Body, quiet, st.send))
}

// imageSave is GET /images/get and /images/{name}/get: the answer begins
// with the archive's first byte, so a name that names nothing is an
// ordinary error answer; a failure later can only cut the archive short.
//
// No name saves an archive of no image, as dockerd.
func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	ps, err := imagePlatforms(r, "1.48", true)
	if err != nil {
		return err
	}
	if err := s.checkSavePlatform(r.Context(), names, ps); err != nil {
		return err
	}
	lw := &lazyWriter{w: w, contentType: "application/x-tar"}
	err = s.backend.ImageSave(r.Context(), names, lw)
	if err != nil && !lw.started {
		return err
	}
	return nil
}

// lazyWriter sends the status and headers with the first byte.
type lazyWriter struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", l.contentType)
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(b)
}

// RegistryBackend pulls, imports and pushes images.
type RegistryBackend interface {
	// ImagePull fetches image (a repository, or a reference) with tag (a
	// tag or a digest; empty: the reference's own) for platform.
	ImagePull(ctx context.Context, image, tag, platform string, auth registry.AuthConfig, progress func(jsonstream.Message)) error
	// ImageImport makes an image of the root file system tar that src
	// names: "-" for r, or a URL; repo, tag, message, platform and
	// changes are the request's parameters. It writes dockerd's messages
	// to progress, the new image's id last.
	ImageImport(ctx context.Context, src string, r io.Reader, repo, tag, message, platform string, changes []string, progress func(jsonstream.Message)) error
	// ImagePush sends image (a repository, or a reference) with tag
	// (empty: the reference's own) to its registry.
	ImagePush(ctx context.Context, image, tag string, auth registry.AuthConfig, progress func(jsonstream.Message)) error
	// ImageSearch asks term's index for limit repositories, filtered by
	// stars, is-official, is-automated.
	ImageSearch(ctx context.Context, term string, limit int, filters map[string][]string, auth registry.AuthConfig) ([]registry.SearchResult, error)
}

// registryAuth decodes X-Registry-Auth (base64url JSON); a bad header is
// the client's error.
func registryAuth(r *http.Request) (registry.AuthConfig, error) {
	var a registry.AuthConfig
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return a, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(h); err != nil {
			return a, fmt.Errorf("X-Registry-Auth: not base64: %w", errdefs.ErrInvalidArgument)
		}
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("X-Registry-Auth: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return a, nil
}

// jsonStream is a JSON-message answer (pull, push, load, import), as
// dockerd writes it: the status and headers go with the first message,
// so an error before any is an ordinary error answer; once the answer
// has begun, an error goes in-band (errorDetail).
type jsonStream struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	enc     *json.Encoder
	flusher http.Flusher
	started bool
}

// newJSONStream begins a JSON-message answer on w.
//
// The body (an import's or a load's tar) is read while the answer streams:
// HTTP/1 needs full duplex for that. The handler must then close the
// request's body before it returns (defer st.closeBody(r)): with full
// duplex, net/http drains what the handler left unread (a tar's trailing
// zero blocks) only after it stopped watching the connection, so its
// background read races the next request's and it panics with "invalid
// concurrent Body.Read call" and drops the connection (golang/go#68560).
// Closed in the handler, the body is drained there (up to 256 KiB; more,
// and the connection is closed after the answer instead of reused).
func newJSONStream(w http.ResponseWriter) *jsonStream {
	http.NewResponseController(w).EnableFullDuplex()
	f, _ := w.(http.Flusher)
	return &jsonStream{w: w, enc: json.NewEncoder(w), flusher: f}
}

// closeBody closes r's body before the handler returns (newJSONStream).
func (st *jsonStream) closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// start sends the status and headers if they are not sent yet.
func (st *jsonStream) start() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.startLocked()
}

func (st *jsonStream) startLocked() {
	if !st.started {
		st.started = true
		st.w.Header().Set("Content-Type", "application/json")
		st.w.WriteHeader(http.StatusOK)
	}
}

// send writes one message.
func (st *jsonStream) send(m jsonstream.Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.startLocked()
	st.enc.Encode(m)
	if st.flusher != nil {
		st.flusher.Flush()
	}
}

// finish ends the answer: err, if any, goes in-band once the answer has
// begun, and is returned (to be answered as an error) otherwise.
func (st *jsonStream) finish(err error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err == nil {
		st.startLocked()
		return nil
	}
	if !st.started {
		return err
	}
	// dockerd writes the message twice: errorDetail for the clients of
	// today, error for the old ones.
	msg := publicMessage(err)
	st.enc.Encode(streamError{Error: &jsonstream.Error{Message: msg}, ErrorMessage: msg})
	if st.flusher != nil {
		st.flusher.Flush()
	}
	return nil
}

// streamError is an error in a JSON-message stream, as dockerd writes it.
type streamError struct {
	Error        *jsonstream.Error `json:"errorDetail,omitempty"`
	ErrorMessage string            `json:"error,omitempty"`
}

// imageCreate is POST /images/create: a pull (fromImage) or, as dockerd
// has it, an import otherwise (fromSrc=- for the body, or a URL).
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	st := newJSONStream(w)
	defer st.closeBody(r)
	if from := q.Get("fromImage"); from != "" {
		auth, err := registryAuth(r)
		if err != nil {
			return err
		}
		return st.finish(s.backend.ImagePull(r.Context(), from, q.Get("tag"), q.Get("platform"), auth, st.send))
	}
	return st.finish(s.backend.ImageImport(r.Context(), q.Get("fromSrc"), r.Body,
		q.Get("repo"), q.Get("tag"), q.Get("message"), q.Get("platform"), q["changes"], st.send))
}

// imagePush is POST /images/{name}/push.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	if err := s.checkImagePlatforms(r, name, "1.46"); err != nil {
		return err
	}
	st := newJSONStream(w)
	defer st.closeBody(r)
	return st.finish(s.backend.ImagePush(r.Context(), name, r.URL.Query().Get("tag"), auth, st.send))
}

// imageSearch is GET /images/search. A missing or bad X-Registry-Auth is
// no auth, as dockerd has it.
func (s *Server) imageSearch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 25 // dockerd's default
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			msg := "invalid limit specified"
			if err != nil {
				msg += ": " + err.Error()
			}
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", msg)
		}
		limit = n
	}
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	byKey := map[string][]string{}
	for _, k := range f.Keys() {
		byKey[k] = f.Get(k)
	}
	auth, _ := registryAuth(r)
	res, err := s.backend.ImageSearch(r.Context(), q.Get("term"), limit, byKey, auth)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
