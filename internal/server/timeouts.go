package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// unboundedBodies are the routes whose bodies BodyTimeout leaves alone:
// uploads the client may produce slowly (a tar from a pipe: load, import,
// build, copy into a container, a plugin) and the streams that hijack the
// connection (attach, exec start), as dockerd bounds none of them.
var unboundedBodies = map[string]bool{
	"POST /images/load":            true,
	"POST /images/create":          true,
	"POST /build":                  true,
	"PUT /containers/{id}/archive": true,
	"POST /plugins/create":         true,
	"POST /session":                true,
	"POST /grpc":                   true,
	"POST /containers/{id}/attach": true,
	"POST /exec/{id}/start":        true,
}

// boundBody makes every read of r's body wait at most s.BodyTimeout for
// data, unless the route (pattern) is one of unboundedBodies. The deadline
// is on the connection only while a read waits, so it never reaches what
// follows the body: an answer that streams, a hijacked connection.
func (s *Server) boundBody(w http.ResponseWriter, r *http.Request, pattern string) {
	if s.BodyTimeout <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || unboundedBodies[pattern] {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, w: w, rc: http.NewResponseController(w), d: s.BodyTimeout}
}

// deadlineBody is a request body whose reads wait at most d.
type deadlineBody struct {
	io.ReadCloser
	w        http.ResponseWriter
	rc       *http.ResponseController
	d        time.Duration
	timedOut bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.timedOut {
		return 0, b.timeoutError()
	}
	if err := b.rc.SetReadDeadline(time.Now().Add(b.d)); err != nil {
		// Not a connection of net/http's (a test's recorder): unbounded.
		return b.ReadCloser.Read(p)
	}
	n, err := b.ReadCloser.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		// The deadline stays in the past: net/http's drain of the rest
		// of the body after the handler then fails at once, and the
		// connection is closed after the answer, not reused.
		b.timedOut = true
		b.w.Header().Set("Connection", "close")
		return n, b.timeoutError()
	}
	b.rc.SetReadDeadline(time.Time{})
	return n, err
}

func (b *deadlineBody) timeoutError() error {
	return fmt.Errorf("read the request body: no data for %s: %w", b.d, errdefs.ErrInvalidArgument)
}
