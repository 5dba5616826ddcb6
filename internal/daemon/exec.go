package daemon

// Exec: a process started in a running container (docker exec), as
// dockerd runs one: its environment, user and working directory from the
// container's, its events (exec_create, exec_start, exec_die), and the
// exit status a shell gives a command that could not start.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/term"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

type execRec struct {
	mu        sync.Mutex
	id        string
	container string
	cfg       container.ExecCreateRequest
	// user and workingDir are the exec's or, when it names none, the
	// container's; detachKeys are cfg.DetachKeys parsed.
	user, workingDir string
	detachKeys       []byte
	running          bool
	exitCode         *int
	pid              int
	console          *os.File
	done             chan struct{}
	// started is closed once the process runs or could not start
	// (markStarted); a resize waits for it.
	started     chan struct{}
	startedOnce sync.Once
	// rawStdin: a terminal's stdin goes as is, without detach keys
	// (ExecRawStdin: the CRI's sessions have none).
	rawStdin bool
}

// markStarted closes e.started, once (a health check's exec has none).
func (e *execRec) markStarted() {
	if e.started != nil {
		e.startedOnce.Do(func() { close(e.started) })
	}
}

// exitCannotRun is the status of an exec that failed before its process
// ran, unless the runtime said more (127: not found): dockerd's 126.
const exitCannotRun = 126

// ContainerExecCreate is POST /containers/{id}/exec.
func (d *Daemon) ContainerExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", fmt.Errorf("No exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	st, id, user, wd := c.rec.State.Status, c.rec.ID, c.rec.Config.User, c.rec.Config.WorkingDir
	c.mu.Unlock()
	switch st {
	case container.StateRunning:
	case container.StatePaused:
		return "", fmt.Errorf("Container %s is paused, unpause the container before exec: %w", ref, errdefs.ErrConflict)
	case container.StateRestarting:
		return "", fmt.Errorf("Container %s is restarting, wait until the container is running: %w", id, errdefs.ErrConflict)
	default:
		return "", fmt.Errorf("Container %s is not running: %w", id, errdefs.ErrConflict)
	}
	if err := d.checkExecUser(id, cfg.User); err != nil {
		return "", err
	}
	keys := []byte{}
	if cfg.DetachKeys != "" {
		if keys, err = term.ToBytes(cfg.DetachKeys); err != nil {
			return "", fmt.Errorf("Invalid escape keys (%s) provided: %w", cfg.DetachKeys, errdefs.ErrInvalidArgument)
		}
	}
	e := &execRec{id: newID(), container: id, cfg: cfg, user: cfg.User, workingDir: cfg.WorkingDir, detachKeys: keys, done: make(chan struct{}), started: make(chan struct{})}
	if e.user == "" {
		e.user = user
	}
	if e.workingDir == "" {
		e.workingDir = wd
	}
	d.execMu.Lock()
	d.execs[e.id] = e
	d.execMu.Unlock()
	d.containerEvent(c, execAction(events.ActionExecCreate, cfg.Cmd), "execID", e.id)
	return e.id, nil
}

// execAction is the action of an exec event: "exec_create: CMD ARGS".
func execAction(a events.Action, cmd []string) events.Action {
	return events.Action(string(a) + ": " + cmd[0] + " " + strings.Join(cmd[1:], " "))
}

func (d *Daemon) exec(id string) (*execRec, error) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	e, ok := d.execs[id]
	if !ok {
		return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	return e, nil
}

// dropExecs forgets the execs of container id that never started: they
// cannot run any more (dockerd's exec store drops them when the container
// stops). Finished ones stay for inspection.
func (d *Daemon) dropExecs(id string) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	for eid, e := range d.execs {
		if e.container != id {
			continue
		}
		e.mu.Lock()
		unstarted := !e.running && e.exitCode == nil
		e.mu.Unlock()
		if unstarted {
			delete(d.execs, eid)
		}
	}
}

// ContainerExecStart is POST /exec/{id}/start. With streams (not
// detached) it returns when the process has exited and its output is
// drained; detached, once the process runs. consoleSize (height, width),
// when set, overrides the exec's for its terminal. An exec that cannot
// start records exit status 127 (not found) or 126 and answers dockerd's
// text.
func (d *Daemon) ContainerExecStart(ctx context.Context, execID string, consoleSize *[2]uint, stdin io.Reader, stdout, stderr io.Writer) error {
	e, err := d.exec(execID)
	if err != nil {
		return err
	}
	c, err := d.lookup(e.container)
	if err != nil {
		return fmt.Errorf("No such container: %s: %w", execID, errdefs.ErrNotFound)
	}
	c.mu.Lock()
	st := c.rec.State.Status
	c.mu.Unlock()
	switch st {
	case container.StateRunning:
	case container.StatePaused:
		return fmt.Errorf("Container %s is paused, unpause the container before exec: %w", e.container, errdefs.ErrConflict)
	case container.StateRestarting:
		return fmt.Errorf("Container %s is restarting, wait until the container is running: %w", e.container, errdefs.ErrConflict)
	default:
		return fmt.Errorf("Container %s is not running: %w", e.container, errdefs.ErrConflict)
	}
	e.mu.Lock()
	switch {
	case e.exitCode != nil:
		e.mu.Unlock()
		return fmt.Errorf("Error: Exec command %s has already run: %w", execID, errdefs.ErrConflict)
	case e.running:
		e.mu.Unlock()
		return fmt.Errorf("Error: Exec command %s is already running: %w", execID, errdefs.ErrConflict)
	}
	e.running = true
	e.mu.Unlock()
	d.containerEvent(c, execAction(events.ActionExecStart, e.cfg.Cmd), "execID", e.id)
	if consoleSize == nil {
		consoleSize = e.cfg.ConsoleSize
	}
	if d.win != nil {
		err = d.execStartWindows(e, stdin, stdout, stderr)
	} else {
		err = d.execStart(c, e, consoleSize, stdin, stdout, stderr)
	}
	if err != nil {
		code := exitCannotRun
		var se *runtime.StartError
		if errors.As(err, &se) {
			code = se.ExitCode
			err = fmt.Errorf("OCI runtime exec failed: exec failed: %w: unknown", se)
		}
		e.mu.Lock()
		e.running, e.exitCode = false, &code
		e.mu.Unlock()
		e.markStarted()
		close(e.done)
		return err
	}
	return nil
}

// execStart runs e on the compute service (Linux).
func (d *Daemon) execStart(c *ctr, e *execRec, consoleSize *[2]uint, stdin io.Reader, stdout, stderr io.Writer) error {
	proc, err := d.execProcess(c, e)
	if err != nil {
		return err
	}
	var local []*os.File
	closeLocal := func() {
		for _, f := range local {
			f.Close()
		}
		local = nil
	}
	var opts runtime.ExecOptions
	var copies sync.WaitGroup
	var inW *os.File
	if !e.cfg.Tty {
		if stdin != nil && e.cfg.AttachStdin {
			r, w, err := os.Pipe()
			if err != nil {
				return err
			}
			opts.Stdin, inW = r, w
			local = append(local, r)
		}
		for _, o := range []struct {
			dst io.Writer
			set **os.File
		}{{stdout, &opts.Stdout}, {stderr, &opts.Stderr}} {
			if o.dst == nil {
				continue
			}
			r, w, err := os.Pipe()
			if err != nil {
				closeLocal()
				return err
			}
			*o.set = w
			local = append(local, w)
			copies.Add(1)
			go func() { defer copies.Done(); io.Copy(o.dst, r); r.Close() }()
		}
	}
	p, err := d.rt.Exec(context.Background(), e.container, proc, opts)
	closeLocal()
	if err != nil {
		if inW != nil {
			inW.Close()
		}
		copies.Wait()
		return err
	}
	crashpoint.At("exec: the process runs, the exec does not know it")
	e.mu.Lock()
	e.pid, e.console = p.Pid, p.Console
	e.mu.Unlock()
	e.markStarted()
	// With a terminal, the detach keys (ctrl-p,ctrl-q unless the exec
	// names others) on stdin end the stream; the process goes on.
	detached := make(chan struct{})
	if p.Console != nil {
		if consoleSize != nil {
			resizeConsole(p.Console, uint16(consoleSize[0]), uint16(consoleSize[1]))
		}
		if stdin != nil && e.cfg.AttachStdin {
			keys := e.detachKeys
			if len(keys) == 0 {
				keys = []byte{16, 17}
			}
			in := io.Reader(term.NewEscapeProxy(stdin, keys))
			if e.rawStdin {
				in = stdin
			}
			go func() {
				var esc term.EscapeError
				if _, err := io.Copy(p.Console, in); errors.As(err, &esc) {
					close(detached)
				}
			}()
		}
		if stdout != nil {
			copies.Add(1)
			go func() { defer copies.Done(); io.Copy(stdout, p.Console) }()
		}
	}
	if inW != nil {
		go func() { io.Copy(inW, stdin); inW.Close() }()
	}
	finish := func() {
		code, err := p.Wait(context.Background())
		if err != nil {
			slog.Warn("exec wait", "exec", e.id, "error", err)
		}
		copies.Wait()
		e.mu.Lock()
		e.running, e.exitCode = false, &code
		if e.console != nil {
			e.console.Close()
		}
		e.mu.Unlock()
		d.containerEvent(c, events.ActionExecDie, "execID", e.id, "exitCode", strconv.Itoa(code))
		close(e.done)
	}
	if stdout == nil && stderr == nil && stdin == nil {
		go finish()
		return nil
	}
	finished := make(chan struct{})
	go func() { finish(); close(finished) }()
	select {
	case <-finished:
	case <-detached:
		d.containerEvent(c, events.ActionExecDetach, "execID", e.id)
	}
	return nil
}

// execProcess is the exec's OCI process, as dockerd makes it: the
// container's process (capabilities, limits, security) with the exec's
// command, its environment over the container's (PATH, HOSTNAME, TERM
// with a terminal, then the container's Env with its links' variables as
// it started, then the exec's, where a
// name without '=' unsets), its user and working directory or the
// container's.
func (d *Daemon) execProcess(c *ctr, e *execRec) (*specs.Process, error) {
	b, err := os.ReadFile(filepath.Join(d.bundleDir(e.container), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", e.container, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil || s.Process == nil {
		return nil, fmt.Errorf("exec in %s: the container's spec has no process", e.container)
	}
	// The container's environment as it started: its Env after its legacy
	// links' variables (dockerd's exec has them too).
	cenv := slices.Clone(s.Process.Env)
	p := *s.Process
	p.Args = slices.Clone(e.cfg.Cmd)
	p.Terminal = e.cfg.Tty
	p.ConsoleSize = nil
	env := []string{runtime.DefaultPathEnv, "HOSTNAME=" + s.Hostname}
	if e.cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	p.Env = replaceOrAppendEnv(replaceOrAppendEnv(env, cenv), e.cfg.Env)
	p.Cwd = e.workingDir
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if e.cfg.ConsoleSize != nil && e.cfg.Tty {
		// The pty has the size from the start, as the exec asked.
		p.ConsoleSize = &specs.Box{Height: e.cfg.ConsoleSize[0], Width: e.cfg.ConsoleSize[1]}
	}
	if e.cfg.User != "" {
		tmp := &specs.Spec{Process: &p}
		if err := applyUser(tmp, s.Root.Path, e.cfg.User, d.groupAdd(e.container), strictGroups(s.Annotations)); err != nil {
			return nil, err
		}
	}
	if e.cfg.Privileged {
		all := allCapabilities()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	return &p, nil
}

// replaceOrAppendEnv sets each NAME=VALUE of over in base, replacing the
// same name or appending; a NAME without '=' removes NAME (dockerd's
// ReplaceOrAppendEnvValues).
func replaceOrAppendEnv(base, over []string) []string {
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, set := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { n, _, _ := strings.Cut(e, "="); return n == k })
		switch {
		case !set && i >= 0:
			out = slices.Delete(out, i, i+1)
		case !set:
		case i >= 0:
			out[i] = kv
		default:
			out = append(out, kv)
		}
	}
	return out
}

// ContainerExecInspect is GET /exec/{id}/json.
func (d *Daemon) ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	e, err := d.exec(execID)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	priv := e.cfg.Privileged
	return container.ExecInspectResponse{
		ID: e.id, Running: e.running, ExitCode: e.exitCode, ContainerID: e.container, Pid: e.pid,
		OpenStdin: e.cfg.AttachStdin, OpenStdout: e.cfg.AttachStdout, OpenStderr: e.cfg.AttachStderr,
		DetachKeys:    e.detachKeys,
		ProcessConfig: &container.ExecProcessConfig{Tty: e.cfg.Tty, Entrypoint: e.cfg.Cmd[0], Arguments: nonNil(e.cfg.Cmd[1:]), Privileged: &priv, User: e.user},
	}, nil
}

// execReadyTimeout is how long a resize waits for its exec to start.
var execReadyTimeout = 10 * time.Second

// ContainerExecResize is POST /exec/{id}/resize. As dockerd's, a resize
// that comes before the start (a client sends one right after it) waits
// for the process up to execReadyTimeout; one of an exec that has ended,
// or never ran, finds no process (dockerd's "no such exec").
func (d *Daemon) ContainerExecResize(ctx context.Context, execID string, height, width uint16) error {
	e, err := d.exec(execID)
	if err != nil {
		return err
	}
	t := time.NewTimer(execReadyTimeout)
	defer t.Stop()
	select {
	case <-e.started:
	case <-t.C:
		return errdefs.Dockerf(errdefs.ErrConflict, "timeout waiting for exec session ready")
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exitCode != nil {
		return errdefs.Dockerf(errdefs.ErrNotFound, "no such exec")
	}
	if e.console == nil {
		return nil // no terminal to resize; dockerd says yes
	}
	return resizeConsole(e.console, height, width)
}

// ExecTTY reports whether the exec has a terminal; its error says there is
// no such exec (the server asks before it takes the connection).
func (d *Daemon) ExecTTY(execID string) (bool, error) {
	e, err := d.exec(execID)
	if err != nil {
		return false, err
	}
	return e.cfg.Tty, nil
}
