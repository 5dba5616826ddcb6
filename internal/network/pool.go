package network

// The compartment pool: compartments of the default bridge network made
// ahead, off the container's start, so that an attach only takes one and
// gives its NIC the endpoint's address, MAC, alias, link state and routes.

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// poolDir is where compartments made ahead are bind-mounted, beside
// NetnsDir (the same file system: taking one is a rename and a move), so
// that NetnsDir holds containers' compartments only. Reconcile empties it:
// a daemon that dies with a full pool leaves nothing the next start does
// not clean.
func (s *Service) poolDir() string { return filepath.Join(filepath.Dir(s.cfg.NetnsDir), "netpool") }

// removePoolDir removes what is in poolDir (compartments, spare files).
func (s *Service) removePoolDir() error {
	ents, err := os.ReadDir(s.poolDir())
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if err := s.sys.removeCompartment(filepath.Join(s.poolDir(), e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pooled is a compartment made ahead: its namespace at path, with loopback
// up and IPv6 off by default as newCompartment leaves it, and a veth
// pair, hv<epID[:12]> on the network's bridge (up, this daemon's alias
// with " pool" until it is taken) and eth0 in the namespace (down, no
// address, a random MAC).
type pooled struct {
	path string
	// spare is an empty file beside it, renamed to the container's
	// compartment path when it is taken.
	spare     string
	epID      string
	hostIf    string
	networkID string
}

// refillDelay is how long after a take the pool starts making the next.
const refillDelay = 50 * time.Millisecond

// compartmentPool keeps up to size compartments of one bridge network
// ready. One goroutine refills it after each take.
type compartmentPool struct {
	s    *Service
	nwID string
	size int

	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{}

	// mu guards ready and trash; the filler adds to ready and empties
	// trash, takePooled and discard do the reverse.
	mu    sync.Mutex
	ready []pooled
	// trash are pool paths left by compartments taken, removed by the
	// filler (unlinking a file can wait for the journal).
	trash []pooled
	// closed: stop has run; the filler puts nothing more.
	closed bool
}

// startPool starts keeping cfg.CompartmentPool compartments of the default
// bridge network ready. Preconditions: Reconcile has removed what a
// previous daemon left under NetnsDir.
func (s *Service) startPool() {
	if s.cfg.CompartmentPool <= 0 || s.pool != nil {
		return
	}
	nw, err := s.Network("bridge")
	if err != nil || nw.Driver != "bridge" {
		return
	}
	// Taking a compartment renames into NetnsDir: it exists first.
	if err := os.MkdirAll(s.cfg.NetnsDir, 0o700); err != nil {
		slog.Warn("network: no compartments made ahead", "error", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &compartmentPool{s: s, nwID: nw.ID, size: s.cfg.CompartmentPool, cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1)}
	s.pool = p
	go p.fill(ctx)
	p.kick <- struct{}{}
}

// fill makes compartments until the pool is full, each time it is kicked,
// and stops with ctx. A compartment it cannot make stops the filling
// until the next kick: a start never waits for the pool.
func (p *compartmentPool) fill(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		// Not at once: a take is in the middle of a container's start,
		// whose netlink calls and mounts the filler's would hold up (the
		// kernel serialises both), on a host whose cores it shares.
		select {
		case <-ctx.Done():
			return
		case <-time.After(refillDelay):
		}
		p.emptyTrash()
		for ctx.Err() == nil {
			p.mu.Lock()
			n := len(p.ready)
			p.mu.Unlock()
			if n >= p.size {
				break
			}
			pc, err := p.make(ctx)
			if err != nil {
				slog.Warn("network: prepare a compartment ahead", "error", err)
				break
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				p.s.sys.removeCompartment(pc.path)
				os.Remove(pc.spare)
				return
			}
			p.ready = append(p.ready, pc)
			p.mu.Unlock()
		}
	}
}

// make prepares one compartment as newCompartment and the bridge driver's
// Join make them, for the NIC eth0.
func (p *compartmentPool) make(ctx context.Context) (pooled, error) {
	nw, err := p.s.Network(p.nwID)
	if err != nil {
		return pooled{}, err
	}
	d, err := p.s.driver(ctx, nw.Driver)
	if err != nil {
		return pooled{}, err
	}
	id := newID()
	dir := p.s.poolDir()
	pc := pooled{path: filepath.Join(dir, id[:12]), spare: filepath.Join(dir, id[:12]+".spare"), epID: id, networkID: nw.ID}
	if err := p.s.sys.newCompartment(pc.path); err != nil {
		return pooled{}, err
	}
	f, err := os.OpenFile(pc.spare, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		p.s.sys.removeCompartment(pc.path)
		return pooled{}, err
	}
	f.Close()
	ep := &Endpoint{ID: id, NetworkID: nw.ID, IfName: "eth0"}
	if _, err := d.Join(ctx, nw, ep, pc.path); err != nil {
		p.s.sys.removeCompartment(pc.path)
		os.Remove(pc.spare)
		return pooled{}, err
	}
	pc.hostIf = ep.HostIf
	if err := p.s.sys.markPooled(pc.hostIf, true); err != nil {
		p.s.sys.removeCompartment(pc.path)
		os.Remove(pc.spare)
		return pooled{}, err
	}
	return pc, nil
}

// discard has what is left of pc at its pool paths (its spare file or the
// namespace's mount point; the namespace itself when it was not taken)
// removed off the caller's path.
func (p *compartmentPool) discard(pc pooled) {
	p.mu.Lock()
	p.trash = append(p.trash, pc)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *compartmentPool) emptyTrash() {
	p.mu.Lock()
	trash := p.trash
	p.trash = nil
	p.mu.Unlock()
	for _, pc := range trash {
		if err := p.s.sys.removeCompartment(pc.path); err != nil {
			slog.Warn("network: remove a compartment's pool path", "compartment", pc.path, "error", err)
		}
		os.Remove(pc.spare)
	}
}

// take gives a prepared compartment of network nwID, and has the pool
// refilled; false when there is none.
func (s *Service) takePooled(nwID string) (pooled, bool) {
	p := s.pool
	if p == nil || p.nwID != nwID {
		return pooled{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	if len(p.ready) == 0 {
		return pooled{}, false
	}
	pc := p.ready[0]
	p.ready = p.ready[1:]
	return pc, true
}

// stopPool stops the filling and removes the compartments still ready
// (their veths go with them).
func (s *Service) stopPool() {
	p := s.pool
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	p.emptyTrash()
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	for _, pc := range ready {
		if err := s.sys.removeCompartment(pc.path); err != nil {
			slog.Warn("network: remove a compartment prepared ahead", "compartment", pc.path, "error", err)
		}
		os.Remove(pc.spare)
	}
}
