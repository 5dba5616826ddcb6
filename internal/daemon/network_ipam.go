package daemon

import (
	"fmt"
	"net/netip"
	"strings"

	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/network"
)

// checkIPAMConfig refuses an IPAM config whose subnets, ranges, gateways
// or auxiliary addresses do not fit together, with dockerd's words (moby
// 25 and later check it at create: the API's v1.44 changelog, unversioned;
// api/types/network/ipam.go's ValidateIPAM). IPv6 entries are checked only
// for a network with IPv6, as there.
func checkIPAMConfig(cfgs []mnet.IPAMConfig, enableIPv6 bool) error {
	var errs []string
	for _, c := range cfgs {
		family := "IPv4"
		if c.Subnet.Addr().Is6() {
			if !enableIPv6 {
				continue
			}
			family = "IPv6"
		}
		if c.Subnet != c.Subnet.Masked() {
			errs = append(errs, fmt.Sprintf("invalid subnet %s: it should be %s", c.Subnet, c.Subnet.Masked()))
		}
		if r := c.IPRange; r.IsValid() {
			switch {
			case r.Addr().Is6() != c.Subnet.Addr().Is6():
				errs = append(errs, fmt.Sprintf("invalid ip-range %s: parent subnet is an %s block", r, family))
			default:
				if r.Bits() < c.Subnet.Bits() {
					errs = append(errs, fmt.Sprintf("invalid ip-range %s: CIDR block is bigger than its parent subnet %s", r, c.Subnet))
				}
				if r != r.Masked() {
					errs = append(errs, fmt.Sprintf("invalid ip-range %s: it should be %s", r, r.Masked()))
				}
				if !c.Subnet.Overlaps(r) {
					errs = append(errs, fmt.Sprintf("invalid ip-range %s: parent subnet %s doesn't contain ip-range", r, c.Subnet))
				}
			}
		}
		if msg := checkSubnetAddr(c.Gateway, c.Subnet); msg != "" {
			errs = append(errs, fmt.Sprintf("invalid gateway %s: %s", c.Gateway, msg))
		}
		for name, a := range c.AuxAddress {
			if msg := checkSubnetAddr(a, c.Subnet); msg != "" {
				errs = append(errs, fmt.Sprintf("invalid auxiliary address %s: %s", name, msg))
			}
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid network config:\n%s", errs[0])
	}
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid network config:\n* %s", strings.Join(errs, "\n* "))
}

// checkSubnetAddr says what is wrong with address a (when set) of subnet.
func checkSubnetAddr(a netip.Addr, subnet netip.Prefix) string {
	family := "IPv4"
	if subnet.Addr().Is6() {
		family = "IPv6"
	}
	switch {
	case !a.IsValid():
		return ""
	case a.Is6() != subnet.Addr().Is6():
		return "parent subnet is an " + family + " block"
	case !subnet.Contains(a):
		return fmt.Sprintf("parent subnet %s doesn't contain this address", subnet)
	}
	return ""
}

// splitIPAMConfig gives cr the IPAM config's subnets by family: one IPv4
// and one IPv6 at most (hull's networks have one of each). An entry with no
// subnet is the IPv4 one, as hull's IPv4 side reads it.
func splitIPAMConfig(cr *network.CreateRequest, cfgs []mnet.IPAMConfig) error {
	var n4, n6 int
	for _, c := range cfgs {
		subnet, gw, rng := optString(c.Subnet), optString(c.Gateway), optString(c.IPRange)
		if c.Subnet.Addr().Is6() {
			n6++
			cr.Subnet6, cr.Gateway6, cr.IPRange6 = subnet, gw, rng
			continue
		}
		n4++
		cr.Subnet, cr.Gateway, cr.IPRange = subnet, gw, rng
	}
	if n4 > 1 || n6 > 1 {
		if cr.Driver == "" || cr.Driver == "bridge" {
			// dockerd's bridge driver's words.
			return errdefs.Dockerf(errdefs.ErrForbidden, "bridge driver doesn't support multiple subnets")
		}
		return fmt.Errorf("a network has one IPv4 and one IPv6 subnet in hull: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// optString is an address or prefix as text, "" when unset.
func optString[T interface {
	IsValid() bool
	String() string
}](v T) string {
	if !v.IsValid() {
		return ""
	}
	return v.String()
}

// checkStaticAddrs refuses at create a static address of the wrong
// family, with dockerd's words.
func checkStaticAddrs(c *mnet.EndpointIPAMConfig) error {
	if c == nil {
		return nil
	}
	if a := c.IPv4Address; a.IsValid() && (!a.Is4() || a.IsUnspecified()) {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid IPv4 address: %s", a)
	}
	if a := c.IPv6Address; a.IsValid() && (!a.Is6() || a.Is4In6() || a.IsUnspecified()) {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid IPv6 address: %s", a)
	}
	return nil
}

// defaultIPv6 reads the daemon's --ipv6 and --fixed-cidr-v6: an IPv6
// subnet or none (the default IPv6 pool's then); --fixed-cidr-v6 without
// --ipv6 is ignored, as dockerd ignores it.
func defaultIPv6(cfg Config) (bool, netip.Prefix, error) {
	if !cfg.IPv6 || cfg.FixedCIDRv6 == "" {
		return cfg.IPv6, netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(cfg.FixedCIDRv6)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return false, netip.Prefix{}, fmt.Errorf("--fixed-cidr-v6 %q: want an IPv6 CIDR: %w", cfg.FixedCIDRv6, errdefs.ErrInvalidArgument)
	}
	return true, p, nil
}
