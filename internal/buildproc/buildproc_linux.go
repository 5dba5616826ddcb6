package buildproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// process is a running hull-buildkit.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startTimeout bounds how long hull-buildkit may take to answer.
const startTimeout = 30 * time.Second

func (p *Proc) exe() (string, error) {
	if p.Exe != "" {
		return p.Exe, nil
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "hull-buildkit")
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	if path, err := exec.LookPath("hull-buildkit"); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("build: hull-buildkit is neither beside the daemon's binary nor on PATH: %w", errdefs.ErrNotFound)
}

// spawn starts hull-buildkit and waits until both its sockets answer. It
// dies with the daemon (its parent death signal).
func (p *Proc) spawn(ctx context.Context) (*process, error) {
	exe, err := p.exe()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.execRoot, 0o700); err != nil {
		return nil, fmt.Errorf("start hull-buildkit: %w", err)
	}
	for _, s := range []string{p.grpcSocket(), p.httpSocket()} {
		os.Remove(s)
	}
	args := []string{"--root", p.root, "--exec-root", p.execRoot,
		"--grpc-socket", p.grpcSocket(), "--http-socket", p.httpSocket()}
	if p.DaemonSocket != "" {
		args = append(args, "--daemon-socket", p.DaemonSocket)
	}
	if p.Registries != "" {
		args = append(args, "--registries", p.Registries)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	proc := &process{cmd: cmd, done: make(chan struct{})}
	// The parent death signal follows the thread that started the child,
	// not the process: the goroutine that starts it keeps its thread
	// until the child has exited, so that no other goroutine (a network
	// namespace switch that ends locked) can take the thread down with it.
	startErr := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		defer close(proc.done)
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		cmd.Wait()
		if p.Exited != nil {
			p.Exited()
		}
	}()
	if err := <-startErr; err != nil {
		return nil, fmt.Errorf("start hull-buildkit: %w", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		if answers(p.grpcSocket()) && answers(p.httpSocket()) {
			return proc, nil
		}
		select {
		case <-proc.done:
			return nil, fmt.Errorf("start hull-buildkit: it exited (%v) before it answered: %w", cmd.ProcessState, errdefs.ErrUnavailable)
		case <-ctx.Done():
			proc.stop()
			return nil, fmt.Errorf("start hull-buildkit: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			proc.stop()
			return nil, fmt.Errorf("start hull-buildkit: no answer within %s: %w", startTimeout, errdefs.ErrUnavailable)
		}
	}
}

func answers(sock string) bool {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (proc *process) exited() bool {
	select {
	case <-proc.done:
		return true
	default:
		return false
	}
}

// stop asks hull-buildkit to stop (SIGTERM: it closes BuildKit, which
// unmounts its snapshots) and kills it if it has not within 20s.
func (proc *process) stop() error {
	if proc.exited() {
		return nil
	}
	proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-proc.done:
		return nil
	case <-time.After(20 * time.Second):
		proc.cmd.Process.Kill()
		<-proc.done
		return errors.New("hull-buildkit did not stop within 20s: killed")
	}
}
