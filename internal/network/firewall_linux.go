package network

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// syncFirewall rebuilds the service's nftables table (ip family) from the
// bridge networks, in one transaction:
//
//	chain postrouting (nat): ip saddr <subnet> oifname != <bridge> masquerade
//	                         (each network that is not internal)
//	chain forward (filter):  iifname <a> oifname <b> drop (each pair of
//	                         distinct networks: they are isolated), and for
//	                         an internal network iifname/oifname <n> with the
//	                         other side not <n>: drop
//
// With no bridge network left the table is removed.
func (ls *linuxSystem) syncFirewall(nws []Network) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: ls.cfg.Table, Family: nftables.TableFamilyIPv4}
	// Add then delete: the delete cannot fail on a missing table, and the
	// whole batch is one transaction.
	c.AddTable(t)
	c.DelTable(t)
	if len(nws) == 0 {
		return c.Flush()
	}
	t = c.AddTable(t)
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	for _, nw := range nws {
		if !nw.Subnet.IsValid() {
			continue
		}
		if !nw.Internal {
			mask := make([]byte, 4)
			copy(mask, ipNet(nw.Subnet).Mask)
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: nw.Subnet.Addr().AsSlice()},
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
			if other.Bridge == nw.Bridge || !other.Subnet.IsValid() {
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
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", ls.cfg.Table, err)
	}
	return nil
}

// ifname is an interface name as nftables compares it: IFNAMSIZ bytes.
func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}
