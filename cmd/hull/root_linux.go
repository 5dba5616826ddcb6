package main

import (
	"context"
	"fmt"
	"net"

	"github.com/hullproject/hull/internal/daemon"
	"github.com/hullproject/hull/internal/errdefs"
)

const (
	defaultRoot     = "/var/lib/hull"
	defaultExecRoot = "/run/hull"
	defaultHost     = "unix:///run/hull/hull.sock"
)

func listenPipe(addr string) (net.Listener, error) {
	return nil, fmt.Errorf("npipe://%s: named pipes are Windows': %w", addr, errdefs.ErrInvalidArgument)
}

func manageService(register bool, args []string) error {
	return fmt.Errorf("--register-service and --unregister-service are for Windows; on Linux see README's systemd unit: %w", errdefs.ErrInvalidArgument)
}

// windowsServices: Linux containers run on libcontainer, overlayfs and
// netlink; no Windows services.
func windowsServices() *daemon.WindowsServices { return nil }

// checkWindowsServices: none needed on Linux.
func checkWindowsServices() error { return nil }

func runMaybeAsService(ctx context.Context, run func(context.Context) error) error { return run(ctx) }
