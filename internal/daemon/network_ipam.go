package daemon

import (
	"fmt"
	"net/netip"
	"strings"

	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
)

// checkIPAMConfig refuses an IPAM config whose subnets, ranges, gateways
// or auxiliary addresses do not fit together, with dockerd's words (moby
// 25 and later check it at create: the API's v1.44 changelog, unversioned;
// daemon/network.go's validateIpamConfig). IPv6 entries are left to the
// IPv6 check.
func checkIPAMConfig(cfgs []mnet.IPAMConfig) error {
	var errs []string
	for _, c := range cfgs {
		if c.Subnet.Addr().Is6() {
			continue
		}
		if c.Subnet != c.Subnet.Masked() {
			errs = append(errs, fmt.Sprintf("invalid subnet %s: it should be %s", c.Subnet, c.Subnet.Masked()))
		}
		if r := c.IPRange; r.IsValid() {
			switch {
			case !r.Addr().Is4():
				errs = append(errs, fmt.Sprintf("invalid ip-range %s: parent subnet is an IPv4 block", r))
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
	switch {
	case !a.IsValid():
		return ""
	case !a.Is4():
		return "parent subnet is an IPv4 block"
	case !subnet.Contains(a):
		return fmt.Sprintf("parent subnet %s doesn't contain this address", subnet)
	}
	return ""
}
