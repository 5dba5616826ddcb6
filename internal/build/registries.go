package build

// Registries are the daemon's registry mirrors and insecure registries
// (internal/image's Registries, as JSON between the daemon and
// hull-buildkit): Mirrors by registry host (docker.io for Docker Hub) as
// http(s)://host[:port]/ URLs, InsecureHosts as host[:port].
// InsecureCIDRs are the daemon's only: BuildKit's resolver knows
// registries by name.
type Registries struct {
	Mirrors       map[string][]string `json:"Mirrors,omitempty"`
	InsecureHosts []string            `json:"InsecureHosts,omitempty"`
}
