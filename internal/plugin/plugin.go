// Package plugin finds and talks to Docker's legacy (v1) plugins: a plugin
// is an HTTP server on a unix socket, a TCP address or (on Windows) a named
// pipe, found as Docker finds it — a socket in /run/docker/plugins, or a
// spec file (.spec holding an address, .json holding {"Name","Addr",
// "TLSConfig"}) in /etc/docker/plugins or /usr/lib/docker/plugins — and in
// hull's own /run/hull/plugins and /etc/hull/plugins. It is activated
// lazily, on first use, with POST /Plugin.Activate, retried with back-off
// until a timeout; every call is a JSON POST to /<Interface>.<Method>.
package plugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// MediaType is the plugin protocol's content type.
const MediaType = "application/vnd.docker.plugins.v1.2+json"

// Dirs are where plugins are looked for.
type Dirs struct {
	// Sockets hold <name>.sock or <name>/<name>.sock.
	Sockets []string
	// Specs hold <name>.spec or <name>.json (or in <name>/).
	Specs []string
}

// DefaultDirs are Docker's and hull's folders (Linux).
func DefaultDirs() Dirs {
	return Dirs{
		Sockets: []string{"/run/docker/plugins", "/run/hull/plugins"},
		Specs:   []string{"/etc/docker/plugins", "/usr/lib/docker/plugins", "/etc/hull/plugins"},
	}
}

// Plugin is a found plugin.
type Plugin struct {
	Name string
	Addr string
	// Implements is what it said at activation ("NetworkDriver", …).
	Implements []string
	client     *http.Client
	base       string
	timeout    time.Duration
}

// Registry finds and activates plugins, once each.
type Registry struct {
	Dirs Dirs
	// Timeout bounds an activation (with its retries) and each call.
	Timeout time.Duration
	mu      sync.Mutex
	active  map[string]*Plugin
}

// NewRegistry returns a registry over dirs; timeout 0 is 30 s, Docker's.
func NewRegistry(dirs Dirs, timeout time.Duration) *Registry {
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &Registry{Dirs: dirs, Timeout: timeout, active: map[string]*Plugin{}}
}

var validName = func(n string) bool {
	return n != "" && !strings.ContainsAny(n, "/\\\x00") && n != "." && n != ".."
}

// Get finds the plugin name, activates it if it has not been, and checks
// that it implements iface.
func (r *Registry) Get(ctx context.Context, name, iface string) (*Plugin, error) {
	if !validName(name) {
		return nil, fmt.Errorf("invalid plugin name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	r.mu.Lock()
	p := r.active[name]
	r.mu.Unlock()
	if p == nil {
		var err error
		if p, err = r.lookup(name); err != nil {
			return nil, err
		}
		if err := p.activate(ctx); err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.active[name] = p
		r.mu.Unlock()
	}
	if !slices.Contains(p.Implements, iface) {
		return nil, fmt.Errorf("plugin %q does not implement %s (it implements %v): %w", name, iface, p.Implements, errdefs.ErrNotFound)
	}
	return p, nil
}

// Forget drops an activated plugin (it is activated again on next use).
func (r *Registry) Forget(name string) {
	r.mu.Lock()
	delete(r.active, name)
	r.mu.Unlock()
}

// lookup finds name's address: sockets first, then spec files.
func (r *Registry) lookup(name string) (*Plugin, error) {
	for _, dir := range r.Dirs.Sockets {
		for _, p := range []string{filepath.Join(dir, name+".sock"), filepath.Join(dir, name, name+".sock")} {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
				return r.newPlugin(name, "unix://"+p, nil)
			}
		}
	}
	for _, dir := range r.Dirs.Specs {
		for _, p := range []string{
			filepath.Join(dir, name+".spec"), filepath.Join(dir, name+".json"),
			filepath.Join(dir, name, name+".spec"), filepath.Join(dir, name, name+".json"),
		} {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if strings.HasSuffix(p, ".json") {
				var spec struct {
					Name      string
					Addr      string
					TLSConfig *struct {
						InsecureSkipVerify bool
						CAFile, CertFile   string
						KeyFile            string
					}
				}
				if err := json.Unmarshal(b, &spec); err != nil {
					return nil, fmt.Errorf("plugin spec %s: %v: %w", p, err, errdefs.ErrInvalidArgument)
				}
				var tc *tls.Config
				if spec.TLSConfig != nil {
					tc = &tls.Config{InsecureSkipVerify: spec.TLSConfig.InsecureSkipVerify}
					if spec.TLSConfig.CAFile != "" {
						ca, err := os.ReadFile(spec.TLSConfig.CAFile)
						if err != nil {
							return nil, fmt.Errorf("plugin spec %s: %w", p, err)
						}
						tc.RootCAs = x509.NewCertPool()
						tc.RootCAs.AppendCertsFromPEM(ca)
					}
					if spec.TLSConfig.CertFile != "" {
						cert, err := tls.LoadX509KeyPair(spec.TLSConfig.CertFile, spec.TLSConfig.KeyFile)
						if err != nil {
							return nil, fmt.Errorf("plugin spec %s: %w", p, err)
						}
						tc.Certificates = []tls.Certificate{cert}
					}
				}
				return r.newPlugin(name, strings.TrimSpace(spec.Addr), tc)
			}
			return r.newPlugin(name, strings.TrimSpace(string(b)), nil)
		}
	}
	return nil, fmt.Errorf("plugin %q not found (no socket in %s, no spec file in %s): %w", name,
		strings.Join(r.Dirs.Sockets, ", "), strings.Join(r.Dirs.Specs, ", "), errdefs.ErrNotFound)
}

func (r *Registry) newPlugin(name, addr string, tc *tls.Config) (*Plugin, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("plugin %q: bad address %q: %w", name, addr, errdefs.ErrInvalidArgument)
	}
	tr := &http.Transport{TLSClientConfig: tc, DisableCompression: true}
	base := ""
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" {
			path = u.Host
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://plugin"
	case "npipe":
		dial, err := dialPipe(addr)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
		tr.DialContext = dial
		base = "http://plugin"
	case "tcp", "http":
		base = "http://" + u.Host
	case "https":
		base = "https://" + u.Host
	default:
		return nil, fmt.Errorf("plugin %q: unsupported address %q (unix, tcp, http, https, npipe): %w", name, addr, errdefs.ErrInvalidArgument)
	}
	if tc != nil && u.Scheme == "tcp" {
		base = "https://" + u.Host
	}
	return &Plugin{Name: name, Addr: addr, client: &http.Client{Transport: tr}, base: base, timeout: r.Timeout}, nil
}

// activate calls /Plugin.Activate, retrying with back-off (a plugin may
// still be starting) until the timeout.
func (p *Plugin) activate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		var resp struct{ Implements []string }
		err := p.call(ctx, "/Plugin.Activate", struct{}{}, &resp)
		if err == nil {
			p.Implements = resp.Implements
			return nil
		}
		var perr *Error
		if errors.As(err, &perr) {
			return fmt.Errorf("activate plugin %q at %s: %w", p.Name, p.Addr, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("activate plugin %q at %s: no answer within %s: %w", p.Name, p.Addr, p.timeout, errdefs.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("activate plugin %q at %s: %v (gave up after %s): %w", p.Name, p.Addr, err, p.timeout, errdefs.ErrUnavailable)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Error is an error the plugin answered (its "Err").
type Error struct {
	Plugin, Method, Msg string
	// Status is the answer's HTTP status: 200 when the plugin answered
	// its Err in an ordinary answer, as the protocol asks.
	Status int
}

func (e *Error) Error() string { return fmt.Sprintf("plugin %s: %s: %s", e.Plugin, e.Method, e.Msg) }

// Call posts req as JSON to /<method> and decodes the answer into resp,
// within the registry's timeout.
func (p *Plugin) Call(ctx context.Context, method string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.call(ctx, "/"+method, req, resp); err != nil {
		var perr *Error
		if errors.As(err, &perr) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("plugin %s: %s: no answer within %s: %w", p.Name, method, p.timeout, errdefs.ErrUnavailable)
		}
		return fmt.Errorf("plugin %s: %s: %w", p.Name, method, err)
	}
	return nil
}

func (p *Plugin) call(ctx context.Context, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, "POST", p.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Accept", MediaType)
	hr.Header.Set("Content-Type", MediaType)
	r, err := p.client.Do(hr)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrUnavailable)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the answer: %v: %w", err, errdefs.ErrUnavailable)
	}
	var e struct{ Err string }
	json.Unmarshal(b, &e)
	method := strings.TrimPrefix(path, "/")
	if r.StatusCode != http.StatusOK {
		msg := e.Err
		if msg == "" {
			msg = fmt.Sprintf("%s: %s", r.Status, strings.TrimSpace(string(b)))
		}
		return &Error{Plugin: p.Name, Method: method, Msg: msg, Status: r.StatusCode}
	}
	if e.Err != "" {
		return &Error{Plugin: p.Name, Method: method, Msg: e.Err, Status: r.StatusCode}
	}
	if !json.Valid(b) {
		return &Error{Plugin: p.Name, Method: method, Msg: fmt.Sprintf("the answer is not the protocol's JSON: %.200q", b), Status: r.StatusCode}
	}
	if resp != nil {
		if err := json.Unmarshal(b, resp); err != nil {
			return &Error{Plugin: p.Name, Method: method, Msg: fmt.Sprintf("the answer is not the protocol's JSON (%v): %.200q", err, b), Status: r.StatusCode}
		}
	}
	return nil
}

// DefaultDirsWindows are Docker's and hull's folders on Windows.
func DefaultDirsWindows() Dirs {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return Dirs{Specs: []string{filepath.Join(pd, "docker", "plugins"), filepath.Join(pd, "hull", "plugins")}}
}
