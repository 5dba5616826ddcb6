package server

import (
	"context"
	"net/http"
	"strings"
)

// LinkBackend serves what is left of legacy links in the API: a linked
// container's name /parent/alias in a path, and its removal.
type LinkBackend interface {
	// ContainerRemoveLink removes the link /parent/alias from parent.
	ContainerRemoveLink(ctx context.Context, name string) error
}

// containerActions are the last elements of the /containers/{id}/… routes.
var containerActions = map[string]bool{
	"json": true, "start": true, "stop": true, "restart": true, "kill": true, "resize": true, "wait": true,
	"attach": true, "logs": true, "exec": true, "pause": true, "unpause": true, "rename": true, "top": true,
	"export": true, "update": true, "changes": true, "stats": true, "trace": true, "archive": true,
}

// linkNamePath makes a path that names a container by a link name
// (/containers/web/db/json, DELETE /containers/web/db: docker inspect
// /web/db, docker rm --link /web/db) name it in one element, escaped, as
// the routes' {id} takes it; dockerd's routes take a name with slashes.
func linkNamePath(method, path string) string {
	rest, ok := strings.CutPrefix(path, "/containers/")
	if !ok {
		return path
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && method == http.MethodDelete && parts[0] != "" && parts[1] != "":
	case len(parts) == 3 && containerActions[parts[2]] && parts[0] != "" && parts[1] != "" && !containerActions[parts[1]]:
	default:
		return path
	}
	return "/containers/" + parts[0] + "%2F" + strings.Join(parts[1:], "/")
}

func (s *Server) removeLink(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.backend.ContainerRemoveLink(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// withLinkNamePath is r with linkNamePath's path.
func withLinkNamePath(r *http.Request) *http.Request {
	raw := linkNamePath(r.Method, r.URL.Path)
	if raw == r.URL.Path {
		return r
	}
	r2 := *r
	u := *r.URL
	u.RawPath = raw
	r2.URL = &u
	return &r2
}
