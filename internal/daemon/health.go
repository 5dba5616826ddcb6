package daemon

// Health checks: HEALTHCHECK from the image or --health-* flags, run as an
// exec in the container every interval; the status shows in inspect, in
// docker ps, and as health_status events.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/runtime"
)

const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	maxHealthLog          = 5
	maxHealthOutput       = 4096
)

// healthConfig is the container's effective check, nil for none.
func healthConfig(cfg *container.Config) *container.HealthConfig {
	h := cfg.Healthcheck
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	out := *h
	if out.Interval == 0 {
		out.Interval = defaultHealthInterval
	}
	if out.Timeout == 0 {
		out.Timeout = defaultHealthTimeout
	}
	if out.Retries == 0 {
		out.Retries = defaultHealthRetries
	}
	return &out
}

// startHealth runs the container's health check until it stops. c.mu is
// held.
func (d *Daemon) startHealth(c *ctr) {
	hc := healthConfig(c.rec.Config)
	if hc == nil {
		return
	}
	if c.stopHealth != nil {
		c.stopHealth()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopHealth = cancel
	c.rec.Health = &container.Health{Status: container.Starting, Log: []*container.HealthcheckResult{}}
	started := time.Now()
	go func() {
		interval := hc.Interval
		for {
			if hc.StartInterval > 0 && time.Since(started) < hc.StartPeriod {
				interval = hc.StartInterval
			} else {
				interval = hc.Interval
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			res := d.probe(ctx, c, hc)
			if ctx.Err() != nil {
				return
			}
			d.recordHealth(c, hc, res, time.Since(started) < hc.StartPeriod)
		}
	}()
}

// probe runs the check once, as an exec with the container's process
// settings.
func (d *Daemon) probe(ctx context.Context, c *ctr, hc *container.HealthConfig) *container.HealthcheckResult {
	res := &container.HealthcheckResult{Start: time.Now().UTC(), ExitCode: -1}
	defer func() { res.End = time.Now().UTC() }()
	args := hc.Test[1:]
	if hc.Test[0] == "CMD-SHELL" {
		args = []string{"/bin/sh", "-c", joinArgs(hc.Test[1:])}
	}
	b, err := os.ReadFile(filepath.Join(d.bundleDir(c.rec.ID), "config.json"))
	if err != nil {
		res.Output = err.Error()
		return res
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil || s.Process == nil {
		res.Output = "the container's spec has no process"
		return res
	}
	p := *s.Process
	p.Args, p.Terminal, p.ConsoleSize = slices.Clone(args), false, nil
	r, w, err := os.Pipe()
	if err != nil {
		res.Output = err.Error()
		return res
	}
	tctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	proc, err := d.rt.Exec(tctx, c.rec.ID, &p, runtime.ExecOptions{Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		r.Close()
		res.Output = err.Error()
		return res
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, io.LimitReader(r, maxHealthOutput))
		io.Copy(io.Discard, r)
		r.Close()
		close(copied)
	}()
	code, err := proc.Wait(tctx)
	if err != nil {
		// Timed out: the check is killed and counts as a failure.
		killPid(proc.Pid)
		proc.Close()
		res.Output = fmt.Sprintf("Health check exceeded timeout (%v)", hc.Timeout)
		return res
	}
	<-copied
	res.ExitCode, res.Output = code, out.String()
	return res
}

func joinArgs(a []string) string {
	if len(a) == 1 {
		return a[0]
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// recordHealth applies a result: healthy on success, unhealthy after
// Retries failures in a row (failures in the start period do not count).
func (d *Daemon) recordHealth(c *ctr, hc *container.HealthConfig, res *container.HealthcheckResult, starting bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.rec.Health
	if h == nil {
		return
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > maxHealthLog {
		h.Log = h.Log[len(h.Log)-maxHealthLog:]
	}
	old := h.Status
	if res.ExitCode == 0 {
		h.Status, h.FailingStreak = container.Healthy, 0
	} else if !starting || h.Status != container.Starting {
		h.FailingStreak++
		if h.FailingStreak >= hc.Retries {
			h.Status = container.Unhealthy
		}
	}
	d.save(&c.rec)
	if h.Status != old {
		d.containerEvent(c, events.Action("health_status: "+string(h.Status)))
	}
}
