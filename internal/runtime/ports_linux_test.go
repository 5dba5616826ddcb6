package runtime

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testPorts makes a TCP and a UDP host socket on loopback, as the daemon
// binds published ports, relayed to echo servers of this process (the
// monitor relays from the host's namespace, so any address it reaches will
// do), and returns them for CreateOptions.Ports with a function that sends
// traffic through them and reports what failed. The servers stop with the
// test.
func testPorts(t *testing.T) ([]PublishedPort, func() error) {
	t.Helper()
	tcpTarget, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcpTarget.Close() })
	go func() {
		for {
			c, err := tcpTarget.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); b, _ := io.ReadAll(c); c.Write(bytes.ToUpper(b)) }()
		}
	}()
	udpTarget, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udpTarget.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udpTarget.ReadFrom(buf)
			if err != nil {
				return
			}
			udpTarget.WriteTo(bytes.ToUpper(buf[:n]), from)
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, _ := l.(*net.TCPListener).File()
	l.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pf, _ := pc.(*net.UDPConn).File()
	pc.Close()
	t.Cleanup(func() { lf.Close(); pf.Close() })
	tcpAddr, udpAddr := l.Addr().String(), pc.LocalAddr().String()
	ports := []PublishedPort{
		{Proto: "tcp", Target: tcpTarget.Addr().String(), File: lf},
		{Proto: "udp", Target: udpTarget.LocalAddr().String(), File: pf},
	}
	exercise := func() error {
		for range 20 {
			c, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
			if err != nil {
				return err
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("through the shim"))
			c.(*net.TCPConn).CloseWrite()
			b, err := io.ReadAll(c)
			c.Close()
			if err != nil || string(b) != "THROUGH THE SHIM" {
				return &net.OpError{Op: "relay", Net: "tcp", Err: io.ErrUnexpectedEOF}
			}
		}
		c, err := net.Dial("udp", udpAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 100)
		for range 20 {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("datagram"))
			if n, err := c.Read(buf); err != nil || string(buf[:n]) != "DATAGRAM" {
				return &net.OpError{Op: "relay", Net: "udp", Err: io.ErrUnexpectedEOF}
			}
		}
		return nil
	}
	return ports, exercise
}

// TestShimPorts: the shim relays the published ports it is given while the
// container runs, and lets them go when the init exits.
func TestShimPorts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sleep", "100")
	ports, exercise := testPorts(t)
	tcpAddr, _ := net.FileListener(ports[0].File)
	addr := tcpAddr.Addr().String()
	tcpAddr.Close()
	e.opts.Ports = ports
	id := newID(t)
	e.create(t, id)
	for _, p := range ports {
		p.File.Close() // the caller's copies; the shim holds its own
	}
	if err := e.rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := exercise(); err != nil {
		t.Fatalf("through the shim: %v", err)
	}
	if err := e.rt.Kill(ctx, id, int(unix.SIGKILL), false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The init is gone, the shim still answers (not deleted): the port is
	// free already.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the published port after the init's exit: %v", err)
	}
	l.Close()
}
