package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/plugin"

	"github.com/hullproject/hull/internal/errdefs"
)

// The /plugins routes are Docker's managed (v2) plugins: images that the
// daemon pulls, installs and runs. hull has none and installs none — it
// uses legacy (v1) plugins, found through their sockets and spec files
// (internal/plugin), which dockerd does not list here either. So the list
// is always empty, every route that names a plugin answers dockerd's 404
// for a plugin that is not installed, once the request has passed the
// checks dockerd makes first, and the routes that would install one
// (pull, create, privileges) refuse with 501 after those checks.
func (s *Server) pluginRoutes() {
	s.handle("GET /plugins", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		// dockerd's checks of the list's filters: capability, and enabled
		// as a boolean (true or false; from API 1.42 also 1 or 0).
		if err := f.Validate("capability", "enabled"); err != nil {
			return err
		}
		if _, err := f.Bool("enabled", false, []string{"true"}, []string{"false"}); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, []plugin.Plugin{})
	})
	s.handle("GET /plugins/privileges", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := parsePluginRemote(r.URL.Query().Get("remote")); err != nil {
			return err
		}
		return errNoManagedPlugins("plugin privileges")
	})
	s.handle("POST /plugins/pull", func(w http.ResponseWriter, r *http.Request) error {
		var privileges plugin.Privileges
		if err := readOptionalJSON(w, r, &privileges); err != nil {
			return err
		}
		if _, err := parsePluginRemote(r.URL.Query().Get("remote")); err != nil {
			return err
		}
		if name := r.URL.Query().Get("name"); name != "" {
			if _, err := pluginLocalName(name); err != nil {
				return err
			}
		}
		return errNoManagedPlugins("plugin install")
	})
	s.handle("POST /plugins/create", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := reference.ParseNormalizedNamed(r.URL.Query().Get("name")); err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		return errNoManagedPlugins("plugin create")
	})
	s.handle("GET /plugins/{path...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op, ok := cutOp(r.PathValue("path"))
		if !ok || op != "json" {
			return errPageNotFound
		}
		return errPluginNotFound(name)
	})
	s.handle("DELETE /plugins/{name...}", func(w http.ResponseWriter, r *http.Request) error {
		return errPluginNotFound(r.PathValue("name"))
	})
	s.handle("POST /plugins/{path...}", func(w http.ResponseWriter, r *http.Request) error {
		name, op, ok := cutOp(r.PathValue("path"))
		if !ok {
			return errPageNotFound
		}
		switch op {
		case "enable":
			if _, err := strconv.Atoi(r.URL.Query().Get("timeout")); err != nil {
				return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
			}
		case "disable", "push":
		case "set":
			var args []string
			if err := readOptionalJSON(w, r, &args); err != nil {
				return err
			}
		case "upgrade":
			var privileges plugin.Privileges
			if err := readOptionalJSON(w, r, &privileges); err != nil {
				return err
			}
			if _, err := parsePluginRemote(r.URL.Query().Get("remote")); err != nil {
				return err
			}
			local, err := pluginLocalName(name)
			if err != nil {
				return err
			}
			name = local
		default:
			return errPageNotFound
		}
		return errPluginNotFound(name)
	})
}

// errPageNotFound answers a path under a known prefix that names no route.
var errPageNotFound = fmt.Errorf("page not found: %w", errdefs.ErrNotFound)

func errPluginNotFound(name string) error {
	return fmt.Errorf("plugin %q not found: %w", name, errdefs.ErrNotFound)
}

func errNoManagedPlugins(what string) error {
	return fmt.Errorf("%s: hull does not install managed plugins; it uses legacy plugins, found through their sockets and spec files: %w", what, errdefs.ErrNotImplemented)
}

// parsePluginRemote reads a plugin's remote reference as dockerd does.
func parsePluginRemote(remote string) (reference.Named, error) {
	ref, err := reference.ParseNormalizedNamed(remote)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return ref, nil
}

// pluginLocalName is the name a plugin is installed under: the name given,
// with :latest when it has no tag.
func pluginLocalName(name string) (string, error) {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if _, ok := ref.(reference.Canonical); ok {
		return "", fmt.Errorf("cannot use digest in plugin tag: %w", errdefs.ErrInvalidArgument)
	}
	if reference.IsNameOnly(ref) {
		return reference.FamiliarString(reference.TagNameOnly(ref)), nil
	}
	return name, nil
}

// readOptionalJSON reads a JSON body into v when there is one: an empty
// body is not an error (dockerd's ReadJSON).
func readOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	err := decodeJSON(w, r, v)
	if errors.Is(err, errdefs.ErrInvalidArgument) && strings.Contains(err.Error(), "empty body") {
		return nil
	}
	return err
}
