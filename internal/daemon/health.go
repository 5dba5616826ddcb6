package daemon

// Health checks: HEALTHCHECK from the image or --health-* flags, run as an
// exec in the container, as dockerd runs them (its daemon/health.go): the
// status and the last results show in inspect and docker ps, changes are
// health_status events, each probe is an exec with its exec_* events.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/runtime"
)

const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthStartInterval = 5 * time.Second
	defaultHealthRetries       = 3
	maxHealthLog               = 5
	maxHealthOutput            = 4096
)

// healthConfig is the container's effective check, nil for none.
func healthConfig(cfg *container.Config) *container.HealthConfig {
	h := cfg.Healthcheck
	if h == nil || len(h.Test) == 0 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
		return nil
	}
	out := *h
	// The API refuses durations under a millisecond (validate.go); one
	// that comes another way (an image's config) counts as not set, as 0
	// does, rather than probing in a busy loop.
	if out.Interval < container.MinimumDuration {
		out.Interval = defaultHealthInterval
	}
	if out.Timeout < container.MinimumDuration {
		out.Timeout = defaultHealthTimeout
	}
	if out.StartInterval < container.MinimumDuration {
		out.StartInterval = defaultHealthStartInterval
	}
	if out.StartPeriod < 0 {
		out.StartPeriod = 0
	}
	if out.Retries <= 0 {
		out.Retries = defaultHealthRetries
	}
	return &out
}

// startHealth begins the health check of a container that (re)started:
// starting, no failures yet; the results of earlier runs stay in the log,
// as dockerd keeps them. c.mu is held.
func (d *Daemon) startHealth(c *ctr) {
	if healthConfig(c.rec.Config) == nil {
		return
	}
	d.stopHealthLocked(c)
	if c.rec.Health == nil {
		c.rec.Health = &container.Health{Log: []*container.HealthcheckResult{}}
	}
	c.rec.Health.Status, c.rec.Health.FailingStreak = container.Starting, 0
	d.resumeHealth(c)
}

// resumeHealth runs the container's probes until stopHealthLocked: the
// first after an interval; during the start period, while the status is
// starting, every StartInterval. c.mu is held.
func (d *Daemon) resumeHealth(c *ctr) {
	hc := healthConfig(c.rec.Config)
	if hc == nil || c.stopHealth != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopHealth = cancel
	started := c.rec.State.StartedAt
	interval := func() time.Duration {
		if time.Since(started) >= hc.StartPeriod {
			return hc.Interval
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.rec.Health != nil && c.rec.Health.Status == container.Starting {
			return hc.StartInterval
		}
		return hc.Interval
	}
	go func() {
		t := time.NewTimer(interval())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			res := d.probe(ctx, c, hc)
			if !d.recordHealth(ctx, c, hc, res) {
				return
			}
			t.Reset(interval())
		}
	}()
}

// stopHealthLocked ends the probes (the container stopped or paused); the
// status is then unhealthy, as dockerd says of a check that does not run
// (no event). c.mu is held.
func (d *Daemon) stopHealthLocked(c *ctr) {
	if c.stopHealth == nil {
		return
	}
	c.stopHealth()
	c.stopHealth = nil
	if c.rec.Health != nil {
		c.rec.Health.Status = container.Unhealthy
	}
}

// probe runs the check once as an exec: the container's user, working
// directory and environment, stdout and stderr together (the first 4096
// bytes, then "..."); one that outlives the timeout is killed and fails
// with exit code -1.
func (d *Daemon) probe(ctx context.Context, c *ctr, hc *container.HealthConfig) *container.HealthcheckResult {
	res := &container.HealthcheckResult{Start: time.Now(), ExitCode: -1}
	defer func() { res.End = time.Now() }()
	c.mu.Lock()
	id, user, wd, shell := c.rec.ID, c.rec.Config.User, c.rec.Config.WorkingDir, slices.Clone(c.rec.Config.Shell)
	c.mu.Unlock()
	cmd := slices.Clone(hc.Test[1:])
	if len(cmd) == 0 {
		// Before the shell is put in front, as moby's cmdProbe (a
		// CMD-SHELL without a command ran "/bin/sh -c" alone; dockerd
		// 20.10 panicked on it).
		res.Output = fmt.Sprintf("healthcheck for container %s has no command", id)
		return res
	}
	if hc.Test[0] == "CMD-SHELL" {
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		cmd = append(shell, cmd...)
	}
	e := &execRec{id: newID(), container: id, user: user, workingDir: wd, detachKeys: []byte{},
		cfg: container.ExecCreateRequest{Cmd: cmd, AttachStdout: true, AttachStderr: true}}
	d.containerEvent(c, execAction(events.ActionExecCreate, cmd), "execID", e.id)
	d.containerEvent(c, execAction(events.ActionExecStart, cmd), "execID", e.id)
	proc, err := d.execProcess(c, e)
	if err != nil {
		res.Output = err.Error()
		return res
	}
	r, w, err := os.Pipe()
	if err != nil {
		res.Output = err.Error()
		return res
	}
	p, err := d.rt.Exec(ctx, id, proc, runtime.ExecOptions{Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		r.Close()
		var se *runtime.StartError
		if errors.As(err, &se) {
			err = fmt.Errorf("OCI runtime exec failed: exec failed: %w: unknown", se)
		}
		res.Output = err.Error()
		return res
	}
	defer p.Close()
	var out limitedBuffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, r); r.Close(); close(copied) }()
	exited := make(chan int, 1)
	go func() {
		code, err := p.Wait(context.Background())
		if err == nil {
			d.containerEvent(c, events.ActionExecDie, "execID", e.id, "exitCode", strconv.Itoa(code))
		}
		exited <- code
	}()
	timer := time.NewTimer(hc.Timeout)
	defer timer.Stop()
	select {
	case code := <-exited:
		<-copied
		res.ExitCode, res.Output = code, out.String()
	case <-timer.C:
		killPid(p.Pid)
		res.Output = fmt.Sprintf("Health check exceeded timeout (%v)", hc.Timeout)
		if o := out.String(); o != "" {
			res.Output += ": " + o
		}
	case <-ctx.Done():
		killPid(p.Pid)
	}
	return res
}

// limitedBuffer keeps the first maxHealthOutput bytes written to it;
// String adds "..." when more came.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(maxHealthOutput-b.buf.Len(), len(p))
	if keep > 0 {
		b.buf.Write(p[:keep])
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "..."
	}
	return b.buf.String()
}

// recordHealth applies a result: healthy on success; a failure adds to
// the failing streak, unhealthy after Retries in a row, except while the
// container is starting within its start period. It reports false, and
// records nothing, when the check was stopped meanwhile (ctx, the check's
// own, is cancelled under c.mu): a probe in flight across an exit, a
// pause, a restart or a remove never writes its result into the record.
func (d *Daemon) recordHealth(ctx context.Context, c *ctr, hc *container.HealthConfig, res *container.HealthcheckResult) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.rec.Health
	if ctx.Err() != nil || h == nil || c.rec.deleted {
		return false
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > maxHealthLog {
		h.Log = h.Log[len(h.Log)-maxHealthLog:]
	}
	old := h.Status
	if res.ExitCode == 0 {
		h.Status, h.FailingStreak = container.Healthy, 0
	} else if h.Status != container.Starting || res.Start.Sub(c.rec.State.StartedAt) >= hc.StartPeriod {
		h.FailingStreak++
		if h.FailingStreak >= hc.Retries {
			h.Status = container.Unhealthy
		}
	}
	d.save(&c.rec)
	if h.Status != old {
		d.containerEvent(c, events.Action(string(events.ActionHealthStatus)+": "+string(h.Status)))
	}
	return true
}
