// Command hull is the container engine: the daemon, the low-level tools
// (hull layer, hull runtime, hull diag) and the client commands, in one
// binary. Each file here parses flags and calls one library function.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/cli"
	"github.com/hullproject/hull/internal/errdefs"
)

// globals are the flags every command shares.
type globals struct {
	root  string
	debug bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if code, ok := cli.ExitCode(err); ok {
		os.Exit(code) // the container's (or exec's) exit status; nothing to print
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hull:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode gives scripts a way to tell bad input from a failure.
func exitCode(err error) int {
	switch {
	case errdefs.IsInvalidArgument(err), errdefs.IsNotFound(err), errdefs.IsConflict(err), errdefs.IsAlreadyExists(err):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	}
	return 1
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	cmd := &cobra.Command{
		Use:           "hull",
		Short:         "hull is a container engine with the architecture of Docker's Windows-containers stack",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelInfo
			if g.debug {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	cmd.PersistentFlags().StringVar(&g.root, "root", defaultRoot, "folder of hull's persistent state (layers, images, hull.db)")
	cmd.PersistentFlags().BoolVarP(&g.debug, "debug", "D", false, "log at debug level")
	cmd.AddCommand(newDaemonCommand(g), newLayerCommand(g), newImageCommand(g), newRuntimeCommand(g), newDiagCommand(g))
	// The docker-like client (hull run, hull ps, …); $HULL_HOST names the
	// daemon, and one is started when none answers at the default socket.
	cmd.AddCommand(cli.Commands(&cli.Options{AutoStart: true})...)
	return cmd
}
