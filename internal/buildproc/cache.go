package buildproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/moby/moby/api/types/build"

	"github.com/hullproject/hull/internal/errdefs"
)

// BuildState tells whether the builder has kept state under its root (it
// has run once, so it may have a cache) and whether hull-buildkit runs
// now. Neither starts it.
func (p *Proc) BuildState() (kept, running bool) {
	_, err := os.Stat(p.root)
	p.mu.Lock()
	defer p.mu.Unlock()
	return err == nil, p.proc != nil && !p.proc.exited()
}

// BuildCacheUsage lists BuildKit's cache records (hull-buildkit's GET
// /build/du, its control service's DiskUsage). Preconditions: Start.
func (p *Proc) BuildCacheUsage(ctx context.Context) ([]build.CacheRecord, error) {
	var records []build.CacheRecord
	if err := p.call(ctx, http.MethodGet, "/build/du", nil, &records); err != nil {
		return nil, fmt.Errorf("error getting build cache usage: %w", err)
	}
	return records, nil
}

// BuildCachePrune prunes BuildKit's cache (hull-buildkit's POST
// /build/prune, its control service's Prune) with q, BuildKit's prune
// request: all, keep-duration (nanoseconds), reserved-space,
// max-used-space, min-free-space, filter. Preconditions: Start.
func (p *Proc) BuildCachePrune(ctx context.Context, q url.Values) (build.CachePruneReport, error) {
	var rep build.CachePruneReport
	err := p.call(ctx, http.MethodPost, "/build/prune", q, &rep)
	return rep, err
}

// call asks hull-buildkit's HTTP socket and decodes its JSON answer into
// out; its error answer comes back with the kind its status says.
func (p *Proc) call(ctx context.Context, method, path string, q url.Values, out any) error {
	p.begin()
	defer p.end()
	sock := p.httpSocket()
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	u := url.URL{Scheme: "http", Host: "hull-buildkit", Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("hull-buildkit: %v: %w", err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &msg) != nil || msg.Message == "" {
			msg.Message = "hull-buildkit: " + resp.Status
		}
		switch resp.StatusCode {
		case http.StatusBadRequest:
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", msg.Message)
		case http.StatusNotFound:
			return errdefs.Dockerf(errdefs.ErrNotFound, "%s", msg.Message)
		case http.StatusNotImplemented:
			return errdefs.Dockerf(errdefs.ErrNotImplemented, "%s", msg.Message)
		case http.StatusServiceUnavailable:
			return errdefs.Dockerf(errdefs.ErrUnavailable, "%s", msg.Message)
		}
		return fmt.Errorf("%s", msg.Message)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("hull-buildkit's answer to %s %s: %w", method, path, err)
	}
	return nil
}
