// Package cli is hull's docker-like client: `hull run`, `hull ps`, … with
// docker's flags, on the official Go SDK (github.com/moby/moby/client),
// speaking the Engine API to a hull daemon (or any Engine API daemon).
// When no daemon answers at the default socket, the commands that need one
// start `hull daemon` in the background first.
package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/errdefs"
)

// Options are the client's global options.
type Options struct {
	// Host is the daemon's address; default $HULL_HOST, else DefaultHost.
	Host string
	// AutoStart starts `hull daemon` when nothing answers at DefaultHost.
	AutoStart bool
}

type env struct {
	opts *Options
	cli  *client.Client
}

// Commands returns hull's client commands, to add under the root command.
func Commands(opts *Options) []*cobra.Command {
	e := &env{opts: opts}
	return []*cobra.Command{
		e.runCommand(), e.createCommand(), e.startCommand(), e.stopCommand(), e.restartCommand(), e.killCommand(),
		e.rmCommand(), e.psCommand(), e.logsCommand(), e.execCommand(), e.attachCommand(), e.waitCommand(),
		e.inspectCommand(), e.imagesCommand(), e.pullCommand(), e.pushCommand(), e.loadCommand(), e.saveCommand(),
		e.importCommand(), e.tagCommand(), e.rmiCommand(), e.volumeCommand(), e.infoCommand(), e.versionCommand(),
	}
}

func (o *Options) host() string {
	if o.Host != "" {
		return o.Host
	}
	if h := os.Getenv("HULL_HOST"); h != "" {
		return h
	}
	return DefaultHost
}

// client connects to the daemon, starting one if allowed and needed.
func (e *env) client(ctx context.Context) (*client.Client, error) {
	if e.cli != nil {
		return e.cli, nil
	}
	host := e.opts.host()
	if err := e.ensureDaemon(ctx, host); err != nil {
		return nil, err
	}
	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	e.cli = c
	return c, nil
}

// ensureDaemon starts `hull daemon` in the background (its own session,
// its log in /run/hull/daemon.log) when nothing answers at the default
// socket. A named pipe (Windows) is only checked: the daemon there runs
// as a service or in a console of its own.
func (e *env) ensureDaemon(ctx context.Context, host string) error {
	if pipe, ok := strings.CutPrefix(host, "npipe://"); ok {
		if pipeAnswers(strings.ReplaceAll(pipe, "/", `\`)) {
			return nil
		}
		return fmt.Errorf("no hull daemon answers at %s (start one with `hull daemon`): %w", host, errdefs.ErrUnavailable)
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return nil
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil
	}
	if !e.opts.AutoStart || host != DefaultHost {
		return fmt.Errorf("no hull daemon answers at %s (start one with `hull daemon`): %w", host, errdefs.ErrUnavailable)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(path), "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "daemon")
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start hull daemon: %w", err)
	}
	fmt.Fprintf(os.Stderr, "hull: started hull daemon (pid %d, log %s)\n", cmd.Process.Pid, logf.Name())
	go cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("hull daemon did not come up; see %s: %w", logf.Name(), errdefs.ErrUnavailable)
}

// statusError carries a command's exit status (docker run's container
// exit code) to main.
type statusError struct{ code int }

func (s statusError) Error() string { return fmt.Sprintf("exit status %d", s.code) }

// ExitCode is the status a command wants hull to exit with, if err says.
func ExitCode(err error) (int, bool) {
	var s statusError
	if errors.As(err, &s) {
		return s.code, true
	}
	return 0, false
}
