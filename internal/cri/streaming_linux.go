package cri

import (
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// dialTimeout bounds the connection to a pod's port.
const dialTimeout = 10 * time.Second

// dialInNetns connects to port on the loopback of the network namespace
// at nsPath (127.0.0.1, then ::1): the socket is made by a thread that
// has joined that namespace, so it lives there whatever thread uses it
// next. The thread goes back to the daemon's namespace after; one that
// cannot stays locked and ends with its goroutine.
func dialInNetns(ctx context.Context, nsPath string, port int) (net.Conn, error) {
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("the pod's network namespace: %w", err)
	}
	defer target.Close()
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("join the pod's network namespace: %w", err)}
			return
		}
		conn, err := dialLoopback(ctx, port)
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread is left locked: the runtime ends it with this
			// goroutine rather than reuse it in the pod's namespace.
			if conn != nil {
				conn.Close()
			}
			ch <- result{err: fmt.Errorf("return to the daemon's network namespace: %w", err)}
			return
		}
		goruntime.UnlockOSThread()
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// dialLoopback connects to port on 127.0.0.1, or on ::1 when nothing
// answers there (a server bound to IPv6 loopback only).
func dialLoopback(ctx context.Context, port int) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err4 := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err4 == nil {
		return conn, nil
	}
	conn, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err6 == nil {
		return conn, nil
	}
	return nil, fmt.Errorf("%w (on ::1: %v)", err4, err6)
}
