package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync/atomic"

	"k8s.io/klog/v2"

	"github.com/hullproject/hull/internal/cri"
	"github.com/hullproject/hull/internal/daemon"
)

var _ cri.Backend = (*daemon.Daemon)(nil)

// criSocketPath is where the CRI listens: --cri-socket (unix:///path or a
// path), else <exec-root>/cri.sock — /run/hull/cri.sock by default.
func (f *daemonFlags) criSocketPath() string {
	if f.criSocket != "" {
		return strings.TrimPrefix(f.criSocket, "unix://")
	}
	return filepath.Join(f.execRoot, "cri.sock")
}

// startCRI serves the Kubernetes CRI beside the Engine API (Linux only)
// until ctx ends; the returned function waits for it to stop. Every read
// and write of its connections counts in activity, so that a burst of CRI
// calls is followed by a return of memory as one of the Engine API is
// (returnMemoryWhenIdle).
func startCRI(ctx context.Context, f *daemonFlags, d *daemon.Daemon, activity *atomic.Int64) (func(), error) {
	if goruntime.GOOS != "linux" {
		return func() {}, nil
	}
	s, err := cri.New(d, cri.Config{StateDir: filepath.Join(f.execRoot, "cri"), Version: daemon.Version,
		CNIConfDir: f.cniConfDir, CNIBinDirs: f.cniBinDirs})
	if err != nil {
		return nil, err
	}
	// cri-streaming reports its sessions' errors through klog: into the
	// daemon's log with the rest.
	klog.SetSlogLogger(slog.Default())
	// The streaming server first: Exec, Attach and PortForward answer its
	// URLs from the first call on.
	waitStreams, err := s.StartStreams(ctx, f.criStream)
	if err != nil {
		return nil, err
	}
	l, err := cri.Listen(f.criSocketPath())
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer waitStreams()
		if err := s.Serve(ctx, activeListener{Listener: l, n: activity}); err != nil {
			slog.Error("CRI server", "error", err)
		}
	}()
	return func() { <-done }, nil
}

// activeListener counts each read and write of its connections in n.
type activeListener struct {
	net.Listener
	n *atomic.Int64
}

func (l activeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return activeConn{Conn: c, n: l.n}, nil
}

type activeConn struct {
	net.Conn
	n *atomic.Int64
}

func (c activeConn) Read(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Read(b)
}

func (c activeConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}
