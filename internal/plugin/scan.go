package plugin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Names lists the plugins the folders hold, by name: sockets NAME.sock or
// NAME/NAME.sock, spec files NAME.spec, NAME.json or in NAME/.
func (r *Registry) Names() []string {
	seen := map[string]bool{}
	add := func(name string) {
		if validName(name) {
			seen[name] = true
		}
	}
	scan := func(dirs []string, exts ...string) {
		for _, dir := range dirs {
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				n := e.Name()
				if e.IsDir() {
					for _, ext := range exts {
						if _, err := os.Stat(filepath.Join(dir, n, n+ext)); err == nil {
							add(n)
						}
					}
					continue
				}
				for _, ext := range exts {
					if base, ok := strings.CutSuffix(n, ext); ok {
						add(base)
					}
				}
			}
		}
	}
	scan(r.Dirs.Sockets, ".sock")
	scan(r.Dirs.Specs, ".spec", ".json")
	r.mu.Lock()
	for n := range r.active {
		seen[n] = true
	}
	r.mu.Unlock()
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// All is every plugin found that implements iface, as dockerd's volume
// listing asks for them: each plugin not yet active is activated, all at
// once and without retries (one that does not answer within the timeout is
// left out and tried again next time).
func (r *Registry) All(ctx context.Context, iface string) []*Plugin {
	names := r.Names()
	found := make([]*Plugin, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		r.mu.Lock()
		p := r.active[name]
		r.mu.Unlock()
		if p != nil {
			found[i] = p
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.lookup(name)
			if err != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, p.timeout)
			defer cancel()
			var resp struct{ Implements []string }
			if err := p.call(cctx, "/Plugin.Activate", struct{}{}, &resp); err != nil {
				return
			}
			p.Implements = resp.Implements
			r.mu.Lock()
			if q := r.active[name]; q != nil {
				p = q
			} else {
				r.active[name] = p
			}
			r.mu.Unlock()
			found[i] = p
		}()
	}
	wg.Wait()
	var out []*Plugin
	for _, p := range found {
		if p != nil && slices.Contains(p.Implements, iface) {
			out = append(out, p)
		}
	}
	return out
}
