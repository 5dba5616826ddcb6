package main

import (
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
