package daemon

import (
	"fmt"
	"syscall"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyHost: the HCS document (issue 7) takes the Windows host settings.
func applyHost(s *specs.Spec, h *container.HostConfig) error {
	if h.Privileged {
		return fmt.Errorf("privileged mode is not supported on Windows: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

func unixSignalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return ""
}

func allCapabilities() []string { return nil }

// applyNamespaces: Windows containers share no namespaces (HCS has none
// to join); network mode container:X is refused before a spec is made.
func applyNamespaces(*specs.Spec, *container.HostConfig, joins) {}
