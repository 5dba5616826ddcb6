package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// Compartment is a container's compartment as `hull diag compartments`
// shows it (what Get-NetCompartment shows on Windows).
type Compartment struct {
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Container   string   `json:"container"`
	Path        string   `json:"path"`
	Interfaces  []string `json:"interfaces"`
}

// Compartments reads the compartments under netnsDir from the kernel, with
// or without a daemon.
func Compartments(netnsDir string) ([]Compartment, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sys := newSystem(Config{})
	var out []Compartment
	for _, e := range ents {
		p := filepath.Join(netnsDir, e.Name())
		c := Compartment{ID: shortID(e.Name()), Description: `\Container_` + e.Name(), Container: e.Name(), Path: p}
		ifs, err := sys.interfaces(p)
		if err != nil {
			continue // not (or no longer) a namespace
		}
		for _, it := range ifs {
			c.Interfaces = append(c.Interfaces, it.Name)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// FindCompartment resolves a container id, or a unique prefix of one, to
// its compartment under netnsDir.
func FindCompartment(netnsDir, ref string) (string, error) {
	ents, _ := os.ReadDir(netnsDir)
	var found []string
	for _, e := range ents {
		if e.Name() == ref {
			return filepath.Join(netnsDir, ref), nil
		}
		if ref != "" && strings.HasPrefix(e.Name(), ref) {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 1:
		return filepath.Join(netnsDir, found[0]), nil
	case 0:
		return "", fmt.Errorf("no compartment %q under %s: %w", ref, netnsDir, errdefs.ErrNotFound)
	}
	return "", fmt.Errorf("compartment %q is ambiguous (%d match): %w", ref, len(found), errdefs.ErrInvalidArgument)
}

// CompartmentInterfaces are the NICs of the compartment at path.
func CompartmentInterfaces(path string) ([]Interface, error) {
	return newSystem(Config{}).interfaces(path)
}

// CompartmentRoutes are the routes of the compartment at path.
func CompartmentRoutes(path string) ([]RouteInfo, error) { return newSystem(Config{}).routes(path) }
