package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/hullproject/hull/internal/errdefs"
)

// Published is a published port bound on the host: the socket (listening
// TCP, bound UDP) and the container's "ip:port" it is to be relayed to.
type Published struct {
	Proto  string
	Target string
	File   *os.File
}

// Publish binds the host sockets of a sandbox's published ports (HostPort 0
// takes a free port; the record then holds the one taken) and returns them
// for the compute service, whose shim relays them for as long as the
// container runs, the daemon there or not. The service keeps no copy: a
// port is held by the shim that relays it, so the kernel refuses it to
// another container until that one stops. The caller closes the files;
// on an error none is left open.
func (s *Service) Publish(containerID string) ([]Published, error) {
	sb := s.Sandbox(containerID)
	if sb == nil || len(sb.Ports) == 0 {
		return nil, nil
	}
	eps := s.Endpoints(containerID)
	if len(eps) == 0 || !eps[0].Addr.IsValid() && !eps[0].Addr6.IsValid() {
		return nil, fmt.Errorf("publish ports of %s: the container has no address: %w", containerID, errdefs.ErrInvalidArgument)
	}
	// Its IPv4 address, or on an IPv6-only network its IPv6 one.
	to := eps[0].Addr.Addr()
	if !eps[0].Addr.IsValid() {
		to = eps[0].Addr6.Addr()
	}
	var out []Published
	fail := func(err error) ([]Published, error) {
		for _, p := range out {
			p.File.Close()
		}
		return nil, err
	}
	for i, p := range sb.Ports {
		f, port, err := bindPort(p)
		if err != nil {
			return fail(fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", strings.TrimPrefix(eps[0].ContainerName, "/"), eps[0].ID, err))
		}
		out = append(out, Published{Proto: p.Proto, Target: net.JoinHostPort(to.String(), strconv.Itoa(int(p.ContainerPort))), File: f})
		sb.Ports[i].HostPort = port
	}
	if err := s.putSandbox(sb); err != nil {
		return fail(err)
	}
	return out, nil
}

// bindPort binds p's host socket (p.HostIP, all addresses when empty; a
// free port when p.HostPort is 0) and returns it and the port taken.
func bindPort(p PortBinding) (*os.File, uint16, error) {
	listen := net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort)))
	fail := func(err error) error {
		if errors.Is(err, syscall.EADDRINUSE) {
			// dockerd's words, which clients look for.
			host := p.HostIP
			if host == "" {
				host = "0.0.0.0"
			}
			return fmt.Errorf("Bind for %s failed: port is already allocated: %w", net.JoinHostPort(host, strconv.Itoa(int(p.HostPort))), errdefs.ErrConflict)
		}
		return fmt.Errorf("publish %s/%s on %s: %v: %w", strconv.Itoa(int(p.ContainerPort)), p.Proto, listen, err, errdefs.ErrConflict)
	}
	type filer interface {
		File() (*os.File, error)
		Close() error
	}
	var (
		sock filer
		addr net.Addr
	)
	if p.Proto == "udp" {
		pc, err := net.ListenPacket("udp", listen)
		if err != nil {
			return nil, 0, fail(err)
		}
		sock, addr = pc.(*net.UDPConn), pc.LocalAddr()
	} else {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, 0, fail(err)
		}
		sock, addr = l.(*net.TCPListener), l.Addr()
	}
	defer sock.Close()
	f, err := sock.File()
	if err != nil {
		return nil, 0, fail(err)
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		f.Close()
		return nil, 0, fail(err)
	}
	return f, ap.Port(), nil
}
