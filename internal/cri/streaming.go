package cri

// Streaming: Exec, Attach and PortForward answer a URL (http://host:port/
// exec|attach|portforward/<token>) that kubelet, kubectl's proxy or crictl
// then opens itself. k8s.io/cri-streaming serves those URLs (SPDY and
// WebSocket, its remotecommand and portforward protocols, one use per
// token, its idle and stream-creation timeouts) and calls streamRuntime
// back with the streams; streamRuntime runs them on the engine: an exec
// of the engine, the engine's attach to the container's stdio, a TCP
// connection opened inside the pod's network namespace.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/hullproject/hull/internal/errdefs"
)

// DefaultStreamAddress is where the streaming server listens unless told
// otherwise: loopback, a port chosen when it starts.
const DefaultStreamAddress = "127.0.0.1:0"

// StreamBackend is what the streaming sessions need of the engine beside
// ExecBackend: an exec's terminal without detach keys and its resize, the
// engine's attach to a running container's stdio (no detach keys either:
// kubectl's sessions have none) and a resize of the container's terminal.
type StreamBackend interface {
	ExecRawStdin(execID string) error
	ContainerExecResize(ctx context.Context, execID string, height, width uint16) error
	ContainerAttachRaw(ctx context.Context, ref string, stdin io.Reader, stdout, stderr io.Writer) error
	ContainerResize(ctx context.Context, ref string, height, width uint16) error
}

// streamServer is the running streaming server of a Server.
type streamServer struct {
	streaming.Server
}

// StartStreams serves the streaming URLs on addr (host:port, port 0: one
// chosen now; DefaultStreamAddress when empty) until ctx ends. Exec,
// Attach and PortForward answer Unavailable until it has been called, so
// the wiring calls it before Serve. The returned function waits for the
// server to stop; sessions under way end with the daemon.
func (s *Server) StartStreams(ctx context.Context, addr string) (wait func(), err error) {
	if addr == "" {
		addr = DefaultStreamAddress
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("CRI streaming server: %w", err)
	}
	// The URLs name the address actually bound: the port chosen, and
	// loopback for a listener on every address (clients dial it as is).
	host := l.Addr().(*net.TCPAddr)
	if host.IP.IsUnspecified() {
		host = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: host.Port}
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = host.String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: host.String()}
	ss, err := streaming.NewServer(cfg, &streamRuntime{s: s})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("CRI streaming server: %w", err)
	}
	s.streams = &streamServer{Server: ss}
	srv := &http.Server{Handler: ss, ReadHeaderTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		slog.Info("CRI streaming server listening", "address", host.String())
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("CRI streaming server", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return func() { <-done }, nil
}

// streamsOrErr is the streaming server, or Unavailable before it runs.
func (s *Server) streamsOrErr() (*streamServer, error) {
	if s.streams == nil {
		return nil, status.Error(codes.Unavailable, "the CRI streaming server is not running")
	}
	return s.streams, nil
}

// Exec answers the URL of an exec in a running container.
func (s *Server) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	ss, err := s.streamsOrErr()
	if err != nil {
		return nil, err
	}
	if len(req.Cmd) == 0 {
		return nil, fmt.Errorf("exec: no command: %w", errdefs.ErrInvalidArgument)
	}
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := streamable(in); err != nil {
		return nil, err
	}
	return ss.GetExec(req)
}

// Attach answers the URL of an attach to a running container's stdio.
func (s *Server) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	ss, err := s.streamsOrErr()
	if err != nil {
		return nil, err
	}
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := streamable(in); err != nil {
		return nil, err
	}
	return ss.GetAttach(req)
}

// PortForward answers the URL of a port forwarding into a ready pod.
func (s *Server) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	ss, err := s.streamsOrErr()
	if err != nil {
		return nil, err
	}
	in, err := s.sandbox(ctx, req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	if in.State == nil || !in.State.Running {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", in.ID, errdefs.ErrConflict)
	}
	for _, p := range req.Port {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("port %d: not a TCP port: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	return ss.GetPortForward(req)
}

// streamable says why a container cannot stream: it does not run.
func streamable(in container.InspectResponse) error {
	if in.State == nil || !in.State.Running {
		st := "unknown"
		if in.State != nil {
			st = string(in.State.Status)
		}
		return fmt.Errorf("container %s is not running (%s): %w", in.ID, st, errdefs.ErrConflict)
	}
	return nil
}

// streamRuntime runs the streaming server's sessions on the engine.
type streamRuntime struct {
	s *Server
}

var _ streaming.Runtime = (*streamRuntime)(nil)

// Exec runs cmd in the container with the session's streams and answers
// its exit status as cri-streaming wants it: nil for 0, a
// utilexec.ExitError otherwise (the client exits with that status).
func (r *streamRuntime) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	defer closeStreams(stdout, stderr)
	b := r.s.b
	execID, err := b.ContainerExecCreate(ctx, id, container.ExecCreateRequest{Cmd: cmd, Tty: tty,
		AttachStdin: stdin != nil, AttachStdout: stdout != nil, AttachStderr: stderr != nil})
	if err != nil {
		return fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := b.ExecRawStdin(execID); err != nil {
		return err
	}
	stop := make(chan struct{})
	defer close(stop)
	go followResize(resize, stop, func(sz remotecommand.TerminalSize) error {
		return b.ContainerExecResize(context.WithoutCancel(ctx), execID, sz.Height, sz.Width)
	})
	done := make(chan error, 1)
	go func() {
		done <- b.ContainerExecStart(context.WithoutCancel(ctx), execID, nil, stdin, stdout, stderr)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The client went away: the process goes too, as containerd's.
		b.ExecKill(execID)
		err = <-done
	}
	if err != nil {
		return fmt.Errorf("exec in %s: %w", id, err)
	}
	ei, err := b.ContainerExecInspect(context.WithoutCancel(ctx), execID)
	if err != nil {
		return err
	}
	if ei.ExitCode != nil && *ei.ExitCode != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with %d", strings.Join(cmd, " "), *ei.ExitCode), Code: *ei.ExitCode}
	}
	return nil
}

// Attach joins the session's streams to the running container's stdio
// until its output ends (it exits) or the session does. Stdin is given
// only to a container made with Stdin; the container's own Tty decides
// whether its output is a terminal's.
func (r *streamRuntime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	defer closeStreams(stdout, stderr)
	b := r.s.b
	in, err := r.s.ctr(ctx, id)
	if err != nil {
		return err
	}
	if err := streamable(in); err != nil {
		return err
	}
	if !in.Config.OpenStdin {
		stdin = nil
	}
	stop := make(chan struct{})
	defer close(stop)
	go followResize(resize, stop, func(sz remotecommand.TerminalSize) error {
		if !in.Config.Tty {
			return nil
		}
		return b.ContainerResize(context.WithoutCancel(ctx), in.ID, sz.Height, sz.Width)
	})
	// A client that has gone shows only when its streams fail: that ends
	// the attach (the engine's would wait for the container's exit).
	ctx, gone := context.WithCancel(ctx)
	defer gone()
	err = b.ContainerAttachRaw(ctx, in.ID, stdin, failWith(stdout, gone), failWith(stderr, gone))
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("attach to %s: %w", in.ID, err)
	}
	return nil
}

// failWith is w (nil when w is nil) calling gone when a write fails.
func failWith(w io.WriteCloser, gone func()) io.Writer {
	if w == nil {
		return nil
	}
	return writerFunc(func(p []byte) (int, error) {
		n, err := w.Write(p)
		if err != nil {
			gone()
		}
		return n, err
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// PortForward copies between stream and a TCP connection to port on the
// pod's loopback, opened inside the pod's network namespace (that of its
// infra process): a port the pod binds to 127.0.0.1 only is reached, the
// node's same port is not. An error goes back on the session's error
// stream (cri-streaming writes it there).
func (r *streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	in, err := r.s.sandbox(ctx, podID)
	if err != nil {
		return err
	}
	if in.State == nil || !in.State.Running || in.State.Pid == 0 {
		return fmt.Errorf("pod sandbox %s is not ready: %w", in.ID, errdefs.ErrConflict)
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port %d: not a TCP port: %w", port, errdefs.ErrInvalidArgument)
	}
	conn, err := dialInNetns(ctx, fmt.Sprintf("/proc/%d/ns/net", in.State.Pid), int(port))
	if err != nil {
		return fmt.Errorf("connect to port %d in pod %s: %w", port, in.ID, err)
	}
	defer conn.Close()
	// The client's end half-closes the pod's; the pod's end ends the
	// forwarding.
	go func() {
		io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("port %d in pod %s: %w", port, in.ID, err)
	}
	return nil
}

// followResize applies each terminal size of ch until it closes or stop
// does. A resize that fails is logged: the session goes on.
func followResize(ch <-chan remotecommand.TerminalSize, stop <-chan struct{}, apply func(remotecommand.TerminalSize) error) {
	if ch == nil {
		return
	}
	for {
		select {
		case sz, ok := <-ch:
			if !ok {
				return
			}
			if sz.Height == 0 && sz.Width == 0 {
				continue
			}
			if err := apply(sz); err != nil {
				slog.Debug("CRI stream resize", "error", err)
			}
		case <-stop:
			return
		}
	}
}

// closeStreams closes the session's output streams once the process is
// done with them, so that the client reads their end.
func closeStreams(ws ...io.WriteCloser) {
	for _, w := range ws {
		if w != nil {
			w.Close()
		}
	}
}
