package monitor

import (
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// hostSocket binds a loopback socket as the daemon does for a published
// port and returns it as a file, and its address.
func hostSocket(t *testing.T, proto string) (*os.File, string) {
	t.Helper()
	var (
		f    *os.File
		addr string
		err  error
	)
	if proto == "udp" {
		pc, lerr := net.ListenPacket("udp", "127.0.0.1:0")
		if lerr != nil {
			t.Fatal(lerr)
		}
		defer pc.Close()
		f, err = pc.(*net.UDPConn).File()
		addr = pc.LocalAddr().String()
	} else {
		l, lerr := net.Listen("tcp", "127.0.0.1:0")
		if lerr != nil {
			t.Fatal(lerr)
		}
		defer l.Close()
		f, err = l.(*net.TCPListener).File()
		addr = l.Addr().String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return f, addr
}

// TestRelayTCP: each connection reaches the target; a client's half-close
// reaches it, and its answer and close come back.
func TestRelayTCP(t *testing.T) {
	linuxRelay(t)
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c) // until the client's half-close
				c.Write(bytes.ToUpper(b))
			}()
		}
	}()
	f, addr := hostSocket(t, "tcp")
	r, err := Relay(PublishedPort{Proto: "tcp", Target: target.Addr().String(), File: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"hello", "again"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(msg))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if string(got) != string(bytes.ToUpper([]byte(msg))) || err != nil {
			t.Errorf("through the relay: %q, %v", got, err)
		}
	}
	r.Close()
	if l, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("the port after Close: %v", err)
	} else {
		l.Close()
	}
}

// TestRelayUDP: each client has a flow of its own (the target sees a
// source per client) and gets its own answers.
func TestRelayUDP(t *testing.T) {
	linuxRelay(t)
	target, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	var mu sync.Mutex
	sources := map[string]bool{}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := target.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			sources[from.String()] = true
			mu.Unlock()
			target.WriteTo(append([]byte("re "), buf[:n]...), from)
		}
	}()
	f, addr := hostSocket(t, "udp")
	r, err := Relay(PublishedPort{Proto: "udp", Target: target.LocalAddr().String(), File: f})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range []string{"a", "b"} {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			msg := name + string(rune('0'+i))
			c.Write([]byte(msg))
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if string(buf[:n]) != "re "+msg || err != nil {
				t.Errorf("client %s: %q, %v", name, buf[:n], err)
			}
		}
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sources) != 2 {
		t.Errorf("the target saw %d sources, want one per client (2)", len(sources))
	}
}

func TestRelayRefusesOtherProtocols(t *testing.T) {
	linuxRelay(t)
	f, _ := hostSocket(t, "tcp")
	if _, err := Relay(PublishedPort{Proto: "sctp", Target: "127.0.0.1:1", File: f}); err == nil {
		t.Error("Relay of sctp: no error")
	}
}

// linuxRelay skips a relay test off Linux: the port relay runs in
// hull-monitor beside a Linux container (on Windows HNS publishes ports).
func linuxRelay(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the port relay is hull-monitor's, on Linux; on Windows HNS publishes ports")
	}
}
