package buildproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://hull-buildkit/build/du", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("error getting build cache usage: %v: %w", err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, &msg) != nil || msg.Message == "" {
			msg.Message = resp.Status
		}
		return nil, fmt.Errorf("error getting build cache usage: %s: %w", msg.Message, errdefs.ErrUnavailable)
	}
	var records []build.CacheRecord
	if err := json.NewDecoder(resp.Body).Decode(&records); err != nil {
		return nil, fmt.Errorf("error getting build cache usage: %w", err)
	}
	return records, nil
}
