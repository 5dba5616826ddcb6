package network

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// syncFirewall rebuilds the service's nftables tables from the bridge
// networks, in one transaction: table ip <Table> for IPv4 and, while a
// network has IPv6, table ip6 <Table> for IPv6, each with
//
//	chain postrouting (nat): saddr <subnet> oifname != <bridge> masquerade
//	                         (each network that is not internal, its
//	                         subnet of the table's family)
//	chain forward (filter):  iifname <a> oifname <b> drop (each pair of
//	                         distinct networks: they are isolated), and for
//	                         an internal network iifname/oifname <n> with the
//	                         other side not <n>: drop
//
// A table with no network left is removed.
func (ls *linuxSystem) syncFirewall(nws []Network) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	var nws6 []Network
	for _, nw := range nws {
		if nw.EnableIPv6 && nw.Subnet6.IsValid() {
			nws6 = append(nws6, nw)
		}
	}
	ls.firewallTable(c, nftables.TableFamilyIPv4, nws, func(nw *Network) netip.Prefix { return nw.Subnet })
	ls.firewallTable(c, nftables.TableFamilyIPv6, nws6, func(nw *Network) netip.Prefix { return nw.Subnet6 })
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", ls.cfg.Table, err)
	}
	return nil
}

// firewallTable adds to c's batch the table of one family: removed, then
// made again from nws when there are any (subnet is each network's subnet
// of that family).
func (ls *linuxSystem) firewallTable(c *nftables.Conn, family nftables.TableFamily, nws []Network, subnet func(*Network) netip.Prefix) {
	t := &nftables.Table{Name: ls.cfg.Table, Family: family}
	// Add then delete: the delete cannot fail on a missing table, and the
	// whole batch is one transaction.
	c.AddTable(t)
	c.DelTable(t)
	if len(nws) == 0 {
		return
	}
	t = c.AddTable(t)
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	// The source address in the network header: IPv4's at 12 (4 bytes),
	// IPv6's at 8 (16 bytes).
	offset, size := uint32(12), uint32(4)
	if family == nftables.TableFamilyIPv6 {
		offset, size = 8, 16
	}
	for _, nw := range nws {
		sn := subnet(&nw)
		if !sn.IsValid() {
			continue
		}
		if !nw.Internal {
			mask := make([]byte, size)
			copy(mask, ipNet(sn).Mask)
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: sn.Masked().Addr().AsSlice()},
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(nw.Bridge)},
				&expr.Counter{},
				&expr.Masq{},
			}})
		} else {
			for _, dir := range [][2]expr.MetaKey{{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME}, {expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME}} {
				c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
					&expr.Meta{Key: dir[0], Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(nw.Bridge)},
					&expr.Meta{Key: dir[1], Register: 1},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(nw.Bridge)},
					&expr.Counter{},
					&expr.Verdict{Kind: expr.VerdictDrop},
				}})
			}
		}
		for _, other := range nws {
			if other.Bridge == nw.Bridge || !subnet(&other).IsValid() {
				continue
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(nw.Bridge)},
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(other.Bridge)},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictDrop},
			}})
		}
	}
}

// ifname is an interface name as nftables compares it: IFNAMSIZ bytes.
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}
