package plugin

import (
	"context"
	"net"
	"net/url"
	"strings"

	"github.com/Microsoft/go-winio"
)

// dialPipe dials a plugin's named pipe, npipe:////./pipe/NAME.
func dialPipe(addr string) (func(context.Context, string, string) (net.Conn, error), error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	path := strings.ReplaceAll(u.Path, "/", `\`)
	return func(ctx context.Context, _, _ string) (net.Conn, error) { return winio.DialPipeContext(ctx, path) }, nil
}
