package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// loadOnlyBackend answers only ImageLoad (it reads the archive to its
// end); any other call panics.
type loadOnlyBackend struct{ Backend }

func (loadOnlyBackend) ImageLoad(ctx context.Context, r io.Reader, quiet bool, out func(jsonstream.Message)) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// TestUnboundedBodiesAreRoutes: every route boundBody leaves alone is one
// the server has, so a renamed route cannot quietly lose its exemption.
func TestUnboundedBodiesAreRoutes(t *testing.T) {
	s := New(loadOnlyBackend{})
	for p := range unboundedBodies {
		method, path, _ := strings.Cut(p, " ")
		r := httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "abc"), nil)
		if _, got := s.mux.Handler(r); got != p {
			t.Errorf("%s reaches route %q", p, got)
		}
	}
}

// TestBodyTimeout: a JSON body that stops coming is answered 400 after the
// timeout and its connection closed; an upload (load) that pauses longer
// is not cut.
func TestBodyTimeout(t *testing.T) {
	s := New(loadOnlyBackend{})
	s.BodyTimeout = 300 * time.Millisecond
	srv := httptest.NewServer(s)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"Image\"")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("answered after %v", took)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "read the request body: no data for 300ms") || !resp.Close {
		t.Errorf("stalled body: %d close=%v %s", resp.StatusCode, resp.Close, b)
	}

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "POST /v1.41/images/load HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde")
	time.Sleep(time.Second)
	io.WriteString(c2, "fghij")
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "error") {
		t.Errorf("a load that paused 1 s: %d %s", resp.StatusCode, b)
	}
}
