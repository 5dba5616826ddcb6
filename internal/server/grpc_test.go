package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// echoBuildKit is a BuildKitBackend whose control API echoes what it
// reads; its session is never asked for here.
type echoBuildKit struct{}

func (echoBuildKit) Start(context.Context) error { return nil }

func (echoBuildKit) ServeGRPC(_ context.Context, conn net.Conn) error {
	defer conn.Close()
	io.Copy(conn, conn)
	return nil
}

func (echoBuildKit) Relay(http.ResponseWriter, *http.Request) error {
	return errors.New("not relayed here")
}

func (echoBuildKit) HandleSession(context.Context, http.ResponseWriter, *http.Request) error {
	panic("not called")
}

// TestGRPCUpgrade: POST /grpc asks for h2c (400 otherwise, 501 with no
// builder), answers 101, and hands the builder the connection with the
// bytes the client sent right behind the request.
func TestGRPCUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name, upgrade string
		builder       BuildKitBackend
		want          int
	}{
		{"no upgrade", "", echoBuildKit{}, http.StatusBadRequest},
		{"other protocol", "websocket", echoBuildKit{}, http.StatusBadRequest},
		{"no builder", "h2c", nil, http.StatusNotImplemented},
		{"h2c", "h2c", echoBuildKit{}, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(loadOnlyBackend{})
			s.BuildKit = tc.builder
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			req := "POST /v1.47/grpc HTTP/1.1\r\nHost: x\r\n"
			if tc.upgrade != "" {
				req += "Connection: Upgrade\r\nUpgrade: " + tc.upgrade + "\r\n"
			}
			// The first bytes of the new protocol come in the same write.
			io.WriteString(c, req+"\r\nPRI * HTTP/2.0")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusSwitchingProtocols {
				return
			}
			if got := resp.Header.Get("Upgrade"); got != "h2c" {
				t.Errorf("Upgrade: %q, want h2c", got)
			}
			got := make([]byte, len("PRI * HTTP/2.0"))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != "PRI * HTTP/2.0" {
				t.Fatalf("the builder got %q, %v; want the bytes sent behind the request", got, err)
			}
		})
	}
}

// TestNoBuilderAnswers: a daemon without a builder (hull on Windows)
// answers /grpc, /session and /build with 501 and says the platform has
// none, before reading a build's context.
func TestNoBuilderAnswers(t *testing.T) {
	s := New(loadOnlyBackend{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, path := range []string{"/v1.47/grpc", "/v1.47/session", "/v1.47/build"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("not a tar"))
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "h2c")
		req.Header.Set("Content-Type", "application/x-tar")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(b), "not supported on this platform") {
			t.Errorf("POST %s: %d %s, want 501 saying the platform has no builder", path, resp.StatusCode, b)
		}
	}
}
