package daemon

// The creation trace: every step of creating and starting a container,
// with its duration (hull diag trace ID; logged in debug mode).

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Step is one step of a container's creation trace.
type Step struct {
	Name     string            `json:"name"`
	At       time.Time         `json:"at"`
	Duration time.Duration     `json:"durationNs"`
	Attrs    map[string]string `json:"attrs,omitempty"`
}

type tracer struct {
	mu    sync.Mutex
	id    string
	last  time.Time
	steps []Step
}

// trace returns the trace of container id, started at its first step.
func (d *Daemon) trace(id string) *tracer {
	d.traceMu.Lock()
	defer d.traceMu.Unlock()
	t, ok := d.traces[id]
	if !ok {
		t = &tracer{id: id, last: time.Now()}
		d.traces[id] = t
	}
	return t
}

func (d *Daemon) dropTrace(id string) {
	d.traceMu.Lock()
	delete(d.traces, id)
	d.traceMu.Unlock()
}

// step records that the step name has just ended, with how long it took
// since the one before.
func (t *tracer) step(name string, kv ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	s := Step{Name: name, At: now.UTC(), Duration: now.Sub(t.last)}
	if len(kv) > 1 {
		s.Attrs = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Attrs[kv[i]] = kv[i+1]
		}
	}
	t.steps = append(t.steps, s)
	t.last = now
	slog.Debug("creation trace", "container", t.id, "step", name, "took", s.Duration)
}

// begin marks the start of a phase (a start after a create): the next
// step counts from now.
func (t *tracer) begin(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = time.Now()
	t.steps = append(t.steps, Step{Name: name, At: t.last.UTC()})
}

// stepAt records a step another process reached at the time at (the
// shim's), timed from the step before.
func (t *tracer) stepAt(name string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := at.Sub(t.last)
	t.steps = append(t.steps, Step{Name: name, At: at.UTC(), Duration: d})
	t.last = at
	slog.Debug("creation trace", "container", t.id, "step", name, "took", d)
}

// done marks the end of a start; in debug mode the whole trace is logged.
func (t *tracer) done(debug bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = time.Now() // the next start counts from here
	if debug {
		var b strings.Builder
		for _, s := range t.steps {
			fmt.Fprintf(&b, "%s=%v ", strings.ReplaceAll(s.Name, " ", "_"), s.Duration.Round(time.Microsecond))
		}
		slog.Debug("container started", "container", t.id, "trace", b.String())
	}
}

// ContainerTrace returns the creation trace of a container ([]Step): the
// steps of its create and of each start since the daemon started.
func (d *Daemon) ContainerTrace(ctx context.Context, ref string) (any, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	t := d.trace(c.rec.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Step(nil), t.steps...), nil
}
