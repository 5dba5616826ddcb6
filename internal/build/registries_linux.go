package build

import (
	"net/url"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/moby/buildkit/util/resolver"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
)

// registryHosts are BuildKit's registries as the daemon's: a registry's
// mirrors tried in order before it (plain HTTP for an http:// one,
// unverified TLS for an https:// one that is insecure), an insecure
// registry reached with unverified TLS then plain HTTP. Without any,
// BuildKit's defaults (plain HTTP on localhost).
func registryHosts(rs Registries) docker.RegistryHosts {
	if len(rs.Mirrors) == 0 && len(rs.InsecureHosts) == 0 {
		return docker.ConfigureDefaultRegistries()
	}
	yes := true
	cfg := map[string]resolverconfig.RegistryConfig{}
	for _, h := range rs.InsecureHosts {
		cfg[h] = resolverconfig.RegistryConfig{Insecure: &yes, PlainHTTP: &yes}
	}
	for host, mirrors := range rs.Mirrors {
		c := cfg[host]
		for _, m := range mirrors {
			u, err := url.Parse(m)
			if err != nil || u.Host == "" {
				continue // the daemon checked them
			}
			c.Mirrors = append(c.Mirrors, u.Host)
			if u.Scheme == "http" {
				mc := cfg[u.Host]
				mc.PlainHTTP = &yes
				cfg[u.Host] = mc
			}
		}
		cfg[host] = c
	}
	return resolver.NewRegistryConfig(cfg)
}
