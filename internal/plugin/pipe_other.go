//go:build !windows

package plugin

import (
	"context"
	"fmt"
	"net"

	"github.com/hullproject/hull/internal/errdefs"
)

// dialPipe: named pipes exist only on Windows.
func dialPipe(addr string) (func(context.Context, string, string) (net.Conn, error), error) {
	return nil, fmt.Errorf("%s: named pipes are a Windows transport: %w", addr, errdefs.ErrInvalidArgument)
}
