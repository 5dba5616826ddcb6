package network

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// startProxy publishes p: it listens on the host (p.HostIP, all addresses
// when empty; a free port when p.HostPort is 0) and relays each connection
// (TCP) or each client's datagrams (UDP) to the container's port, as
// docker-proxy does. It returns the port taken.
func startProxy(p PortBinding, to netip.Addr) (io.Closer, uint16, error) {
	host := p.HostIP
	listen := net.JoinHostPort(host, strconv.Itoa(int(p.HostPort)))
	target := net.JoinHostPort(to.String(), strconv.Itoa(int(p.ContainerPort)))
	fail := func(err error) error {
		return fmt.Errorf("publish %s/%s on %s: %v: %w", strconv.Itoa(int(p.ContainerPort)), p.Proto, listen, err, errdefs.ErrConflict)
	}
	if p.Proto == "udp" {
		pc, err := net.ListenPacket("udp", listen)
		if err != nil {
			return nil, 0, fail(err)
		}
		u := &udpProxy{pc: pc, target: target, clients: map[string]*net.UDPConn{}}
		go u.serve()
		return u, uint16(pc.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, 0, fail(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go relayTCP(c, target)
		}
	}()
	return l, uint16(l.Addr().(*net.TCPAddr).Port), nil
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

// udpProxy relays datagrams: one connection to the container per client
// address, forgotten after 90 s without traffic.
type udpProxy struct {
	pc      net.PacketConn
	target  string
	mu      sync.Mutex
	clients map[string]*net.UDPConn
}

func (u *udpProxy) serve() {
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
		c.SetReadDeadline(time.Now().Add(90 * time.Second))
		c.Write(buf[:n])
	}
}

func (u *udpProxy) back(c *net.UDPConn, to net.Addr) {
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

func (u *udpProxy) Close() error {
	err := u.pc.Close()
	u.mu.Lock()
	for _, c := range u.clients {
		c.Close()
	}
	u.mu.Unlock()
	return err
}
