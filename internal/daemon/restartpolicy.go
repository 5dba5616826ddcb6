package daemon

import (
	"context"
	"log/slog"
	"sync"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// startsAtDaemonStart is dockerd's rule for a container that does not run
// when the daemon starts: its restart policy starts it — always, whatever
// stopped it (Docker's documentation: a manually stopped container's
// policy is ignored only "until the Docker daemon restarts");
// unless-stopped, unless docker stop or kill stopped it; on-failure, after
// an exit that was not 0 while retries are left.
func startsAtDaemonStart(r *record) bool {
	if r.State.StartedAt.IsZero() {
		return false // never started: dockerd's HasBeenStartedBefore
	}
	p := r.HostConfig.RestartPolicy
	switch p.Name {
	case "always":
		return true
	case "unless-stopped":
		return !r.ManuallyStopped
	case "on-failure":
		return r.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || r.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// startAtDaemonStart applies the restart policies at daemon start, as
// dockerd's restore does. outlived are the containers that kept running
// although the daemon had live-restore off (it was killed, not stopped):
// they are stopped first as docker stop stops them — so unless-stopped
// then keeps them down, as with dockerd. stopped are the containers that
// did not run. Each of them whose policy says so (startsAtDaemonStart) is
// started afresh, its restart count back to 0. They are handled side by
// side; it returns when all are done.
func (d *Daemon) startAtDaemonStart(ctx context.Context, outlived, stopped []*ctr) {
	var wg sync.WaitGroup
	for _, c := range outlived {
		wg.Go(func() {
			slog.Info("live-restore is off: stopping a container that outlived the daemon", "id", c.rec.ID)
			if err := d.ContainerStop(ctx, c.rec.ID, nil, ""); err != nil {
				slog.Error("stop a container that outlived the daemon", "id", c.rec.ID, "error", err)
			}
			d.startByPolicy(ctx, c)
		})
	}
	for _, c := range stopped {
		wg.Go(func() { d.startByPolicy(ctx, c) })
	}
	wg.Wait()
}

// startByPolicy starts c, which has exited, if its restart policy says so
// at daemon start.
func (d *Daemon) startByPolicy(ctx context.Context, c *ctr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.State.Status != container.StateExited || !startsAtDaemonStart(&c.rec) {
		return
	}
	if _, err := d.layers.Get(ctx, c.rec.ID); errdefs.IsNotFound(err) {
		return // an rm cut short: reconcile marks it Dead
	}
	slog.Info("restart policy: starting the container at daemon start", "id", c.rec.ID, "policy", c.rec.HostConfig.RestartPolicy.Name)
	c.rec.RestartCount = 0
	c.stopping = false
	c.rec.ManuallyStopped, c.rec.StoppedByDaemon = false, false
	if err := d.startLocked(ctx, c); err != nil {
		slog.Error("start at daemon start", "id", c.rec.ID, "error", err)
	}
}

// stopAll runs stop for each id side by side and returns when all are done.
func stopAll(ids []string, stop func(id string)) {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { stop(id) })
	}
	wg.Wait()
}
