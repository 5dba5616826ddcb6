package runtime

// The client side of the shim: spawning it, talking to its socket, and
// cleaning up after a shim that is gone.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/monitor"
	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// errShimGone: the shim folder exists but nothing answers on its socket.
var errShimGone = errors.New("the shim is gone")

type (
	shimRecord = shimapi.ShimRecord
	exitRecord = shimapi.ExitRecord
)

func (r *Runtime) createImpl(ctx context.Context, id, bundle string, opts CreateOptions) error {
	ready, _, err := r.startShim(ctx, id, bundle, opts, false)
	if err != nil {
		return err
	}
	ready.Close()
	return nil
}

func (r *Runtime) runImpl(ctx context.Context, id, bundle string, opts CreateOptions, started func()) (int, error) {
	ready, dec, err := r.startShim(ctx, id, bundle, opts, true)
	if err != nil {
		return -1, err
	}
	defer ready.Close()
	if started != nil {
		started()
	}
	// The shim sends the exit status once it has deleted the container.
	// Cancelling ctx kills the container; the shim still deletes it.
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(killed)
		r.Kill(context.WithoutCancel(ctx), id, int(unix.SIGKILL), false)
	})
	var resp response
	err = dec.Decode(&resp)
	if !stop() {
		<-killed
	}
	if err != nil {
		// The shim died without its answer: report what it left.
		st := r.deadState(id)
		code := -1
		if st.ExitStatus != nil {
			code = *st.ExitStatus
		}
		return code, errors.Join(fmt.Errorf("run %s: the shim exited without the exit status", id), r.cleanupDead(id))
	}
	// The pipe ends when the shim has exited.
	ready.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, ready)
	if err := resp.Err(); err != nil {
		return resp.Exit, err
	}
	if ctx.Err() != nil {
		return resp.Exit, ctx.Err()
	}
	return resp.Exit, nil
}

// startShim starts the container's shim and returns once it has answered
// (the container is created, or started with run). The answer is read from
// ready through dec, which with run also carries the exit status later.
func (r *Runtime) startShim(ctx context.Context, id, bundle string, opts CreateOptions, run bool) (ready *os.File, dec *json.Decoder, retErr error) {
	// 0700: no other user reaches the shims' sockets and logs (nor, below
	// the daemon's exec root, anything else of the daemon's).
	if err := os.MkdirAll(r.shimsRoot(), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", id, err)
	}
	if err := os.MkdirAll(r.stateRoot(), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", id, err)
	}
	dir := r.shimDir(id)
	if err := os.Mkdir(dir, 0o700); errors.Is(err, os.ErrExist) {
		return nil, nil, fmt.Errorf("container %q: %w", id, errdefs.ErrAlreadyExists)
	} else if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", id, err)
	}
	if _, err := os.Stat(filepath.Join(r.stateRoot(), id)); err == nil {
		os.Remove(dir)
		return nil, nil, fmt.Errorf("container %q: libcontainer state exists: %w", id, errdefs.ErrAlreadyExists)
	}
	var shim *exec.Cmd
	defer func() {
		if retErr != nil {
			if shim != nil && shim.Process != nil {
				shim.Process.Kill()
			}
			r.cleanupDead(id)
		}
	}()
	go warmCgroupAttach()
	shimPath, err := findShim(opts.ShimPath)
	if err != nil {
		return nil, nil, err
	}
	args := []string{"--root", r.root, "--id", id, "--bundle", bundle}
	if opts.PidFile != "" {
		p, err := filepath.Abs(opts.PidFile)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, "--pid-file", p)
	}
	if opts.LogPath != "" {
		p, err := filepath.Abs(opts.LogPath)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, "--log", p)
	}
	if opts.LogFormat != "" {
		args = append(args, "--log-format", opts.LogFormat)
	}
	if opts.NoPivot {
		args = append(args, "--no-pivot")
	}
	if run {
		args = append(args, "--run")
	}
	if opts.OpenStdin {
		args = append(args, "--open-stdin")
	}
	if opts.StdinOnce {
		args = append(args, "--stdin-once")
	}
	if opts.InProcess {
		args = append(args, "--in-process")
	}
	init := opts.Init
	if init == "" {
		init = os.Getenv("HULL_INIT")
	}
	switch init {
	case InitAuto:
	case InitLean, InitLibcontainer:
		args = append(args, "--init", init)
	default:
		return nil, nil, invalid("container init %q: use %q or %q", init, InitLean, InitLibcontainer)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if retErr != nil {
			readyR.Close()
		}
	}()
	extra := []*os.File{readyW}
	if opts.ConsoleSocket != "" {
		c, err := dialConsole(opts.ConsoleSocket)
		if err != nil {
			readyW.Close()
			return nil, nil, err
		}
		defer c.Close()
		extra = append(extra, c)
		args = append(args, "--console-fd", fmt.Sprint(2+len(extra)))
	}
	if opts.Stdin != nil || opts.Stdout != nil || opts.Stderr != nil {
		first := 3 + len(extra)
		for _, f := range []*os.File{opts.Stdin, opts.Stdout, opts.Stderr} {
			if f == nil {
				f, err = os.OpenFile(os.DevNull, os.O_RDWR, 0)
				if err != nil {
					readyW.Close()
					return nil, nil, err
				}
				defer f.Close()
			}
			extra = append(extra, f)
		}
		args = append(args, "--stdio-fd", fmt.Sprint(first))
	}
	if f := r.sealedInit(shimPath); f != nil {
		extra = append(extra, f)
		args = append(args, "--init-fd", fmt.Sprint(2+len(extra)))
	}
	if len(opts.Ports) > 0 {
		fds := make([]monitor.PortFd, 0, len(opts.Ports))
		for _, p := range opts.Ports {
			extra = append(extra, p.File)
			fds = append(fds, monitor.PortFd{Proto: p.Proto, Target: p.Target, Fd: 2 + len(extra)})
		}
		b, err := json.Marshal(fds)
		if err != nil {
			readyW.Close()
			return nil, nil, err
		}
		args = append(args, "--ports", string(b))
	}
	logf, err := os.OpenFile(filepath.Join(dir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		readyW.Close()
		return nil, nil, err
	}
	defer logf.Close()
	var handed []TimedStep
	handed = append(handed, TimedStep{Name: "shim's folder, pipes and log made", At: time.Now()})
	if shim = r.takeSpare(shimPath, args, logf, extra); shim != nil {
		handed = append(handed, TimedStep{Name: "spare shim handed the create", At: time.Now()})
	} else {
		shim = exec.Command(shimPath, args...)
		shim.Dir = "/"
		shim.Stdout, shim.Stderr = logf, logf
		shim.ExtraFiles = extra
		shim.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = shim.Start()
		if err != nil {
			readyW.Close()
			return nil, nil, fmt.Errorf("start %s for %s: %w", shimPath, id, err)
		}
		// Reap the shim if it exits while this process lives; it is
		// detached (its own session) and outlives us otherwise. (A
		// spare's reaper runs since the spare started.)
		go shim.Wait()
		handed = append(handed, TimedStep{Name: "shim spawned", At: time.Now()})
	}
	readyW.Close()
	defer r.creating(shimPath, bundle)()

	stop := context.AfterFunc(ctx, func() { readyR.SetReadDeadline(time.Now()) })
	dec = json.NewDecoder(readyR)
	var resp response
	err = dec.Decode(&resp)
	stop()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, nil, fmt.Errorf("create %s: waiting for the shim: %w", id, ctx.Err())
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "shim.log"))
		return nil, nil, fmt.Errorf("create %s: the shim exited without an answer: %s", id, strings.TrimSpace(string(log)))
	}
	readyR.SetReadDeadline(time.Time{})
	if err := resp.Err(); err != nil {
		if resp.Exit != 0 {
			err = &StartError{Err: err, ExitCode: resp.Exit}
		}
		return nil, nil, err
	}
	if opts.Steps != nil {
		for _, st := range append(handed, resp.Steps...) {
			opts.Steps(st)
		}
	}
	for _, w := range resp.Warnings {
		slog.WarnContext(ctx, w, "container", id)
	}
	return readyR, dec, nil
}

// findShim finds hull-shim: the given path, beside this executable, or on $PATH.
func findShim(p string) (string, error) {
	if p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		c := filepath.Join(filepath.Dir(exe), "hull-shim")
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	c, err := exec.LookPath("hull-shim")
	if err != nil {
		return "", fmt.Errorf("hull-shim is neither beside %s nor on PATH: %w", os.Args[0], errdefs.ErrNotFound)
	}
	return c, nil
}

func dialConsole(path string) (*os.File, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console socket %s: %w", path, errdefs.ErrInvalidArgument)
	}
	defer c.Close()
	return c.(*net.UnixConn).File()
}

// viaShortPath calls fn with a short name of dir (/proc/self/fd/N), since
// a unix socket's path may not exceed 108 bytes and roots may be deep.
func viaShortPath(dir string, fn func(dir string) error) error {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fmt.Sprintf("/proc/self/fd/%d", fd))
}

// dial connects to the shim of id.
func (r *Runtime) dial(ctx context.Context, id string) (*net.UnixConn, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if _, err := os.Stat(r.shimDir(id)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	var c net.Conn
	err := viaShortPath(r.shimDir(id), func(dir string) (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "unixpacket", filepath.Join(dir, "shim.sock"))
		return err
	})
	if err != nil {
		if _, serr := os.Stat(r.shimDir(id)); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("container %q: %w: %v", id, errShimGone, err)
	}
	return c.(*net.UnixConn), nil
}

func send(c *net.UnixConn, v any, fds ...*os.File) error { return shimapi.Send(c, v, fds...) }

// recv reads one message and the descriptors sent with it.
func recv(c *net.UnixConn, v any) ([]*os.File, error) { return shimapi.Recv(c, v) }

// call sends one request to the shim of id and returns its answer.
func (r *Runtime) call(ctx context.Context, id string, req request) (response, error) {
	c, err := r.dial(ctx, id)
	if errors.Is(err, errShimGone) {
		return r.callDead(id, req)
	}
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := send(c, req); err != nil {
		return response{}, fmt.Errorf("%s %s: %w", req.Op, id, err)
	}
	var resp response
	if _, err := recv(c, &resp); err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		// A shim killed while we connected: its listener took the
		// connection, then its last thread closed it. Ask again; a dead
		// shim is answered for.
		if errors.Is(err, unix.ECONNRESET) || errors.Is(err, io.EOF) {
			time.Sleep(20 * time.Millisecond)
			if c2, derr := r.dial(ctx, id); errors.Is(derr, errShimGone) {
				return r.callDead(id, req)
			} else if derr == nil {
				c2.Close()
			}
		}
		return response{}, fmt.Errorf("%s %s: reading the shim's answer: %w", req.Op, id, err)
	}
	return resp, resp.Err()
}

// callDead answers for a container whose shim is gone: it is stopped.
func (r *Runtime) callDead(id string, req request) (response, error) {
	switch req.Op {
	case "wait":
		st := r.deadState(id)
		return response{Exit: *st.ExitStatus}, nil
	case "state":
		st := r.deadState(id)
		return response{State: &st}, nil
	}
	return response{}, fmt.Errorf("%s %s: the container is stopped (its shim is gone): %w", req.Op, id, errdefs.ErrConflict)
}

func (r *Runtime) deadState(id string) State {
	dir := r.shimDir(id)
	var rec shimRecord
	if b, err := os.ReadFile(filepath.Join(dir, "shim.json")); err == nil {
		json.Unmarshal(b, &rec)
	}
	exit := 137
	var ex exitRecord
	if b, err := os.ReadFile(filepath.Join(dir, "exit.json")); err == nil && json.Unmarshal(b, &ex) == nil {
		exit = ex.Status
	}
	return State{
		OCIVersion: specs.Version, ID: id, Status: StatusStopped, Bundle: rec.Bundle,
		Rootfs: rec.Rootfs, Created: rec.Created, Owner: rec.Owner, ExitStatus: &exit,
	}
}

func (r *Runtime) stateImpl(ctx context.Context, id string) (State, error) {
	resp, err := r.call(ctx, id, request{Op: "state"})
	if err != nil {
		return State{}, err
	}
	if resp.State == nil {
		return State{}, fmt.Errorf("state %s: the shim sent no state", id)
	}
	return *resp.State, nil
}

func (r *Runtime) listImpl(ctx context.Context) ([]State, error) {
	ents, err := os.ReadDir(r.shimsRoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []State
	for _, e := range ents {
		st, err := r.stateImpl(ctx, e.Name())
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (r *Runtime) deleteImpl(ctx context.Context, id string, force bool) error {
	c, err := r.dial(ctx, id)
	if errors.Is(err, errShimGone) {
		return r.cleanupDead(id)
	}
	if errdefs.IsNotFound(err) {
		// No shim, but a container state: one whose shim was killed
		// while it made the container (its exec fifo still there).
		if _, serr := os.Stat(filepath.Join(r.stateRoot(), id)); serr == nil {
			return r.cleanupDead(id)
		}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if err := send(c, request{Op: "delete", Force: force}); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	var resp response
	if _, err := recv(c, &resp); err != nil {
		// The shim may exit as it answers; what matters is that it is gone.
		if _, serr := os.Stat(r.shimDir(id)); errors.Is(serr, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", id, err)
	}
	if err := resp.Err(); err != nil {
		return err
	}
	// The shim exits after answering; its end closing tells that it has.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	recv(c, &resp)
	return nil
}

// cleanupDead removes what a dead shim left: the container's processes and
// cgroups (through libcontainer's state) and the shim folder.
func (r *Runtime) cleanupDead(id string) error {
	if c, err := libcontainer.Load(r.stateRoot(), id); err == nil {
		if err := destroyContainer(c); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
	} else {
		if !errors.Is(err, libcontainer.ErrNotExist) {
			slog.Warn("cleanup: cannot load the container's state", "container", id, "error", err)
		}
		// No state to load: what is there (an exec fifo of a
		// container whose making was cut short) goes.
		os.RemoveAll(filepath.Join(r.stateRoot(), id))
	}
	if err := os.RemoveAll(r.shimDir(id)); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// destroyContainer kills whatever runs in c and removes its cgroups and state.
func destroyContainer(c *libcontainer.Container) error {
	if c == nil {
		return errors.New("no container state to destroy")
	}
	if st, err := c.Status(); err == nil && st != libcontainer.Stopped {
		_ = c.Signal(unix.SIGKILL)
		for i := 0; i < 500; i++ {
			if st, err := c.Status(); err != nil || st == libcontainer.Stopped {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return c.Destroy()
}

func (r *Runtime) execImpl(ctx context.Context, id string, proc *specs.Process, opts ExecOptions) (*Process, error) {
	c, err := r.dial(ctx, id)
	if errors.Is(err, errShimGone) {
		_, err = r.callDead(id, request{Op: "exec"})
	}
	if err != nil {
		return nil, err
	}
	req := request{Op: "exec", Process: proc}
	var fds []*os.File
	if proc.Terminal {
		if opts.ConsoleSocket != "" {
			f, err := dialConsole(opts.ConsoleSocket)
			if err != nil {
				c.Close()
				return nil, err
			}
			defer f.Close()
			fds = append(fds, f)
			req.Fds = append(req.Fds, "console")
		}
	} else {
		for i, f := range []*os.File{opts.Stdin, opts.Stdout, opts.Stderr} {
			if f != nil {
				fds = append(fds, f)
				req.Fds = append(req.Fds, []string{"stdin", "stdout", "stderr"}[i])
			}
		}
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := send(c, req, fds...); err != nil {
		c.Close()
		return nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	var resp response
	files, err := recv(c, &resp)
	if err == nil {
		err = resp.Err()
		if err != nil && resp.Exit != 0 {
			err = &StartError{Err: err, ExitCode: resp.Exit}
		}
	}
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		c.Close()
		return nil, err
	}
	p := &Process{Pid: resp.Pid, close: c.Close}
	if len(files) > 0 {
		p.Console = files[0]
	}
	p.wait = func(ctx context.Context) (int, error) {
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
		defer stop()
		var resp response
		if _, err := recv(c, &resp); err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("wait for process %d in %s: %w", p.Pid, id, err)
		}
		return resp.Exit, resp.Err()
	}
	return p, nil
}

func (r *Runtime) attachImpl(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	c, err := r.dial(ctx, id)
	if errors.Is(err, errShimGone) {
		_, err = r.callDead(id, request{Op: "attach"})
	}
	if err != nil {
		return nil, err
	}
	req := request{Op: "attach"}
	var fds []*os.File
	for i, f := range []*os.File{opts.Stdin, opts.Stdout, opts.Stderr} {
		if f != nil {
			fds = append(fds, f)
			req.Fds = append(req.Fds, []string{"stdin", "stdout", "stderr"}[i])
		}
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var resp response
	err = send(c, req, fds...)
	if err == nil {
		_, err = recv(c, &resp)
	}
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("attach to %s: %w", id, err)
	}
	var once sync.Once
	closeConn := func() error {
		var err error
		once.Do(func() { err = c.Close() })
		return err
	}
	at := int64(-1)
	if resp.LogOffset != nil {
		at = *resp.LogOffset
	}
	return &Attachment{
		LogOffset: at,
		close:     closeConn,
		wait: func(ctx context.Context) error {
			stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
			defer stop()
			var resp response
			_, err := recv(c, &resp)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				return fmt.Errorf("attach to %s: %w", id, err)
			}
			return resp.Err()
		},
	}, nil
}

// sealedInit is the sealed copy of hull-init (beside the shim) every
// container this runtime creates starts from: made once, handed to each
// shim, so no start pays for copying the binary; nil when there is no
// hull-init (the shim then uses libcontainer's init).
func (r *Runtime) sealedInit(shimPath string) *os.File {
	r.initOnce.Do(func() {
		p := findInit(shimPath)
		if p == "" {
			return
		}
		f, err := sealedInit(p, r.root)
		if err != nil {
			slog.Warn("no sealed copy of hull-init; each shim makes its own", "error", err)
			return
		}
		r.initExe = f
	})
	return r.initExe
}
