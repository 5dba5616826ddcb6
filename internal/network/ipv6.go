package network

// The IPv6 side of a network's IPAM, as dockerd's: an IPv6 subnet the user
// gives (with its gateway and range), or with EnableIPv6 and none given a
// /64 of the daemon's default IPv6 pool, a ULA /48 derived from its engine
// id (moby 27 and later: daemon/daemon.go deriveULABaseNetwork). The
// daemon has checked the config's words first (daemon/network_ipam.go).

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/hullproject/hull/internal/errdefs"
)

// ipamConfig6 chooses the network's IPv6 subnet and gateway: the user's,
// checked, or with EnableIPv6 and none given the next free /64 of the
// default pool. Without EnableIPv6 a subnet the user gave is recorded as
// given and used for nothing, as dockerd does.
func (s *Service) ipamConfig6(nw *Network, req CreateRequest) error {
	nw.EnableIPv6 = req.EnableIPv6
	if req.Subnet6 == "" {
		if !req.EnableIPv6 {
			return nil
		}
		if req.Gateway6 != "" || req.IPRange6 != "" {
			return fmt.Errorf("an IPv6 gateway or IP range needs an IPv6 subnet: %w", errdefs.ErrInvalidArgument)
		}
		subnet, err := s.freeSubnet6()
		if err != nil {
			return err
		}
		nw.Subnet6, nw.Gateway6, nw.Subnet6Auto = subnet, subnet.Addr().Next(), true
		return nil
	}
	p, err := netip.ParsePrefix(req.Subnet6)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return fmt.Errorf("invalid subnet %q: want an IPv6 CIDR: %w", req.Subnet6, errdefs.ErrInvalidArgument)
	}
	nw.Subnet6 = p
	if g, err := netip.ParseAddr(req.Gateway6); err == nil {
		nw.Gateway6 = g
	}
	if r, err := netip.ParsePrefix(req.IPRange6); err == nil {
		nw.IPRange6 = r
	}
	if !req.EnableIPv6 {
		return nil
	}
	if p.Masked() != p {
		return fmt.Errorf("invalid subnet %s: it should be %s: %w", p, p.Masked(), errdefs.ErrInvalidArgument)
	}
	if p.Bits() > 126 {
		return fmt.Errorf("subnet %s is too small: %w", p, errdefs.ErrInvalidArgument)
	}
	if err := s.overlaps6(p); err != nil {
		return err
	}
	if req.Gateway6 != "" {
		if !nw.Gateway6.IsValid() || !p.Contains(nw.Gateway6) {
			return fmt.Errorf("invalid gateway %q: not an address in %s: %w", req.Gateway6, p, errdefs.ErrInvalidArgument)
		}
	} else {
		nw.Gateway6, nw.Gateway6Auto = p.Addr().Next(), true
	}
	if req.IPRange6 != "" {
		r := nw.IPRange6
		if !r.IsValid() || !p.Contains(r.Addr()) || r.Bits() < p.Bits() {
			return fmt.Errorf("invalid IP range %q: not within %s: %w", req.IPRange6, p, errdefs.ErrInvalidArgument)
		}
		nw.IPRange6 = r.Masked()
		if req.Gateway6 == "" {
			// As the IPv4 side: the range's first address.
			if nw.Gateway6 = nw.IPRange6.Addr(); nw.Gateway6 == p.Addr() {
				nw.Gateway6 = nw.Gateway6.Next()
			}
		}
	}
	return nil
}

// overlaps6 refuses an IPv6 subnet that overlaps another network's, with
// dockerd's words. Subnets recorded without IPv6 enabled take no room.
func (s *Service) overlaps6(p netip.Prefix) error {
	all, err := s.Networks()
	if err != nil {
		return err
	}
	for _, nw := range all {
		if nw.EnableIPv6 && nw.Subnet6.IsValid() && nw.Subnet6.Overlaps(p) {
			slog.Debug("pool overlaps", "pool", p, "network", nw.Name, "subnet", nw.Subnet6)
			return errdefs.Dockerf(errdefs.ErrForbidden, "Pool overlaps with other one on this address space")
		}
	}
	return nil
}

// ulaBase is the daemon's default IPv6 pool: fd00::/8 with 40 bits of the
// SHA-256 of its engine id, a /48 split into /64s (RFC 4193's global id,
// as moby derives it from its host id).
func ulaBase(owner string) netip.Prefix {
	sum := sha256.Sum256([]byte(owner))
	gid := binary.BigEndian.Uint64(sum[:]) & (1<<40 - 1)
	var b [16]byte
	b[0] = 0xfd
	for i := 0; i < 5; i++ {
		b[1+i] = byte(gid >> (8 * (4 - i)))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), 48)
}

// freeSubnet6 is the first /64 of the default IPv6 pool that no network
// with IPv6 uses; dockerd's words (404) when none is left.
func (s *Service) freeSubnet6() (netip.Prefix, error) {
	all, err := s.Networks()
	if err != nil {
		return netip.Prefix{}, err
	}
	base := ulaBase(s.cfg.Owner).Addr().As16()
	for i := 0; i < 1<<16; i++ {
		b := base
		b[6], b[7] = byte(i>>8), byte(i)
		p := netip.PrefixFrom(netip.AddrFrom16(b), 64)
		free := true
		for _, nw := range all {
			if nw.EnableIPv6 && nw.Subnet6.IsValid() && nw.Subnet6.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, errdefs.Dockerf(errdefs.ErrNotFound, "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network")
}

// remotePool6 has the network's IPAM plugin give its IPv6 pool and
// gateway (RequestPool with V6), for a network with IPv6.
func (s *Service) remotePool6(ctx context.Context, nw *Network, req CreateRequest) error {
	nw.EnableIPv6 = req.EnableIPv6
	if !req.EnableIPv6 {
		if p, err := netip.ParsePrefix(req.Subnet6); err == nil {
			nw.Subnet6 = p
		}
		return nil
	}
	r, err := s.ipam(ctx, req.IPAMDriver)
	if err != nil {
		return err
	}
	poolID, pool, gw, err := r.requestPool(ctx, req.Subnet6, req.IPRange6, req.IPAMOptions, true)
	if err != nil {
		return err
	}
	nw.PoolID6, nw.Subnet6, nw.Gateway6, nw.Subnet6Auto = poolID, pool, gw, req.Subnet6 == ""
	return nil
}

// defaultBridgeIPv6 makes the default bridge network's IPv6 what the
// daemon's configuration says (DefaultIPv6, DefaultSubnet6), as dockerd
// configures its default bridge from its flags at each start: on with the
// subnet given (its gateway the subnet's first address, not shown by
// inspect, as dockerd) or a /64 of the default pool (kept across starts),
// or off.
func (s *Service) defaultBridgeIPv6() error {
	nw, err := s.Network("bridge")
	if err != nil {
		return err
	}
	type v6 struct {
		on, auto, gwAuto bool
		subnet           netip.Prefix
		gw               netip.Addr
	}
	side := func() v6 { return v6{nw.EnableIPv6, nw.Subnet6Auto, nw.Gateway6Auto, nw.Subnet6, nw.Gateway6} }
	was := side()
	switch want := s.cfg.DefaultSubnet6.Masked(); {
	case !s.cfg.DefaultIPv6:
		nw.EnableIPv6, nw.Subnet6, nw.Gateway6, nw.Subnet6Auto, nw.Gateway6Auto = false, netip.Prefix{}, netip.Addr{}, false, false
	case want.IsValid():
		if !want.Addr().Is6() || want.Addr().Is4In6() || want.Bits() > 126 {
			return fmt.Errorf("--fixed-cidr-v6 %s: want an IPv6 subnet of 4 addresses at least: %w", s.cfg.DefaultSubnet6, errdefs.ErrInvalidArgument)
		}
		all, err := s.Networks()
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.ID != nw.ID && o.EnableIPv6 && o.Subnet6.Overlaps(want) {
				return fmt.Errorf("--fixed-cidr-v6 %s overlaps network %s's subnet %s: %w", want, o.Name, o.Subnet6, errdefs.ErrConflict)
			}
		}
		nw.EnableIPv6, nw.Subnet6, nw.Gateway6, nw.Subnet6Auto, nw.Gateway6Auto = true, want, want.Addr().Next(), false, true
	case !nw.EnableIPv6 || !nw.Subnet6Auto:
		subnet, err := s.freeSubnet6()
		if err != nil {
			return err
		}
		nw.EnableIPv6, nw.Subnet6, nw.Gateway6, nw.Subnet6Auto, nw.Gateway6Auto = true, subnet, subnet.Addr().Next(), true, false
	}
	if side() == was {
		return nil
	}
	slog.Info("network: the default bridge's IPv6", "enabled", nw.EnableIPv6, "subnet", nw.Subnet6)
	return s.put(nw)
}
