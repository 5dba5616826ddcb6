package daemon

import (
	"net/netip"

	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/network"
)

// networkStatus is network inspect's Status (API 1.52): per subnet, the
// addresses in use — the network and broadcast addresses (which the IPAM
// never gives), the gateway and each endpoint's — and those left in the
// range addresses are given from, counted as dockerd's default IPAM counts
// them. A network without a subnet of hull's IPAM (null, host, a remote
// IPAM driver's) has no subnet to tell.
func (d *Daemon) networkStatus(nw *network.Network) *mnet.Status {
	st := &mnet.Status{IPAM: mnet.IPAMStatus{Subnets: mnet.SubnetStatuses{}}}
	if !nw.Subnet.IsValid() || nw.IPAMDriver != "" {
		return st
	}
	subnet := nw.Subnet.Masked()
	used := map[netip.Addr]bool{}
	if hostBits := subnet.Addr().BitLen() - subnet.Bits(); subnet.Addr().Is4() && hostBits >= 2 {
		used[subnet.Addr()] = true
		used[lastAddr(subnet)] = true
	}
	if nw.Gateway.IsValid() {
		used[nw.Gateway] = true
	}
	for _, ep := range d.net.NetworkEndpoints(nw.ID) {
		if ep.Addr.IsValid() {
			used[ep.Addr.Addr()] = true
		}
	}
	rng := subnet
	if nw.IPRange.IsValid() {
		rng = nw.IPRange.Masked()
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
	return st
}

// lastAddr is the last address of p (IPv4's broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		ones := p.Bits() - i*8
		switch {
		case ones <= 0:
			b[i] = 0xff
		case ones < 8:
			b[i] |= 0xff >> ones
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
