package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	ImageInspect(ctx context.Context, name string) (image.InspectResponse, error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	// ImageTag gives the image name names the reference repo:tag.
	ImageTag(ctx context.Context, name, repo, tag string) error
	ImageDelete(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error)
	// ImageLoad loads an archive (docker save or OCI layout) and returns
	// the references of the images loaded, or their ids for untagged ones.
	ImageLoad(ctx context.Context, r io.Reader, progress func(jsonstream.Message)) ([]string, error)
	// ImageSave writes the images names name (references or ids) to w.
	ImageSave(ctx context.Context, names []string, w io.Writer) error
}

func (s *Server) imageRoutes() {
	s.handle("GET /images/json", s.imageList)
	s.handle("POST /images/load", s.imageLoad)
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
			img, err := s.backend.ImageInspect(r.Context(), name)
			if err != nil {
				return err
			}
			if err := s.checkImagePlatform(r.Context(), name, p); err != nil {
				return err
			}
			shaped, err := imageInspectShape(r.Context(), img)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, shaped)
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
		repo, tag := q.Get("repo"), q.Get("tag")
		if repo == "" {
			return fmt.Errorf("tag %s: repo is required: %w", name, errdefs.ErrInvalidArgument)
		}
		if err := s.backend.ImageTag(r.Context(), name, repo, tag); err != nil {
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

// imageLoad streams JSON messages, as dockerd: once the answer has begun
// an error goes in-band (errorDetail), not as a status.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	if err := checkLoadPlatforms(r); err != nil {
		return err
	}
	quiet := boolValue(r, "quiet")
	send, finish := progressStream(w)
	progress := func(m jsonstream.Message) {
		if !quiet {
			send(m)
		}
	}
	loaded, err := s.backend.ImageLoad(r.Context(), r.Body, progress)
	for _, name := range loaded {
		line := "Loaded image: " + name + "\n"
		if strings.HasPrefix(name, "sha256:") {
			line = "Loaded image ID: " + name + "\n"
		}
		send(jsonstream.Message{Stream: line})
	}
	finish(err)
	return nil
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("save: name at least one image: %w", errdefs.ErrInvalidArgument)
	}
	ps, err := imagePlatforms(r, "1.48", true)
	if err != nil {
		return err
	}
	if err := s.checkSavePlatform(r.Context(), names, ps); err != nil {
		return err
	}
	// Check every name before the answer starts; a failure later can only
	// cut the archive short.
	for _, n := range names {
		if _, err := s.backend.ImageInspect(r.Context(), n); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	return s.backend.ImageSave(r.Context(), names, w)
}

// RegistryBackend pulls, imports and pushes images.
type RegistryBackend interface {
	// ImagePull fetches ref (with its tag or digest) for platform.
	ImagePull(ctx context.Context, ref, platform string, auth registry.AuthConfig, progress func(jsonstream.Message)) error
	// ImageImport makes an image of the root file system tar r, named ref
	// when given, with Dockerfile changes; it returns the image id.
	ImageImport(ctx context.Context, r io.Reader, ref string, changes []string, progress func(jsonstream.Message)) (string, error)
	// ImagePush sends ref to its registry.
	ImagePush(ctx context.Context, ref string, auth registry.AuthConfig, progress func(jsonstream.Message)) error
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

// progressStream starts a JSON-message answer: once it has begun, errors
// go in-band (errorDetail), as dockerd does. finish writes err, if any.
func progressStream(w http.ResponseWriter) (progress func(jsonstream.Message), finish func(error)) {
	// The body (an import's or a load's tar) is read while the answer
	// streams: HTTP/1 needs full duplex for that.
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	progress = func(m jsonstream.Message) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(m)
		if flusher != nil {
			flusher.Flush()
		}
	}
	finish = func(err error) {
		if err != nil {
			progress(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
		}
	}
	return progress, finish
}

// imageCreate is POST /images/create: a pull (fromImage) or an import
// (fromSrc=-, the body being the tar).
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, src := q.Get("fromImage"), q.Get("fromSrc")
	switch {
	case from != "" && src != "":
		return fmt.Errorf("fromImage and fromSrc cannot both be set: %w", errdefs.ErrInvalidArgument)
	case from != "":
		ref := from
		if tag := q.Get("tag"); tag != "" {
			if strings.HasPrefix(tag, "sha256:") {
				ref += "@" + tag
			} else {
				ref += ":" + tag
			}
		}
		auth, err := registryAuth(r)
		if err != nil {
			return err
		}
		progress, finish := progressStream(w)
		finish(s.backend.ImagePull(r.Context(), ref, q.Get("platform"), auth, progress))
		return nil
	case src == "-":
		ref := q.Get("repo") // the docker CLI puts the tag in it
		if tag := q.Get("tag"); ref != "" && tag != "" {
			ref += ":" + tag
		}
		progress, finish := progressStream(w)
		id, err := s.backend.ImageImport(r.Context(), r.Body, ref, q["changes"], progress)
		if err == nil {
			progress(jsonstream.Message{Status: id})
		}
		finish(err)
		return nil
	case src != "":
		return fmt.Errorf("import from %q: hull imports from the request body only (fromSrc=-): %w", src, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("fromImage or fromSrc is required: %w", errdefs.ErrInvalidArgument)
}

// imagePush is POST /images/{name}/push.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	auth, err := registryAuth(r)
	if err != nil {
		return err
	}
	if _, err := s.backend.ImageInspect(r.Context(), ref); err != nil {
		return err
	}
	if err := s.checkImagePlatforms(r, ref, "1.46"); err != nil {
		return err
	}
	progress, finish := progressStream(w)
	finish(s.backend.ImagePush(r.Context(), ref, auth, progress))
	return nil
}
