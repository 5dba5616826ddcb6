package cri

import (
	"context"
	"fmt"
	"net"

	"github.com/hullproject/hull/internal/errdefs"
)

// dialInNetns: Windows pods have no network namespace of Linux's kind to
// dial into.
func dialInNetns(ctx context.Context, nsPath string, port int) (net.Conn, error) {
	return nil, fmt.Errorf("port forwarding into a pod is not supported on Windows: %w", errdefs.ErrNotImplemented)
}
