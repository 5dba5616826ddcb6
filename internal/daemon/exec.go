package daemon

// Exec: a process started in a running container (docker exec).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

type execRec struct {
	mu        sync.Mutex
	id        string
	container string
	cfg       container.ExecCreateRequest
	started   bool
	running   bool
	exitCode  *int
	pid       int
	console   *os.File
	done      chan struct{}
}

// ContainerExecCreate is POST /containers/{id}/exec.
func (d *Daemon) ContainerExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 || cfg.Cmd[0] == "" {
		return "", fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	switch c.rec.State.Status {
	case container.StateRunning:
	case container.StatePaused:
		return "", fmt.Errorf("container %s is paused, unpause the container before exec: %w", c.rec.ID, errdefs.ErrConflict)
	default:
		return "", fmt.Errorf("container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
	}
	e := &execRec{id: newID(), container: c.rec.ID, cfg: cfg, done: make(chan struct{})}
	d.execMu.Lock()
	d.execs[e.id] = e
	d.execMu.Unlock()
	return e.id, nil
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

// ContainerExecStart is POST /exec/{id}/start. With streams (not
// detached) it returns when the process has exited and its output is
// drained; detached, once the process runs.
func (d *Daemon) ContainerExecStart(ctx context.Context, execID string, stdin io.Reader, stdout, stderr io.Writer) error {
	e, err := d.exec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return fmt.Errorf("exec %s has already started: %w", execID, errdefs.ErrConflict)
	}
	e.started = true
	e.mu.Unlock()
	if d.win != nil {
		return d.execStartWindows(e, stdin, stdout, stderr)
	}
	proc, err := d.execProcess(e)
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
	p, err := d.rt.Exec(ctx, e.container, proc, opts)
	closeLocal()
	if err != nil {
		if inW != nil {
			inW.Close()
		}
		return err
	}
	e.mu.Lock()
	e.running, e.pid, e.console = true, p.Pid, p.Console
	e.mu.Unlock()
	if p.Console != nil {
		if e.cfg.ConsoleSize != nil {
			resizeConsole(p.Console, uint16(e.cfg.ConsoleSize[0]), uint16(e.cfg.ConsoleSize[1]))
		}
		if stdin != nil && e.cfg.AttachStdin {
			go io.Copy(p.Console, stdin)
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
		close(e.done)
	}
	if stdout == nil && stderr == nil && stdin == nil {
		go finish()
		return nil
	}
	finish()
	return nil
}

// execProcess is the exec's OCI process: the container's, with the exec's
// command, environment, user and working directory.
func (d *Daemon) execProcess(e *execRec) (*specs.Process, error) {
	b, err := os.ReadFile(filepath.Join(d.bundleDir(e.container), "config.json"))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", e.container, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil || s.Process == nil {
		return nil, fmt.Errorf("exec in %s: the container's spec has no process", e.container)
	}
	p := *s.Process
	p.Args = slices.Clone(e.cfg.Cmd)
	p.Terminal = e.cfg.Tty
	p.ConsoleSize = nil
	p.Env = mergeEnv(p.Env, e.cfg.Env)
	if e.cfg.WorkingDir != "" {
		p.Cwd = e.cfg.WorkingDir
	}
	if e.cfg.ConsoleSize != nil && e.cfg.Tty {
		// The pty has the size from the start, as the exec asked.
		p.ConsoleSize = &specs.Box{Height: e.cfg.ConsoleSize[0], Width: e.cfg.ConsoleSize[1]}
	}
	if e.cfg.User != "" {
		tmp := &specs.Spec{Process: &p}
		if err := applyUser(tmp, s.Root.Path, e.cfg.User, d.groupAdd(e.container)); err != nil {
			return nil, err
		}
	}
	if e.cfg.Privileged {
		all := allCapabilities()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	return &p, nil
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
		ProcessConfig: &container.ExecProcessConfig{Tty: e.cfg.Tty, Entrypoint: e.cfg.Cmd[0], Arguments: nonNil(e.cfg.Cmd[1:]), Privileged: &priv, User: e.cfg.User},
	}, nil
}

// ContainerExecResize is POST /exec/{id}/resize.
func (d *Daemon) ContainerExecResize(ctx context.Context, execID string, height, width uint16) error {
	e, err := d.exec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.console == nil {
		return fmt.Errorf("exec %s has no terminal: %w", execID, errdefs.ErrConflict)
	}
	return resizeConsole(e.console, height, width)
}

// ExecTTY reports whether the exec has a terminal (the server frames the
// streams of one without).
func (d *Daemon) ExecTTY(execID string) (bool, error) {
	e, err := d.exec(execID)
	if err != nil {
		return false, err
	}
	return e.cfg.Tty, nil
}
