package daemon

// What a container's exit and removal leave to do once their clients have
// their answer (issue 16): the compute service's container of an exited
// container whose processes are all gone, and the files of a removed one —
// its scratch layer, which the removal renamed into the layer store's
// trash (emptied at the daemon's start too), and an auto-removed one's
// folders. Each is the last step of its change, so a
// daemon that dies before it is done leaves what its next start removes
// anyway: the trash, compute service containers and folders without a
// record, the compute service container of a record that does not run
// (reconcile).

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// reaper runs the removals' last steps, one after the other, on its own
// goroutine, and empties the layer trash after them.
type reaper struct {
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	jobs []func(context.Context)

	// computes counts the deletions of compute service containers under
	// way (deleteComputeLater): Close waits for them.
	computes sync.WaitGroup
}

// startReaper starts the reaper; its first pass empties the trash a daemon
// that died left.
func (d *Daemon) startReaper() {
	ctx, cancel := context.WithCancel(context.Background())
	r := &d.reaper
	r.kick, r.cancel, r.done = make(chan struct{}, 1), cancel, make(chan struct{})
	r.kick <- struct{}{}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.kick:
			}
			r.mu.Lock()
			jobs := r.jobs
			r.jobs = nil
			r.mu.Unlock()
			for _, job := range jobs {
				job(ctx)
			}
			if err := d.layers.EmptyTrash(ctx); err != nil && ctx.Err() == nil {
				slog.Error("delete the files of removed layers", "error", err)
			}
		}
	}()
}

// later has the reaper run job after the jobs before it, then empty the
// trash.
func (d *Daemon) later(job func(context.Context)) {
	r := &d.reaper
	r.mu.Lock()
	r.jobs = append(r.jobs, job)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default: // a pass is due already
	}
}

// stopReaper waits for the compute service deletions under way, then
// stops the reaper after the deletion it runs and runs the jobs still
// queued (folders to remove): the files left in the trash wait for the
// next start.
func (d *Daemon) stopReaper() {
	r := &d.reaper
	r.computes.Wait()
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.mu.Lock()
	for _, job := range r.jobs {
		job(context.Background())
	}
	r.jobs = nil
	r.mu.Unlock()
}

// ownPidNamespace reports whether the container's processes are all in a
// pid namespace of its own: then the kernel has killed and reaped every
// one of them by the time its init's exit is reported, so nothing runs on
// its root file system any more.
func ownPidNamespace(h *container.HostConfig) bool {
	return h == nil || h.PidMode.IsPrivate()
}

// deleteComputeLater deletes the compute service's container of id — its
// cgroups, its state, its shim: ~10 ms, a helper process of the shim —
// after the exit's waiters have their answer. c.cleaned, closed when it is
// done, is what a start or an rm of c waits for. c.mu is held.
func (d *Daemon) deleteComputeLater(c *ctr) {
	id := c.rec.ID
	done := make(chan struct{})
	c.cleaned = done
	d.reaper.computes.Add(1)
	go func() {
		defer d.reaper.computes.Done()
		defer close(done)
		ctx := context.Background()
		d.reportLogLoss(ctx, id)
		if err := d.rt.Delete(ctx, id, true); err != nil && !errdefs.IsNotFound(err) {
			slog.Error("delete the compute container", "id", id, "error", err)
		}
	}()
}

// waitCleaned waits for the compute service deletion deleteComputeLater
// left of c's last exit, if any. c.mu is held (the deletion does not take it).
func waitCleaned(c *ctr) {
	if c.cleaned != nil {
		<-c.cleaned
		c.cleaned = nil
	}
}

// emptyTrash has the reaper delete the files of the layers in the layer
// store's trash (after the jobs before).
func (d *Daemon) emptyTrash() { d.later(func(context.Context) {}) }

// removeFoldersLater removes container id's folders (its bundle, its logs
// and files) once its record is gone: reconcile removes them at the next
// start if the daemon dies first.
func (d *Daemon) removeFoldersLater(id string) {
	bundle, dir := d.bundleDir(id), d.containerDir(id)
	d.later(func(context.Context) {
		os.RemoveAll(bundle)
		os.RemoveAll(dir)
	})
}
