package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mobysignal "github.com/moby/sys/signal"
	"github.com/moby/term"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
	"github.com/hullproject/hull/internal/runtime"
)

type imageConfig = image.Config

// ContainerStart is POST /containers/{id}/start.
func (d *Daemon) ContainerStart(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.rec.State.Status {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return fmt.Errorf("container %s is already started: %w", c.rec.ID, errdefs.ErrNotModified) // dockerd's 304
	case container.StateRemoving, container.StateDead:
		return fmt.Errorf("container %s is %s: %w", c.rec.ID, c.rec.State.Status, errdefs.ErrConflict)
	}
	c.rec.RestartCount = 0
	c.stopping = false
	c.rec.ManuallyStopped, c.rec.StoppedByDaemon = false, false
	return d.startLocked(context.WithoutCancel(ctx), c)
}

// startLocked mounts the container's layers, writes its bundle and has the
// compute service create and start it. c.mu is held.
func (d *Daemon) startLocked(ctx context.Context, c *ctr) (retErr error) {
	if d.win != nil {
		return d.startWindows(ctx, c)
	}
	id := c.rec.ID
	tr := d.trace(id)
	tr.begin("start requested")
	waitCleaned(c) // the compute service container of the last exit
	fail := func(err error) error {
		// A command the image does not have, or cannot run, is the
		// client's mistake (400; the docker CLI's exit code 127 or 126),
		// recorded with the exit code and text dockerd gives it.
		var se *runtime.StartError
		if errors.As(err, &se) {
			c.rec.State.ExitCode = se.ExitCode
			err = fmt.Errorf("failed to create shim task: OCI runtime create failed: runc create failed: %w: unknown", se)
		} else if msg := err.Error(); strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		c.rec.State.Error = errdefs.Message(err) // as the start's answer says it
		if c.rec.State.ExitCode == 0 {
			c.rec.State.ExitCode = 128 // dockerd's code for a start that failed otherwise
		}
		d.save(&c.rec)
		c.notify() // attaches waiting for the start give up
		if c.rec.HostConfig.AutoRemove {
			go d.ContainerRemove(context.WithoutCancel(ctx), id, true, true)
		}
		return err
	}
	info, err := d.layers.Get(ctx, id)
	if err != nil {
		return fail(err)
	}
	tr.step("layer chain read", "layers", fmt.Sprint(len(info.Chain)+1))
	mount := d.layers.Mount
	if c.rec.HostConfig.AutoRemove {
		// Removed when it stops, or at the next start after a crash of
		// the host: nothing it writes needs a sync, and its unmount does
		// not wait for one of the whole data root's file system.
		mount = d.layers.MountVolatile
	}
	merged, err := mount(ctx, id)
	if err != nil {
		return fail(err)
	}
	tr.step("layer mounted", "rootfs", merged)
	defer func() {
		if retErr != nil {
			d.layers.Unmount(context.WithoutCancel(ctx), id)
		}
	}()
	sb, addrs, err := d.attachNetwork(ctx, &c.rec)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if retErr != nil {
			d.detachNetwork(context.WithoutCancel(ctx), &c.rec, true)
			d.unmountVolumes(c)
		}
	}()
	if sb != nil {
		tr.step("network attached", "compartment", sb.Path, "description", sb.Description(), "addresses", fmt.Sprint(addrs))
	}
	spec, err := d.buildSpec(c, merged, sb, addrs)
	if err != nil {
		return fail(err)
	}
	d.volumeMountEvents(c, events.ActionMount)
	bundle := d.bundleDir(id)
	if err := writeBundle(bundle, spec); err != nil {
		return fail(err)
	}
	tr.step("spec written", "bundle", bundle)
	cfg := c.rec.Config
	// A one-off run in the foreground (docker run --rm without -d: a
	// client attached, waiting for the start, and nothing of the container
	// kept after it) is served by its shim itself, ready ~11 ms sooner;
	// any other gets the small resident hull-monitor. Not every attached
	// container: docker compose up attaches too, then lists the project's
	// containers and only then subscribes to events, and a container that
	// exits in that gap (the list waits for the start here) leaves it
	// waiting for a die event it missed — one CI run of three.
	opts := runtime.CreateOptions{LogPath: d.runtimeLogPath(&c.rec), LogFormat: criLogFormat(&c.rec), OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce,
		InProcess: c.rec.HostConfig.AutoRemove && (cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr),
		Steps:     func(st runtime.TimedStep) { tr.stepAt(st.Name, st.At) }}
	d.rt.Delete(ctx, id, true) // what a crash may have left under this id
	// After that Delete: a shim left under this id lets its ports go.
	ports, err := d.publishPorts(id)
	if err != nil {
		return fail(err)
	}
	defer closePorts(ports)
	if len(ports) > 0 {
		tr.step("ports bound", "ports", fmt.Sprint(len(ports)))
	}
	opts.Ports = ports
	if err := d.rt.Create(ctx, id, bundle, opts); err != nil {
		return fail(err)
	}
	tr.step("create answered")
	crashpoint.At("start: the init is created, not started")
	// Clients that attached before start connect to the shim now, before
	// the process runs, so that they see all its output.
	close(c.created)
	c.attachers.Wait()
	tr.step("attached clients connected")
	if err := d.rt.Start(ctx, id); err != nil {
		d.rt.Delete(context.WithoutCancel(ctx), id, true)
		c.created = make(chan struct{})
		return fail(err)
	}
	tr.step("process started")
	crashpoint.At("start: the process runs, its state is not recorded")
	st, _ := d.rt.State(ctx, id)
	// FinishedAt stays the last exit's until the next one, as dockerd
	// keeps it (a restarted container shows when it last stopped).
	c.rec.State = state{Status: container.StateRunning, Pid: st.Pid, StartedAt: time.Now().UTC(), FinishedAt: c.rec.State.FinishedAt}
	if err := d.save(&c.rec); err != nil {
		slog.Error("save container state", "id", id, "error", err)
	}
	c.notify()
	tr.done(d.cfg.Debug)
	d.containerEvent(c, events.ActionStart)
	d.startHealth(c)
	go d.monitor(c)
	return nil
}

// monitor waits for the container's process to exit, then records it and
// applies the restart policy or auto-removal.
func (d *Daemon) monitor(c *ctr) {
	id := c.rec.ID
	e, err := d.rt.WaitExit(context.Background(), id)
	if err != nil {
		if !errdefs.IsNotFound(err) {
			slog.Error("wait for container", "id", id, "error", err)
		}
		e = runtime.Exit{Code: 255}
	}
	d.exited(c, e.Code, e.OOMKills)
}

// exited records the exit of c's process and cleans up the compute
// service's container and the mount. oomKills is the compute service's
// count of the container's OOM kills when it came with the exit; nil: it
// is asked here.
func (d *Daemon) exited(c *ctr, code int, oomKills *uint64) {
	ctx := context.Background()
	id := c.rec.ID
	tr := d.trace(id)
	tr.begin("exit seen")
	c.mu.Lock()
	// As dockerd: the state and the die event, then the waiters for the
	// exit (dockerd 20.10's SetStopped releases them before its cleanup
	// too), then the cleanup (network disconnect events follow die).
	if c.stopping {
		crashpoint.At("stop: the process has exited, nothing is cleaned up or recorded")
	}
	d.stopHealthLocked(c)
	if d.win == nil {
		// Asked of the shim before Delete removes the cgroup.
		if oomKills == nil {
			n, err := d.rt.OOMKills(ctx, id)
			if err == nil {
				oomKills = &n
			}
		}
		c.rec.State.OOMKilled = oomKills != nil && *oomKills > 0
	}
	c.rec.State.Status = container.StateExited
	c.rec.State.ExitCode = code
	c.rec.State.Pid = 0
	c.rec.State.FinishedAt = time.Now().UTC()
	c.exits, c.exitCode = c.exits+1, code
	// The status is recorded before the cleanup deletes the shim, which
	// holds it: a daemon that dies during the cleanup comes back with the
	// real exit code (reconcile finishes the cleanup of a record that is
	// not running), not 255. An auto-remove container's is not: its
	// record goes in a moment, and a daemon that dies first removes it at
	// its next start whatever the record says (restore) — two writes of
	// hull.db, ~2 ms, fewer on the path of docker run --rm.
	autoRemove := c.rec.HostConfig.AutoRemove && !c.restarting
	if !autoRemove {
		d.save(&c.rec)
	}
	d.containerEvent(c, events.ActionDie, "exitCode", strconv.Itoa(code))
	// The exit's waiters (next-exit, not-running) have their answer now,
	// before the cleanup; a start, rm or inspect after it waits for mu.
	c.lastExit.Store(&exitMark{n: c.exits, code: code})
	c.notify()
	tr.step("exit recorded")
	if d.win != nil {
		if c.win != nil {
			if err := d.win.stop(ctx, c.win); err != nil {
				slog.Warn("release a Windows container", "id", id, "error", err)
			}
			c.win = nil
		}
	} else {
		if ownPidNamespace(c.rec.HostConfig) {
			// Nothing of the container runs any more: its root file
			// system goes now, its compute service container (cgroups,
			// state, shim) once the waiters have their answer.
			d.deleteComputeLater(c)
		} else {
			// Processes of the container may outlive its init (the
			// host's pid namespace, or another container's): the
			// compute service's delete kills them before the unmount.
			d.reportLogLoss(ctx, id)
			if err := d.rt.Delete(ctx, id, true); err != nil && !errdefs.IsNotFound(err) {
				slog.Error("delete the compute container", "id", id, "error", err)
			}
		}
		// An auto-removal with a pid namespace of its own: nothing uses
		// the root file system any more, and the remove that follows
		// puts the layer in the trash mounted, where the unmount happens
		// off the path (remove's keepMount, DiscardMounted).
		if !autoRemove || !ownPidNamespace(c.rec.HostConfig) {
			if err := d.layers.Unmount(ctx, id); err != nil {
				slog.Error("unmount the container's layer", "id", id, "error", err)
			}
			tr.step("layer unmounted")
		}
		d.detachNetwork(ctx, &c.rec, true)
		tr.step("network detached")
		d.releaseShm(id)
		d.unmountVolumes(c)
		d.volumeMountEvents(c, events.ActionUnmount)
	}
	d.dropExecs(id)
	if c.stopping {
		crashpoint.At("stop: the container is cleaned up, its exit is not recorded")
	}
	c.created = make(chan struct{})
	if !autoRemove {
		d.save(&c.rec)
	}
	c.notify()
	tr.step("exit cleaned up")
	restart := d.shouldRestart(c, code)
	c.mu.Unlock()
	slog.Debug("container exited", "id", id, "code", code, "restart", restart)
	switch {
	case restart:
		go d.restartLater(c)
	case autoRemove:
		if err := d.remove(ctx, id, true, true, true); err != nil && !errdefs.IsNotFound(err) {
			slog.Error("auto-remove", "id", id, "error", err)
		}
	}
}

func (d *Daemon) shouldRestart(c *ctr, code int) bool {
	if c.stopping || c.restarting || c.removed || d.shuttingDown.Load() {
		return false
	}
	p := c.rec.HostConfig.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaximumRetryCount == 0 || c.rec.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// restartLater restarts c after Docker's back-off: 100 ms doubling with
// each restart, up to a minute.
func (d *Daemon) restartLater(c *ctr) {
	c.mu.Lock()
	n := c.rec.RestartCount
	c.rec.State.Status = container.StateRestarting
	c.notify()
	c.mu.Unlock()
	delay := 100 * time.Millisecond << min(n, 9)
	time.Sleep(min(delay, time.Minute))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed || c.stopping || c.rec.State.Status != container.StateRestarting {
		return
	}
	c.rec.RestartCount++
	if err := d.startLocked(context.Background(), c); err != nil {
		slog.Error("restart", "id", c.rec.ID, "error", err)
		c.rec.State.Status = container.StateExited
		d.save(&c.rec)
		c.notify()
	}
}

// ContainerStop is POST /containers/{id}/stop: the stop signal (signal, or
// the container's StopSignal, or SIGTERM), then SIGKILL after timeout
// seconds (the container's StopTimeout or 10; negative: never). A client
// that hangs up does not cancel the stop, as with dockerd.
func (d *Daemon) ContainerStop(ctx context.Context, ref string, timeout *int, signal string) error {
	ctx = context.WithoutCancel(ctx)
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.rec.State.Status == container.StateRestarting {
		d.cancelRestart(c)
		c.mu.Unlock()
		d.containerEvent(c, events.ActionStop)
		return nil
	}
	if c.rec.State.Status != container.StateRunning && c.rec.State.Status != container.StatePaused {
		c.mu.Unlock()
		return fmt.Errorf("container %s %w", c.rec.ID, errNotModified)
	}
	stopSignal := c.rec.Config.StopSignal
	t := 10
	if c.rec.Config.StopTimeout != nil {
		t = *c.rec.Config.StopTimeout
	}
	c.mu.Unlock()
	if timeout != nil {
		t = *timeout
	}
	sig := syscall.SIGTERM
	if stopSignal != "" {
		if sig, err = parseSignal(stopSignal); err != nil {
			return fmt.Errorf("cannot stop container: %s: %w", ref, err)
		}
	}
	if signal != "" {
		if sig, err = parseSignal(signal); err != nil {
			return fmt.Errorf("cannot stop container: %s: %w", ref, err)
		}
	}
	if err := d.stop(ctx, c, sig, t); err != nil {
		return fmt.Errorf("cannot stop container: %s: %w", ref, err)
	}
	d.containerEvent(c, events.ActionStop)
	return nil
}

// stop sends sig to c, waits timeout seconds (negative: for ever) for it
// to stop, and then kills it.
func (d *Daemon) stop(ctx context.Context, c *ctr, sig syscall.Signal, timeout int) error {
	wait := time.Duration(timeout) * time.Second
	if timeout < 0 {
		wait = time.Duration(math.MaxInt64)
	}
	if err := d.killWithSignal(ctx, c, sig, wait); err != nil {
		if errdefs.IsConflict(err) {
			return nil // it stopped meanwhile
		}
		wait = min(wait, 2*time.Second)
	}
	crashpoint.At("stop: the signal is sent, the exit is not awaited")
	if waitNotRunning(ctx, c, wait) {
		return nil
	}
	return d.killAndWait(ctx, c)
}

// killAndWait kills c and waits for it to stop (waitKilled).
func (d *Daemon) killAndWait(ctx context.Context, c *ctr) error {
	if err := d.killWithSignal(ctx, c, syscall.SIGKILL, 0); err != nil && !errdefs.IsConflict(err) {
		slog.Warn("kill", "id", c.rec.ID, "error", err)
	}
	return d.waitKilled(ctx, c)
}

// waitKilled waits for c, sent SIGKILL, to stop, as dockerd: 10 s, then
// every process of it is killed once more.
func (d *Daemon) waitKilled(ctx context.Context, c *ctr) error {
	if waitNotRunning(ctx, c, 10*time.Second) {
		return nil
	}
	d.kill(ctx, c, syscall.SIGKILL, true)
	if waitNotRunning(ctx, c, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("container %s did not stop after SIGKILL: %w", c.rec.ID, errdefs.ErrUnavailable)
}

// killWithSignal sends sig to c's init as dockerd does: sig, if it is the
// container's stop signal or SIGKILL (or the container has no stop signal
// of its own), means the restart policy does not apply to this exit, and
// a paused container is resumed after it so that sig is delivered; a
// restarting container only stops restarting. A signal that the init does
// not handle yet is held for up to redeliver (see runtime.Signal).
func (d *Daemon) killWithSignal(ctx context.Context, c *ctr, sig syscall.Signal, redeliver time.Duration) error {
	c.mu.Lock()
	st := c.rec.State.Status
	if st != container.StateRunning && st != container.StatePaused && st != container.StateRestarting {
		c.mu.Unlock()
		return fmt.Errorf("Container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
	}
	exitOnNext := true
	if s := c.rec.Config.StopSignal; s != "" && sig != syscall.SIGKILL {
		stopSig, err := parseSignal(s)
		exitOnNext = err == nil && stopSig == sig
	}
	if exitOnNext {
		c.stopping = true
	}
	if d.shuttingDown.Load() {
		c.rec.StoppedByDaemon = true
	} else {
		c.rec.ManuallyStopped = true
	}
	if st == container.StateRestarting {
		if exitOnNext {
			d.cancelRestart(c)
		}
		c.mu.Unlock()
		return nil
	}
	d.save(&c.rec)
	c.mu.Unlock()
	d.containerEvent(c, events.ActionKill, "signal", strconv.Itoa(int(sig)))
	var err error
	if d.win == nil && sig != syscall.SIGKILL {
		err = d.rt.Signal(ctx, c.rec.ID, int(sig), redeliver)
	} else {
		err = d.kill(ctx, c, sig, false)
	}
	if err != nil {
		if errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
			return fmt.Errorf("Container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
		}
		return err
	}
	// A SIGKILL reaches a paused container (the runtime thaws it to
	// deliver it); another signal waits for the resume.
	if st == container.StatePaused && exitOnNext && sig != syscall.SIGKILL {
		d.resume(ctx, c)
	}
	return nil
}

// resume thaws a paused container (the unpause a stop makes).
func (d *Daemon) resume(ctx context.Context, c *ctr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.State.Status != container.StatePaused {
		return
	}
	if err := d.rt.Resume(ctx, c.rec.ID); err != nil {
		slog.Warn("resume to deliver a signal", "id", c.rec.ID, "error", err)
		return
	}
	c.rec.State.Status = container.StateRunning
	d.resumeHealth(c)
	d.save(&c.rec)
	c.notify()
	d.containerEvent(c, events.ActionUnPause)
}

// cancelRestart ends the restarting of c: it stays exited. c.mu is held.
func (d *Daemon) cancelRestart(c *ctr) {
	c.stopping = true
	c.rec.State.Status = container.StateExited
	d.save(&c.rec)
	c.notify()
}

// waitNotRunning waits until c is not running, up to timeout.
func waitNotRunning(ctx context.Context, c *ctr, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		running := c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused
		ch := c.changed
		c.mu.Unlock()
		if !running {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// stopTimeout is c's stop timeout: how long a signal may wait for the
// container's init to handle it.
func stopTimeout(c *ctr) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.rec.Config.StopTimeout; t != nil && *t >= 0 {
		return time.Duration(*t) * time.Second
	}
	return 10 * time.Second
}

// ContainerKill is POST /containers/{id}/kill: signal (SIGKILL when
// empty) to the container's init. A SIGKILL returns once the container
// has stopped, as with dockerd.
func (d *Daemon) ContainerKill(ctx context.Context, ref, signal string) error {
	ctx = context.WithoutCancel(ctx)
	sig := syscall.SIGKILL
	if signal != "" {
		var err error
		if sig, err = parseSignal(signal); err != nil {
			return err
		}
	}
	c, err := d.lookup(ref)
	if err != nil {
		return fmt.Errorf("Cannot kill container: %s: %w", ref, err)
	}
	if !signalValid(sig) {
		return fmt.Errorf("Cannot kill container: %s: The %s daemon does not support signal %d: %w", ref, goruntime.GOOS, sig, errdefs.ErrInvalidArgument)
	}
	if sig == syscall.SIGKILL {
		err = d.killWithSignal(ctx, c, sig, 0)
		if err == nil {
			err = d.waitKilled(ctx, c)
		}
	} else {
		err = d.killWithSignal(ctx, c, sig, stopTimeout(c))
	}
	if err != nil {
		return fmt.Errorf("Cannot kill container: %s: %w", ref, err)
	}
	return nil
}

// ContainerRestart is POST /containers/{id}/restart: a stop as
// ContainerStop, then a start. Neither the restart policy nor auto-removal
// applies to the stop (dockerd keeps an auto-remove container through a
// restart), and a client that hangs up does not cancel it.
func (d *Daemon) ContainerRestart(ctx context.Context, ref string, timeout *int, signal string) error {
	ctx = context.WithoutCancel(ctx)
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.restarting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.restarting = false
		c.mu.Unlock()
	}()
	if err := d.ContainerStop(ctx, ref, timeout, signal); err != nil && !errors.Is(err, errNotModified) {
		return fmt.Errorf("Cannot restart container %s: %w", ref, err)
	}
	if err := d.ContainerStart(ctx, ref); err != nil && !errdefs.IsNotModified(err) {
		return fmt.Errorf("Cannot restart container %s: %w", ref, err)
	}
	d.containerEvent(c, events.ActionRestart)
	return nil
}

// ContainerRemove is DELETE /containers/{id}. It answers once the
// container is gone, its compute service container too; the files of its
// scratch layer and folders are deleted after (see reap.go).
func (d *Daemon) ContainerRemove(ctx context.Context, ref string, force, volumes bool) error {
	return d.remove(ctx, ref, force, volumes, false)
}

// remove is ContainerRemove; auto is an auto-removal after the exit, which
// does not wait for the exit's compute service deletion (deleteComputeLater)
// either: its waiters for condition removed are answered once the record is
// gone, the name free and the scratch layer out of the layer store.
func (d *Daemon) remove(ctx context.Context, ref string, force, volumes, auto bool) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	st := c.rec.State.Status
	if c.removed {
		c.mu.Unlock()
		return fmt.Errorf("removal of container %s is already in progress: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if (st == container.StateRunning || st == container.StatePaused || st == container.StateRestarting) && !force {
		c.mu.Unlock()
		procedure := "Stop the container before attempting removal or force remove"
		if st == container.StatePaused {
			procedure = "Unpause and then stop the container before attempting removal or force remove"
		}
		return errdefs.Dockerf(errdefs.ErrConflict, "You cannot remove a %s container %s. %s", st, c.rec.ID, procedure)
	}
	c.removed = true
	c.stopping = true
	c.mu.Unlock()
	if st == container.StateRunning || st == container.StatePaused {
		d.kill(ctx, c, syscall.SIGKILL, true)
		waitNotRunning(ctx, c, 30*time.Second)
	}
	// Lock order: d.mu before c.mu (rename, info); so c.mu is let go
	// before the daemon's maps are changed below.
	c.mu.Lock()
	id, name, mounts := c.rec.ID, c.rec.Name, c.rec.Mounts
	tr := d.trace(id)
	tr.begin("remove requested")
	keepMount := false
	if d.win == nil {
		// The auto-remove that follows an exit whose cleanup left the
		// layer mounted (a pid namespace of its own: nothing of the
		// container runs) leaves the unmount to the trash.
		keepMount = auto && c.cleaned != nil && ownPidNamespace(c.rec.HostConfig)
		if !auto || c.cleaned == nil {
			waitCleaned(c)
			d.rt.Delete(ctx, id, true)
		}
		if !keepMount {
			if err := d.layers.Unmount(ctx, id); err != nil {
				slog.Warn("unmount before remove", "id", id, "error", err)
			}
		}
		// The exit detached it, as a rule: a detach with nothing to
		// take still writes hull.db (~0.7 ms).
		if d.net.Sandbox(id) != nil || len(d.net.Endpoints(id)) > 0 {
			d.detachNetwork(ctx, &c.rec, false)
		}
		d.releaseShm(id)
	}
	crashpoint.At("rm: the process is gone, the layer is not")
	if err := d.removeScratch(ctx, id, keepMount); err != nil && !errdefs.IsNotFound(err) {
		c.removed = false
		c.mu.Unlock()
		return err
	}
	tr.step("scratch layer taken out")
	crashpoint.At("rm: the layer is gone, the record is not")
	d.execMu.Lock()
	for eid, e := range d.execs {
		if e.container == id {
			delete(d.execs, eid)
		}
	}
	d.execMu.Unlock()
	if err := d.dbq.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketContainers).Delete([]byte(id)) }); err != nil {
		c.removed = false
		c.mu.Unlock()
		return err
	}
	c.rec.deleted = true
	c.rec.State.Status = container.StateRemoving
	c.mu.Unlock()
	d.mu.Lock()
	delete(d.ctrs, id)
	d.saved.Delete(id)
	if d.names[name] == id {
		delete(d.names, name)
	}
	d.mu.Unlock()
	tr.step("record removed")
	d.dropTrace(id)
	crashpoint.At("rm: the record is gone, the files are not")
	if auto {
		d.removeFoldersLater(id)
	} else {
		// docker rm answers once they are gone, as before.
		os.RemoveAll(d.bundleDir(id))
		os.RemoveAll(d.containerDir(id))
	}
	crashpoint.At("rm: the record is gone, the volumes are not")
	if volumes {
		// Anonymous volumes go with their container, unless another uses one.
		for _, vol := range usedVolumes(mounts, func(n string) bool { r, err := d.getVolume(n); return err == nil && r.Anonymous }) {
			if len(d.volumeUsers(vol)) == 0 {
				d.removeVolume(vol)
			}
		}
	} else {
		d.keepAnonymous(id, mounts)
	}
	c.mu.Lock()
	c.gone = true
	c.notify()
	c.mu.Unlock()
	d.containerEvent(c, events.ActionDestroy)
	return nil
}

// ContainerWait is POST /containers/{id}/wait: it returns at once (the
// server flushes the headers) and the channel gives the status when
// condition holds.
func (d *Daemon) ContainerWait(ctx context.Context, ref string, condition string) (<-chan container.WaitResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	switch condition {
	case "", "not-running", "next-exit", "removed":
	default:
		return nil, fmt.Errorf("invalid condition: %q: %w", condition, errdefs.ErrInvalidArgument)
	}
	c.mu.Lock()
	ch := c.changed
	exits := c.exits
	c.mu.Unlock()
	out := make(chan container.WaitResponse, 1)
	// exitedSince answers an exit since the wait began without mu, which
	// the exit's cleanup holds (ctr.lastExit).
	exitedSince := func() bool {
		m := c.lastExit.Load()
		if condition == "removed" || m == nil || m.n <= exits {
			return false
		}
		out <- container.WaitResponse{StatusCode: int64(m.code)}
		return true
	}
	go func() {
		for {
			if exitedSince() {
				return
			}
			c.mu.Lock()
			st, code, removed := c.rec.State.Status, c.rec.State.ExitCode, c.gone
			exited := c.exits > exits
			if exited {
				code = c.exitCode
			}
			c.mu.Unlock()
			notRunning := st != container.StateRunning && st != container.StatePaused && st != container.StateRestarting
			done := false
			switch condition {
			case "", "not-running":
				// An exit releases the wait even if a restart
				// already followed it (as dockerd).
				done = notRunning || exited
			case "next-exit":
				done = exited
			case "removed":
				done = removed
			}
			if done {
				out <- container.WaitResponse{StatusCode: int64(code)}
				return
			}
			select {
			case <-ch:
				if exitedSince() {
					return
				}
				c.mu.Lock()
				ch = c.changed
				c.mu.Unlock()
			case <-ctx.Done():
				close(out)
				return
			}
		}
	}()
	return out, nil
}

// ContainerResize is POST /containers/{id}/resize.
func (d *Daemon) ContainerResize(ctx context.Context, ref string, height, width uint16) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.rec.State.Status == container.StateRunning
	c.mu.Unlock()
	if !running {
		return fmt.Errorf("Container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
	}
	// Without a terminal there is nothing to resize; dockerd says yes.
	if c.rec.Config.Tty {
		if err := d.rt.Resize(ctx, c.rec.ID, width, height); err != nil {
			return err
		}
	}
	d.containerEvent(c, events.ActionResize, "height", strconv.Itoa(int(height)), "width", strconv.Itoa(int(width)))
	return nil
}

// ContainerAttach is POST /containers/{id}/attach, as dockerd answers it:
// with logs, the container's log so far; with stream, its streams from
// then on — for a container that is not running, from its next start —
// until its output ends or ctx is done. Nil streams are not attached.
// attached is called once the request is accepted (the server answers its
// head then), before any output. With a terminal, detachKeys (default
// ctrl-p,ctrl-q) on stdin end the attach and leave the container running.
func (d *Daemon) ContainerAttach(ctx context.Context, ref string, logs, stream bool, detachKeys string, stdin io.Reader, stdout, stderr io.Writer, attached func()) error {
	return d.containerAttach(ctx, ref, logs, stream, detachKeys, true, stdin, stdout, stderr, attached)
}

// containerAttach is ContainerAttach; with escape false a terminal's stdin
// has no detach keys (ContainerAttachRaw).
func (d *Daemon) containerAttach(ctx context.Context, ref string, logs, stream bool, detachKeys string, escape bool, stdin io.Reader, stdout, stderr io.Writer, attached func()) error {
	opts := struct {
		Stdin          io.Reader
		Stdout, Stderr io.Writer
	}{stdin, stdout, stderr}
	keys := []byte{}
	if detachKeys != "" {
		var err error
		if keys, err = term.ToBytes(detachKeys); err != nil {
			return fmt.Errorf("Invalid detach keys (%s) provided: %w", detachKeys, errdefs.ErrInvalidArgument)
		}
	}
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	switch c.rec.State.Status {
	case container.StatePaused:
		c.mu.Unlock()
		return fmt.Errorf("container %s is paused, unpause the container before attach: %w", ref, errdefs.ErrConflict)
	case container.StateRestarting:
		c.mu.Unlock()
		return fmt.Errorf("container %s is restarting, wait until the container is running: %w", ref, errdefs.ErrConflict)
	}
	created, changed, failed := c.created, c.changed, c.rec.State.Error
	tty := c.rec.Config.Tty
	c.attachers.Add(1)
	pending := true
	done := func() {
		if pending {
			pending = false
			c.attachers.Done()
		}
	}
	defer done()
	c.mu.Unlock()
	attached()
	// With logs, the log so far now; with stream too, the rest of the log
	// up to where the client joins the streams, once it has.
	replay := func(int64) error { return nil }
	if logs && (stdout != nil || stderr != nil) {
		c.mu.Lock()
		none := noLog(&c.rec)
		c.mu.Unlock()
		if none {
			return fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrNotImplemented)
		}
		replayed, err := d.replayLog(c, 0, -1, stdout, stderr)
		if err != nil {
			return err
		}
		replay = func(to int64) error {
			if to <= replayed {
				return nil
			}
			_, err := d.replayLog(c, replayed, to, stdout, stderr)
			return err
		}
	}
	d.containerEvent(c, events.ActionAttach)
	if !stream {
		return nil
	}
	for waiting := true; waiting; {
		select {
		case <-created:
			waiting = false
		case <-changed:
			c.mu.Lock()
			st, msg, removed := c.rec.State.Status, c.rec.State.Error, c.removed
			created, changed = c.created, c.changed
			c.mu.Unlock()
			if removed || st != container.StateRunning && msg != "" && msg != failed {
				return fmt.Errorf("the container did not start: %s: %w", msg, errdefs.ErrConflict)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if tty && opts.Stdin != nil && escape {
		if len(keys) == 0 {
			keys = []byte{16, 17} // ctrl-p,ctrl-q: dockerd's default
		}
		opts.Stdin = term.NewEscapeProxy(opts.Stdin, keys)
	}
	ctx, detach := context.WithCancelCause(ctx)
	defer detach(nil)
	err = d.attachStreams(ctx, c, opts.Stdin, opts.Stdout, opts.Stderr, done, replay, detach)
	var esc term.EscapeError
	if errors.As(context.Cause(ctx), &esc) {
		d.containerEvent(c, events.ActionDetach)
		return nil
	}
	return err
}

// attachStreams connects the streams to the running container's until its
// output ends or ctx is done; a read error of stdin ends ctx with it
// (detach keys: term.EscapeError). Once joined, it calls done, then replay
// with the log's offset at that moment (-1: unknown); the live output
// waits until replay has returned.
func (d *Daemon) attachStreams(ctx context.Context, c *ctr, stdin io.Reader, stdout, stderr io.Writer, done func(), replay func(logOffset int64) error, detach context.CancelCauseFunc) error {
	var held gates
	opts := struct {
		Stdin          io.Reader
		Stdout, Stderr io.Writer
	}{stdin, held.add(stdout), held.add(stderr)}
	defer held.Open()
	if d.win != nil {
		return d.attachWindows(ctx, c, opts.Stdin, opts.Stdout, opts.Stderr, done, func(at int64) error {
			defer held.Open()
			return replay(at)
		})
	}
	var err error
	var local []*os.File
	var ao runtime.AttachOptions
	var inW *os.File
	if opts.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		ao.Stdin, inW = r, w
		local = append(local, r)
	}
	var copies []chan struct{}
	pipeOut := func(dst io.Writer) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		local = append(local, w)
		ch := make(chan struct{})
		copies = append(copies, ch)
		go func() { io.Copy(dst, r); r.Close(); close(ch) }()
		return w, nil
	}
	if opts.Stdout != nil {
		if ao.Stdout, err = pipeOut(opts.Stdout); err != nil {
			return err
		}
	}
	if opts.Stderr != nil && !c.rec.Config.Tty {
		if ao.Stderr, err = pipeOut(opts.Stderr); err != nil {
			return err
		}
	}
	a, err := d.rt.Attach(ctx, c.rec.ID, ao)
	for _, f := range local {
		f.Close()
	}
	done()
	if err != nil {
		if inW != nil {
			inW.Close()
		}
		return err
	}
	defer a.Close()
	err = replay(a.LogOffset)
	held.Open()
	if err != nil {
		if inW != nil {
			inW.Close()
		}
		return err
	}
	if inW != nil {
		go func() {
			var esc term.EscapeError
			if _, err := io.Copy(inW, opts.Stdin); errors.As(err, &esc) {
				detach(err)
			}
			inW.Close()
		}()
	}
	waited := make(chan error, 1)
	go func() { waited <- a.Wait(ctx) }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.Close()
	for _, ch := range copies {
		<-ch
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

var errNotModified = fmt.Errorf("is not running: %w", errdefs.ErrNotModified)

// parseSignal reads a signal as dockerd does (moby/sys/signal: "TERM",
// "SIGTERM", "RTMIN+3" or a number), with its message.
func parseSignal(s string) (syscall.Signal, error) {
	sig, err := mobysignal.ParseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("Invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// signalValid reports whether sig is a signal of this platform.
func signalValid(sig syscall.Signal) bool { return mobysignal.ValidSignalForPlatform(sig) }
