package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// ArchiveBackend serves docker cp.
type ArchiveBackend interface {
	// ContainerStatPath says what path is in the container (a JSON-able
	// stat: name, size, mode, mtime, linkTarget).
	ContainerStatPath(ctx context.Context, id, path string) (any, error)
	// ContainerArchivePath writes path as a tar; started gets its stat
	// before the first byte.
	ContainerArchivePath(ctx context.Context, id, path string, started func(stat any), w io.Writer) error
	// ContainerExtractToDir extracts the tar r (plain or compressed) into
	// the folder path; noOverwriteDirNonDir and copyUIDGID are the
	// request's flags.
	ContainerExtractToDir(ctx context.Context, id, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error
}

func setPathStat(w http.ResponseWriter, stat any) {
	b, _ := json.Marshal(stat)
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
}

func (s *Server) archiveRoutes() {
	pathOf := func(r *http.Request) (string, error) {
		p := r.URL.Query().Get("path")
		if p == "" {
			// dockerd 20.10 says "pathcannot"; newer ones fixed the typo.
			return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "bad parameter: path cannot be empty")
		}
		if strings.ContainsRune(p, 0) {
			// No file name holds a NUL: the client's error, not the
			// daemon's (the kernel's EINVAL answered 500).
			return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "bad parameter: path %q contains a NUL byte", p)
		}
		return p, nil
	}
	s.handle("HEAD /containers/{id}/archive", func(w http.ResponseWriter, r *http.Request) error {
		p, err := pathOf(r)
		if err != nil {
			return err
		}
		stat, err := s.backend.ContainerStatPath(r.Context(), r.PathValue("id"), p)
		if err != nil {
			return err
		}
		setPathStat(w, stat)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("GET /containers/{id}/archive", func(w http.ResponseWriter, r *http.Request) error {
		p, err := pathOf(r)
		if err != nil {
			return err
		}
		started := false
		err = s.backend.ContainerArchivePath(r.Context(), r.PathValue("id"), p, func(stat any) {
			setPathStat(w, stat)
			w.Header().Set("Content-Type", "application/x-tar")
			w.WriteHeader(http.StatusOK)
			started = true
		}, w)
		if started {
			return nil
		}
		return err
	})
	s.handle("PUT /containers/{id}/archive", func(w http.ResponseWriter, r *http.Request) error {
		p, err := pathOf(r)
		if err != nil {
			return err
		}
		if err := s.backend.ContainerExtractToDir(r.Context(), r.PathValue("id"), p, r.Body,
			boolValue(r, "noOverwriteDirNonDir"), boolValue(r, "copyUIDGID")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}
