package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"

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
		return nil // dockerd answers 304: already started
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
	fail := func(err error) error {
		// A command the image does not have is the client's mistake (400,
		// and the docker CLI's exit code 127), as with dockerd.
		if msg := err.Error(); strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		c.rec.State.Error = err.Error()
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
	merged, err := d.layers.Mount(ctx, id)
	if err != nil {
		return fail(err)
	}
	tr.step("layer mounted", "rootfs", merged)
	defer func() {
		if retErr != nil {
			d.layers.Unmount(context.WithoutCancel(ctx), id)
		}
	}()
	sb, addr, err := d.attachNetwork(ctx, &c.rec)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if retErr != nil {
			d.detachNetwork(context.WithoutCancel(ctx), &c.rec, true)
			d.unmountPluginVolumes(c)
		}
	}()
	if sb != nil {
		tr.step("network attached", "compartment", sb.Path, "description", sb.Description(), "address", addr.String())
	}
	spec, err := d.buildSpec(c, merged, sb, addr)
	if err != nil {
		return fail(err)
	}
	bundle := d.bundleDir(id)
	if err := writeBundle(bundle, spec); err != nil {
		return fail(err)
	}
	tr.step("spec written", "bundle", bundle)
	cfg := c.rec.Config
	opts := runtime.CreateOptions{LogPath: d.runtimeLogPath(&c.rec), OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce,
		Steps: func(st runtime.TimedStep) { tr.stepAt(st.Name, st.At) }}
	d.rt.Delete(ctx, id, true) // what a crash may have left under this id
	if err := d.rt.Create(ctx, id, bundle, opts); err != nil {
		return fail(err)
	}
	tr.step("create answered")
	// Clients that attached before start connect to the shim now, before
	// the process runs, so that they see all its output.
	close(c.created)
	c.attachers.Wait()
	if err := d.rt.Start(ctx, id); err != nil {
		d.rt.Delete(context.WithoutCancel(ctx), id, true)
		c.created = make(chan struct{})
		return fail(err)
	}
	tr.step("process started")
	st, _ := d.rt.State(ctx, id)
	c.rec.State = state{Status: container.StateRunning, Pid: st.Pid, StartedAt: time.Now().UTC()}
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
	code, err := d.rt.Wait(context.Background(), id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			code = 255
		} else {
			slog.Error("wait for container", "id", id, "error", err)
			code = 255
		}
	}
	d.exited(c, code)
}

// exited records the exit of c's process and cleans up the compute
// service's container and the mount.
func (d *Daemon) exited(c *ctr, code int) {
	ctx := context.Background()
	id := c.rec.ID
	c.mu.Lock()
	if d.win != nil {
		if c.win != nil {
			if err := d.win.stop(ctx, c.win); err != nil {
				slog.Warn("release a Windows container", "id", id, "error", err)
			}
			c.win = nil
		}
	} else {
		if err := d.rt.Delete(ctx, id, true); err != nil && !errdefs.IsNotFound(err) {
			slog.Error("delete the compute container", "id", id, "error", err)
		}
		if err := d.layers.Unmount(ctx, id); err != nil {
			slog.Error("unmount the container's layer", "id", id, "error", err)
		}
		d.detachNetwork(ctx, &c.rec, true)
		d.releaseShm(id)
		d.unmountPluginVolumes(c)
	}
	if c.stopHealth != nil {
		c.stopHealth()
		c.stopHealth = nil
	}
	c.rec.State.Status = container.StateExited
	c.rec.State.ExitCode = code
	c.rec.State.Pid = 0
	c.rec.State.FinishedAt = time.Now().UTC()
	c.created = make(chan struct{})
	d.save(&c.rec)
	c.notify()
	d.containerEvent(c, events.ActionDie, "exitCode", strconv.Itoa(code))
	restart := d.shouldRestart(c, code)
	autoRemove := c.rec.HostConfig.AutoRemove
	c.mu.Unlock()
	slog.Debug("container exited", "id", id, "code", code, "restart", restart)
	switch {
	case restart:
		go d.restartLater(c)
	case autoRemove:
		if err := d.ContainerRemove(ctx, id, true, true); err != nil && !errdefs.IsNotFound(err) {
			slog.Error("auto-remove", "id", id, "error", err)
		}
	}
}

func (d *Daemon) shouldRestart(c *ctr, code int) bool {
	if c.stopping || c.removed || d.shuttingDown.Load() {
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

// ContainerStop is POST /containers/{id}/stop: the stop signal, then
// SIGKILL after timeout seconds (the container's StopTimeout or 10).
func (d *Daemon) ContainerStop(ctx context.Context, ref string, timeout *int, signal string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.rec.State.Status == container.StateRestarting {
		c.stopping = true
		c.rec.State.Status = container.StateExited
		d.save(&c.rec)
		c.notify()
		c.mu.Unlock()
		return nil
	}
	if c.rec.State.Status != container.StateRunning && c.rec.State.Status != container.StatePaused {
		c.mu.Unlock()
		return fmt.Errorf("container %s %w", c.rec.ID, errNotModified)
	}
	c.stopping = true
	if d.shuttingDown.Load() {
		c.rec.StoppedByDaemon = true
	} else {
		c.rec.ManuallyStopped = true
	}
	if signal == "" {
		signal = c.rec.Config.StopSignal
	}
	t := 10
	if c.rec.Config.StopTimeout != nil {
		t = *c.rec.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	changed := c.changed
	c.mu.Unlock()
	sig, err := parseSignal(signal, syscall.SIGTERM)
	if err != nil {
		return err
	}
	if c.rec.State.Status == container.StatePaused {
		d.rt.Resume(ctx, c.rec.ID)
	}
	d.containerEvent(c, events.ActionKill, "signal", strconv.Itoa(int(sig)))
	d.kill(ctx, c, sig, false)
	if t < 0 {
		t = 1 << 30
	}
	if !waitNotRunning(ctx, c, changed, time.Duration(t)*time.Second) {
		d.containerEvent(c, events.ActionKill, "signal", strconv.Itoa(int(syscall.SIGKILL)))
		d.kill(ctx, c, syscall.SIGKILL, true)
		waitNotRunning(ctx, c, nil, 30*time.Second)
	}
	d.containerEvent(c, events.ActionStop)
	return nil
}

// waitNotRunning waits until c is not running, up to timeout.
func waitNotRunning(ctx context.Context, c *ctr, changed chan struct{}, timeout time.Duration) bool {
	deadline := time.After(timeout)
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
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// ContainerKill is POST /containers/{id}/kill.
func (d *Daemon) ContainerKill(ctx context.Context, ref, signal string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	sig, err := parseSignal(signal, syscall.SIGKILL)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused
	if running && (sig == syscall.SIGKILL || sig == syscall.SIGTERM) {
		c.stopping = true
		c.rec.ManuallyStopped = true
	}
	c.mu.Unlock()
	if !running {
		return fmt.Errorf("cannot kill container: %s: container %s is not running: %w", ref, c.rec.ID, errdefs.ErrConflict)
	}
	d.containerEvent(c, events.ActionKill, "signal", strconv.Itoa(int(sig)))
	return d.kill(ctx, c, sig, false)
}

// ContainerRestart is POST /containers/{id}/restart.
func (d *Daemon) ContainerRestart(ctx context.Context, ref string, timeout *int, signal string) error {
	if err := d.ContainerStop(ctx, ref, timeout, signal); err != nil && !errors.Is(err, errNotModified) {
		return err
	}
	if err := d.ContainerStart(ctx, ref); err != nil {
		return err
	}
	if c, err := d.lookup(ref); err == nil {
		d.containerEvent(c, events.ActionRestart)
	}
	return nil
}

// ContainerRemove is DELETE /containers/{id}.
func (d *Daemon) ContainerRemove(ctx context.Context, ref string, force, volumes bool) error {
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
		return fmt.Errorf("cannot remove container %q: container is %s: Stop the container before attempting removal or force remove: %w", "/"+c.rec.Name, st, errdefs.ErrConflict)
	}
	c.removed = true
	c.stopping = true
	c.mu.Unlock()
	if st == container.StateRunning || st == container.StatePaused {
		d.kill(ctx, c, syscall.SIGKILL, true)
		waitNotRunning(ctx, c, nil, 30*time.Second)
	}
	// Lock order: d.mu before c.mu (rename, info); so c.mu is let go
	// before the daemon's maps are changed below.
	c.mu.Lock()
	id, name, mounts := c.rec.ID, c.rec.Name, c.rec.Mounts
	if d.win == nil {
		d.rt.Delete(ctx, id, true)
		if err := d.layers.Unmount(ctx, id); err != nil {
			slog.Warn("unmount before remove", "id", id, "error", err)
		}
		d.detachNetwork(ctx, &c.rec, false)
		d.releaseShm(id)
	}
	if err := d.removeScratch(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		c.removed = false
		c.mu.Unlock()
		return err
	}
	os.RemoveAll(d.bundleDir(id))
	os.RemoveAll(d.containerDir(id))
	d.dropTrace(id)
	d.execMu.Lock()
	for eid, e := range d.execs {
		if e.container == id {
			delete(d.execs, eid)
		}
	}
	d.execMu.Unlock()
	if err := d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketContainers).Delete([]byte(id)) }); err != nil {
		c.removed = false
		c.mu.Unlock()
		return err
	}
	c.rec.State.Status = container.StateRemoving
	c.mu.Unlock()
	d.mu.Lock()
	delete(d.ctrs, id)
	if d.names[name] == id {
		delete(d.names, name)
	}
	d.mu.Unlock()
	if volumes {
		// Anonymous volumes go with their container, unless another uses one.
		for _, vol := range usedVolumes(mounts, func(n string) bool { r, err := d.getVolume(n); return err == nil && r.Anonymous }) {
			if len(d.volumeUsers(vol)) == 0 {
				d.removeVolume(vol)
			}
		}
	}
	c.mu.Lock()
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
	startExit := c.rec.State.FinishedAt
	c.mu.Unlock()
	out := make(chan container.WaitResponse, 1)
	go func() {
		for {
			c.mu.Lock()
			st, code, finished, removed := c.rec.State.Status, c.rec.State.ExitCode, c.rec.State.FinishedAt, c.removed && c.rec.State.Status == container.StateRemoving
			c.mu.Unlock()
			notRunning := st != container.StateRunning && st != container.StatePaused && st != container.StateRestarting
			done := false
			switch condition {
			case "", "not-running":
				done = notRunning
			case "next-exit":
				done = notRunning && finished.After(startExit)
			case "removed":
				done = removed
			}
			if done {
				out <- container.WaitResponse{StatusCode: int64(code)}
				return
			}
			select {
			case <-ch:
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
		return fmt.Errorf("cannot resize container %s: %w", c.rec.ID, errdefs.ErrConflict)
	}
	return d.rt.Resize(ctx, c.rec.ID, width, height)
}

// ContainerAttach is POST /containers/{id}/attach: it connects the
// streams to the container's, waiting for a created container to start,
// and returns when its output ends or ctx is done.
// Nil streams are not attached.
func (d *Daemon) ContainerAttach(ctx context.Context, ref string, stdin io.Reader, stdout, stderr io.Writer, attached func()) error {
	opts := struct {
		Stdin          io.Reader
		Stdout, Stderr io.Writer
	}{stdin, stdout, stderr}
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	st := c.rec.State.Status
	if st != container.StateCreated && st != container.StateRunning && st != container.StateRestarting {
		c.mu.Unlock()
		return fmt.Errorf("You cannot attach to a stopped container, start it first: %w", errdefs.ErrConflict)
	}
	created, changed := c.created, c.changed
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
	for waiting := true; waiting; {
		select {
		case <-created:
			waiting = false
		case <-changed:
			c.mu.Lock()
			st, msg := c.rec.State.Status, c.rec.State.Error
			created, changed = c.created, c.changed
			c.mu.Unlock()
			if st != container.StateCreated && st != container.StateRunning && st != container.StateRestarting || st == container.StateCreated && msg != "" {
				return fmt.Errorf("the container did not start: %s: %w", msg, errdefs.ErrConflict)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if d.win != nil {
		return d.attachWindows(ctx, c, opts.Stdin, opts.Stdout, opts.Stderr, done)
	}
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
	if inW != nil {
		go func() { io.Copy(inW, opts.Stdin); inW.Close() }()
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

// parseSignal takes "TERM", "SIGTERM" or "15"; "" gives def.
func parseSignal(s string, def syscall.Signal) (syscall.Signal, error) {
	if s == "" {
		return def, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	for n := 1; n < 32; n++ {
		if strings.EqualFold(strings.TrimPrefix(unixSignalName(syscall.Signal(n)), "SIG"), name) {
			return syscall.Signal(n), nil
		}
	}
	return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
}
