package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/hullproject/hull/internal/errdefs"
)

// ImageBackend serves /images.
type ImageBackend interface {
	Images(ctx context.Context) ([]image.Summary, error)
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
	s.handle("GET /images/json", func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.backend.Images(r.Context())
		if err != nil {
			return err
		}
		if list == nil {
			list = []image.Summary{}
		}
		return writeJSON(w, http.StatusOK, list)
	})
	s.handle("POST /images/load", s.imageLoad)
	s.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) error {
		return s.imageSave(w, r, r.URL.Query()["names"])
	})
	// Image names hold slashes: the operation is the last path element.
	s.handle("GET /images/{path...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op, ok := cutOp(r.PathValue("path"))
		switch {
		case ok && op == "json":
			img, err := s.backend.ImageInspect(r.Context(), name)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, img)
		case ok && op == "history":
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
	quiet := boolValue(r, "quiet")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	progress := func(m jsonstream.Message) {
		if quiet {
			return
		}
		enc.Encode(m)
		flush()
	}
	loaded, err := s.backend.ImageLoad(r.Context(), r.Body, progress)
	for _, name := range loaded {
		line := "Loaded image: " + name + "\n"
		if strings.HasPrefix(name, "sha256:") {
			line = "Loaded image ID: " + name + "\n"
		}
		enc.Encode(jsonstream.Message{Stream: line})
	}
	if err != nil {
		enc.Encode(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
	}
	flush()
	return nil
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("save: name at least one image: %w", errdefs.ErrInvalidArgument)
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
