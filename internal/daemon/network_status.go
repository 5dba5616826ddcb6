package daemon

import (
	"net/netip"

	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/network"
)

// networkStatus is network inspect's Status (API 1.52): per subnet (IPv4's
// and, with IPv6, IPv6's), the addresses in use — the first address and
// IPv4's broadcast address (which the IPAM never gives), the gateway and
// each endpoint's — and those left in the
// range addresses are given from, counted as dockerd's default IPAM counts
// them. A network without a subnet of hull's IPAM (null, host, a remote
// IPAM driver's) has no subnet to tell.
func (d *Daemon) networkStatus(nw *network.Network) *mnet.Status {
	st := &mnet.Status{IPAM: mnet.IPAMStatus{Subnets: mnet.SubnetStatuses{}}}
	if nw.IPAMDriver != "" {
		return st
	}
	eps := d.net.NetworkEndpoints(nw.ID)
	if nw.Subnet.IsValid() {
		addrs := make([]netip.Addr, 0, len(eps))
		for _, ep := range eps {
			addrs = append(addrs, ep.Addr.Addr())
		}
		subnetStatus(st, nw.Subnet, nw.IPRange, nw.Gateway, addrs)
	}
	if nw.EnableIPv6 && nw.Subnet6.IsValid() {
		addrs := make([]netip.Addr, 0, len(eps))
		for _, ep := range eps {
			addrs = append(addrs, ep.Addr6.Addr())
		}
		subnetStatus(st, nw.Subnet6, nw.IPRange6, nw.Gateway6, addrs)
	}
	return st
}

// subnetStatus adds one subnet's counts to st: in use, its first address
// (which the IPAM never gives: IPv4's network address, IPv6's
// subnet-router anycast), IPv4's broadcast address, the gateway and addrs
// (the endpoints'; unset ones are skipped).
func subnetStatus(st *mnet.Status, subnet, ipRange netip.Prefix, gateway netip.Addr, addrs []netip.Addr) {
	subnet = subnet.Masked()
	used := map[netip.Addr]bool{}
	if hostBits := subnet.Addr().BitLen() - subnet.Bits(); subnet.Addr().Is6() || hostBits >= 2 {
		used[subnet.Addr()] = true
		if subnet.Addr().Is4() {
			used[network.LastAddr(subnet)] = true
		}
	}
	if gateway.IsValid() {
		used[gateway] = true
	}
	for _, a := range addrs {
		if a.IsValid() {
			used[a] = true
		}
	}
	rng := subnet
	if ipRange.IsValid() {
		rng = ipRange.Masked()
	}
	var inRange uint64
	for a := range used {
		if rng.Contains(a) {
			inRange++
		}
	}
	size := ^uint64(0)
	if hostBits := rng.Addr().BitLen() - rng.Bits(); hostBits < 64 {
		size = uint64(1) << hostBits
	}
	st.IPAM.Subnets[subnet] = mnet.SubnetStatus{IPsInUse: uint64(len(used)), DynamicIPsAvailable: size - inRange}
}
