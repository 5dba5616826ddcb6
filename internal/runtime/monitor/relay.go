package monitor

// Published ports: the daemon binds the host's sockets (so that a port
// taken, a bad address and the choice of a free port are decided there, as
// dockerd decides them) and hands them to the container's shim, which
// relays them to the container for as long as it runs — the daemon may
// stop or die meanwhile (live-restore). Plain Go, no platform calls: the
// relay is docker-proxy's, moved here from the daemon's network service.

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// PublishedPort is a published port the shim serves: a host socket (a
// listening TCP socket or a bound UDP socket) and the container's
// address it relays to.
type PublishedPort struct {
	// Proto is "tcp" or "udp".
	Proto string `json:"proto"`
	// Target is the container's address and port, "ip:port".
	Target string `json:"target"`
	// File is the host socket; the receiver owns it.
	File *os.File `json:"-"`
}

// udpIdle is how long a UDP client's flow lives without traffic.
const udpIdle = 90 * time.Second

// Relay serves p until the returned closer is closed: each TCP
// connection accepted is relayed to p.Target, with half-closes passed on;
// each UDP client's datagrams go to p.Target from a socket of its own,
// whose answers go back to that client. p.File is consumed.
func Relay(p PublishedPort) (io.Closer, error) {
	defer p.File.Close()
	switch p.Proto {
	case "tcp":
		l, err := net.FileListener(p.File)
		if err != nil {
			return nil, fmt.Errorf("relay tcp to %s: %w", p.Target, err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go relayTCP(c, p.Target)
			}
		}()
		return l, nil
	case "udp":
		pc, err := net.FilePacketConn(p.File)
		if err != nil {
			return nil, fmt.Errorf("relay udp to %s: %w", p.Target, err)
		}
		u := &udpRelay{pc: pc, target: p.Target, clients: map[string]*net.UDPConn{}}
		go u.serve()
		return u, nil
	}
	return nil, fmt.Errorf("relay %s to %s: not tcp or udp", p.Proto, p.Target)
}

func relayTCP(c net.Conn, target string) {
	defer c.Close()
	b, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}

// udpRelay relays datagrams: one connection to the container per client
// address, forgotten after udpIdle without traffic.
type udpRelay struct {
	pc     net.PacketConn
	target string

	mu      sync.Mutex
	clients map[string]*net.UDPConn
}

func (u *udpRelay) serve() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := u.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		u.mu.Lock()
		c := u.clients[from.String()]
		if c == nil {
			raddr, err := net.ResolveUDPAddr("udp", u.target)
			if err == nil {
				c, err = net.DialUDP("udp", nil, raddr)
			}
			if err != nil {
				u.mu.Unlock()
				continue
			}
			u.clients[from.String()] = c
			go u.back(c, from)
		}
		u.mu.Unlock()
		c.SetReadDeadline(time.Now().Add(udpIdle))
		c.Write(buf[:n])
	}
}

func (u *udpRelay) back(c *net.UDPConn, to net.Addr) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		u.pc.WriteTo(buf[:n], to)
	}
	u.mu.Lock()
	delete(u.clients, to.String())
	u.mu.Unlock()
	c.Close()
}

func (u *udpRelay) Close() error {
	err := u.pc.Close()
	u.mu.Lock()
	for _, c := range u.clients {
		c.Close()
	}
	u.mu.Unlock()
	return err
}
