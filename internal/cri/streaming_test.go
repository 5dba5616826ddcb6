package cri

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/wine"
)

// TestStartStreams: the URLs name the address the server bound — the
// port chosen, loopback for a listener on every address —, the server
// answers there until its context ends, and before it starts the
// streaming calls are Unavailable.
func TestStartStreams(t *testing.T) {
	s, err := New(nil, Config{StateDir: wine.TempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exec(context.Background(), &runtimeapi.ExecRequest{ContainerId: "x", Cmd: []string{"true"}, Stdout: true}); status.Code(err) != codes.Unavailable {
		t.Errorf("Exec before StartStreams: %v, want Unavailable", err)
	}
	for _, addr := range []string{"", "127.0.0.1:0", "0.0.0.0:0"} {
		ctx, cancel := context.WithCancel(context.Background())
		wait, err := s.StartStreams(ctx, addr)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp, err := s.streams.GetExec(&runtimeapi.ExecRequest{ContainerId: "x", Cmd: []string{"true"}, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(resp.Url)
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "0" || !strings.HasPrefix(u.Path, "/exec/") {
			t.Errorf("%q: the exec URL %q", addr, resp.Url)
		}
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Errorf("%q: the server does not answer at %s: %v", addr, u.Host, err)
		} else {
			c.Close()
		}
		cancel()
		done := make(chan struct{})
		go func() { wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: the server did not stop with its context", addr)
		}
		if c, err := net.Dial("tcp", u.Host); err == nil {
			c.Close()
			t.Errorf("%q: the server still answers at %s after its context ended", addr, u.Host)
		}
	}
	if _, err := s.StartStreams(context.Background(), "256.0.0.1:0"); err == nil {
		t.Error("StartStreams on a bad address: no error")
	}
}
