package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/hullproject/hull/internal/errdefs"
)

// Registries is how the store reaches registries beyond what an image's
// name says: the mirrors tried before a registry (daemon.json's
// registry-mirrors-per-registry, and registry-mirrors for Docker Hub) and
// the registries that may be spoken to in plain HTTP or with unverified
// TLS (insecure-registries). The zero value has no mirrors and the
// default insecure registries, loopback's. Make one with NewRegistries.
type Registries struct {
	// Mirrors maps a registry host as image names write it (docker.io,
	// registry.k8s.io, example.com:5000) to the mirrors tried, in order,
	// before it: base URLs scheme://host[:port]/.
	Mirrors map[string][]string
	// InsecureHosts are registries (host[:port]) reached with unverified
	// TLS and then plain HTTP; InsecureCIDRs the same for registries whose
	// address is in one of the networks. Loopback's are always insecure,
	// as in dockerd, and not listed here.
	InsecureHosts []string
	InsecureCIDRs []netip.Prefix
}

// DefaultInsecureCIDRs are the networks whose registries are insecure
// without being configured: loopback, as dockerd's 127.0.0.0/8.
var DefaultInsecureCIDRs = []netip.Prefix{netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.0/8")}

// NewRegistries checks and normalizes the daemon's registry keys, with
// dockerd's words for a bad mirror or insecure registry: perRegistry
// maps a registry host to its mirrors, hubMirrors are Docker Hub's
// (registry-mirrors, added after any docker.io entry of perRegistry),
// insecure are hosts (host[:port]) and CIDRs. A mirror is an http:// or
// https:// URL with no path; http:// is spoken to in plain HTTP.
func NewRegistries(perRegistry map[string][]string, hubMirrors, insecure []string) (Registries, error) {
	rs := Registries{Mirrors: map[string][]string{}}
	add := func(host string, mirrors []string) error {
		for _, m := range mirrors {
			u, err := validateMirror(m)
			if err != nil {
				return err
			}
			if !slices.Contains(rs.Mirrors[host], u) {
				rs.Mirrors[host] = append(rs.Mirrors[host], u)
			}
		}
		return nil
	}
	for _, host := range slices.Sorted(mapKeys(perRegistry)) {
		h, err := registryHost(host)
		if err != nil {
			return Registries{}, err
		}
		if err := add(h, perRegistry[host]); err != nil {
			return Registries{}, err
		}
	}
	if err := add(dockerDomain, hubMirrors); err != nil {
		return Registries{}, err
	}
	for _, r := range insecure {
		lower := strings.ToLower(r)
		switch {
		case strings.HasPrefix(lower, "http://"):
			r = r[len("http://"):]
		case strings.HasPrefix(lower, "https://"):
			r = r[len("https://"):]
		case strings.Contains(r, "://"):
			return Registries{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "insecure registry %s should not contain '://'", r)
		}
		if p, err := netip.ParsePrefix(r); err == nil {
			if p = p.Masked(); !slices.Contains(rs.InsecureCIDRs, p) {
				rs.InsecureCIDRs = append(rs.InsecureCIDRs, p)
			}
			continue
		}
		if !validHostPort(r) {
			return Registries{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "insecure registry %s is not valid: invalid host %q", r, r)
		}
		if !slices.Contains(rs.InsecureHosts, r) {
			rs.InsecureHosts = append(rs.InsecureHosts, r)
		}
	}
	return rs, nil
}

// validateMirror is dockerd's check of a mirror; it returns the mirror
// with one trailing slash, as dockerd shows it.
func validateMirror(m string) (string, error) {
	u, err := url.Parse(m)
	if err != nil {
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid mirror: %q is not a valid URI", m)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid mirror: unsupported scheme %q in %q", u.Scheme, u)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid mirror: path, query, or fragment at end of the URI %q", u)
	}
	if u.User != nil {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid mirror: username/password not allowed in URI %q", u)
	}
	if !validHostPort(u.Host) {
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid mirror: invalid host %q in %q", u.Host, m)
	}
	return u.Scheme + "://" + u.Host + "/", nil
}

// registryHost is a key of registry-mirrors-per-registry as image names
// write the registry: Docker Hub's names (index.docker.io,
// registry-1.docker.io) become docker.io.
func registryHost(h string) (string, error) {
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerDomain, nil
	}
	named, err := reference.ParseNormalizedNamed(h + "/x")
	if err != nil || reference.Domain(named) != h {
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "registry-mirrors-per-registry: %q is not a registry host (host[:port])", h)
	}
	return h, nil
}

func validHostPort(hp string) bool {
	if hp == "" || strings.ContainsAny(hp, "/ ") {
		return false
	}
	host := hp
	if h, _, err := net.SplitHostPort(hp); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	_, err := reference.ParseNormalizedNamed(hp + "/x")
	return err == nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// SetRegistries gives the store the daemon's registry configuration, which
// every pull then follows. Call it before the store is used.
func (s *Store) SetRegistries(rs Registries) {
	s.registries = rs
}

// secure reports whether host (host[:port]) must be spoken to with
// verified TLS, as dockerd's isSecureIndex: not when it is an insecure
// host, or its address (a name's addresses, looked up) is in an insecure
// network or on loopback.
func (rs Registries) secure(ctx context.Context, host string) bool {
	if slices.Contains(rs.InsecureHosts, host) || isLoopbackHost(host) {
		return false
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(h); err == nil {
		addrs = []netip.Addr{a}
	} else if len(rs.InsecureCIDRs) > 0 {
		// Only when networks are configured: a name on loopback is
		// already known, and the look-up costs a pull its time.
		ips, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		addrs = ips
	}
	for _, a := range addrs {
		a = a.Unmap()
		for _, p := range slices.Concat(rs.InsecureCIDRs, DefaultInsecureCIDRs) {
			if p.Contains(a) {
				return false
			}
		}
	}
	return true
}

// endpoint is one place a pull asks for an image: a mirror, or the
// registry itself in one of its schemes.
type endpoint struct {
	host       string // host[:port], as an image name writes it
	scheme     string // http or https
	skipVerify bool   // TLS without checking the certificate
	mirror     bool
}

func (e endpoint) String() string { return e.scheme + "://" + e.host }

// endpoints are the places to pull r from, in order: r's registry's
// mirrors, then the registry itself, as dockerd tries them: verified
// HTTPS; for an insecure registry unverified HTTPS then plain HTTP; plain
// HTTP only with RegistryOptions.Insecure.
func (rs Registries) endpoints(ctx context.Context, r ref, opts RegistryOptions) []endpoint {
	var eps []endpoint
	for _, m := range rs.Mirrors[r.domain] {
		u, err := url.Parse(m)
		if err != nil {
			continue // NewRegistries checked it
		}
		eps = append(eps, endpoint{host: u.Host, scheme: u.Scheme, skipVerify: u.Scheme == "https" && !rs.secure(ctx, u.Host), mirror: true})
	}
	switch {
	case opts.Insecure:
		eps = append(eps, endpoint{host: r.domain, scheme: "http"})
	case !rs.secure(ctx, r.domain):
		eps = append(eps, endpoint{host: r.domain, scheme: "https", skipVerify: true}, endpoint{host: r.domain, scheme: "http"})
	default:
		eps = append(eps, endpoint{host: r.domain, scheme: "https"})
	}
	return eps
}

// at is r's reference at endpoint e (the mirror's host with r's path:
// registry.k8s.io/pause:3.9 at a mirror is mirror:5000/pause:3.9) and
// the registry options that reach it.
func (e endpoint) at(r ref, opts RegistryOptions) (name.Reference, RegistryOptions, error) {
	at := r
	at.domain = e.host
	nref, err := at.remote(e.scheme == "http")
	if err != nil {
		return nil, opts, err
	}
	base := opts.transport()
	if e.skipVerify {
		base = insecureTransport(base)
	}
	opts.Transport = &schemeTransport{host: nref.Context().RegistryStr(), scheme: e.scheme, base: base}
	return nref, opts, nil
}

var (
	insecureOnce    sync.Once
	insecureDefault http.RoundTripper
)

// insecureTransport is base without the check of TLS certificates: one
// shared copy of http.DefaultTransport, or a clone of another
// *http.Transport; another RoundTripper stays as it is.
func insecureTransport(base http.RoundTripper) http.RoundTripper {
	t, ok := base.(*http.Transport)
	if !ok {
		return base
	}
	clone := func() http.RoundTripper {
		c := t.Clone()
		if c.TLSClientConfig == nil {
			c.TLSClientConfig = &tls.Config{}
		}
		c.TLSClientConfig.InsecureSkipVerify = true
		return c
	}
	if base != http.DefaultTransport {
		return clone()
	}
	insecureOnce.Do(func() { insecureDefault = clone() })
	return insecureDefault
}

// schemeTransport sends the requests for host in scheme: go-containerregistry
// chooses plain HTTP by itself for some addresses (RFC 1918, localhost),
// where dockerd speaks HTTPS unless the registry is insecure. Requests to
// other hosts (a token server, a blob's redirect) go as they are.
type schemeTransport struct {
	host, scheme string
	base         http.RoundTripper
}

func (t *schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == t.host && req.URL.Scheme != t.scheme {
		req = req.Clone(req.Context())
		req.URL.Scheme = t.scheme
	}
	return t.base.RoundTrip(req)
}

// pull tries r's endpoints in order and gives the first image one of
// them gives. Any failure of a mirror — it is out of reach, does not have
// the image, refuses the credentials — goes on to the next endpoint, as
// dockerd and containerd do; so does a failure of unverified HTTPS
// before the registry answered (the plain HTTP of an insecure registry
// is not tried after its HTTPS has answered). The error is the last
// endpoint's, the registry's own; the mirrors' are logged.
func (s *Store) pull(ctx context.Context, r ref, want platform, opts PullOptions) (string, error) {
	eps := s.registries.endpoints(ctx, r, opts.RegistryOptions)
	answered := map[string]bool{} // hosts whose HTTPS answered
	var lastErr error
	for i, e := range eps {
		if e.scheme == "http" && answered[e.host] {
			continue
		}
		nref, ropts, err := e.at(r, opts.RegistryOptions)
		if err != nil {
			return "", err
		}
		o := opts
		o.RegistryOptions = ropts
		id, err := s.pullFrom(ctx, r, nref, want, o)
		if err == nil {
			return id, nil
		}
		lastErr = err
		if ctx.Err() != nil || i == len(eps)-1 {
			break
		}
		var te *transport.Error
		if e.scheme == "https" && errors.As(err, &te) {
			answered[e.host] = true
		}
		slog.InfoContext(ctx, "pull: trying the next endpoint", "image", r.String(), "endpoint", e.String(), "mirror", e.mirror, "error", err)
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no endpoint to pull %s from: %w", r.Familiar(), errdefs.ErrNotFound)
	}
	return "", lastErr
}

// pushEndpoint is where a push of r goes, as dockerd chooses: the first
// of the registry's own endpoints (never a mirror) that answers; one that
// answers with a refusal ends the search.
func (s *Store) pushEndpoint(ctx context.Context, r ref, opts RegistryOptions) (name.Reference, RegistryOptions, *registryClient, error) {
	var lastErr error
	for _, e := range s.registries.endpoints(ctx, r, opts) {
		if e.mirror {
			continue
		}
		nref, o, err := e.at(r, opts)
		if err != nil {
			return nil, opts, nil, err
		}
		rc, err := o.client(ctx, nref.Context(), nref.Context().Scope(transport.PushScope))
		if err == nil {
			return nref, o, rc, nil
		}
		lastErr = err
		var te *transport.Error
		if ctx.Err() != nil || errors.As(err, &te) {
			break
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no endpoint to push %s to: %w", r.Familiar(), errdefs.ErrNotFound)
	}
	return nil, opts, nil, lastErr
}
