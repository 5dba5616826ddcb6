package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
)

// registries are the mirrors and insecure registries of the daemon's
// flags or daemon.json: --registry-mirror-per-registry HOST=URL flags
// (repeatable, a host's mirrors in their order) or the
// registry-mirrors-per-registry object, registry-mirrors,
// insecure-registries.
func (f *daemonFlags) registries() (image.Registries, error) {
	per := map[string][]string{}
	for h, ms := range f.mirrorsPerRegistry {
		per[h] = append(per[h], ms...)
	}
	for _, kv := range f.mirrorFlags {
		h, u, ok := strings.Cut(kv, "=")
		if !ok || h == "" || u == "" {
			return image.Registries{}, fmt.Errorf("--registry-mirror-per-registry %q: want HOST=URL: %w", kv, errdefs.ErrInvalidArgument)
		}
		per[h] = append(per[h], u)
	}
	return image.NewRegistries(per, f.registryMirrors, f.insecureRegistries)
}

// builderRegistries are rs as hull-buildkit's --registries takes them
// (JSON of internal/build's Registries); "" for none.
func builderRegistries(rs image.Registries) string {
	if len(rs.Mirrors) == 0 && len(rs.InsecureHosts) == 0 {
		return ""
	}
	b, err := json.Marshal(struct {
		Mirrors       map[string][]string
		InsecureHosts []string
	}{rs.Mirrors, rs.InsecureHosts})
	if err != nil {
		return ""
	}
	return string(b)
}
