package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// linuxSystem is the service's kernel side on Linux: compartments are
// network namespaces bind-mounted under NetnsDir, NICs veth pairs (made by
// the bridge driver) moved into them, the firewall one nftables table.
type linuxSystem struct {
	cfg Config
}

func newSystem(cfg Config) system { return &linuxSystem{cfg: cfg} }

func registerDrivers(s *Service) {
	s.drivers["null"] = nullDriver{}
	s.drivers["host"] = nullDriver{}
	s.drivers["bridge"] = &bridgeDriver{alias: ownerAlias(s.cfg.Owner)}
}

// ownerAlias is the alias (IFLA_IFALIAS) the bridge driver gives the host
// links it makes, naming the daemon that made them: another daemon on the
// same host never touches them.
func ownerAlias(owner string) string { return "hull:" + owner }

func (ls *linuxSystem) hostRoutes() []netip.Prefix {
	var out []netip.Prefix
	routes, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok {
			out = append(out, p)
		}
	}
	addrs, _ := netlink.AddrList(nil, netlink.FAMILY_V4)
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && !p.Addr().IsLoopback() {
			out = append(out, p.Masked())
		}
	}
	return out
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// awayFromHost runs fn on a thread of its own that fn may move into
// another network namespace, and puts the thread back in the host's after.
// A thread that cannot go back is left locked, so the Go runtime ends it
// with the goroutine.
func awayFromHost(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the host's network namespace: %w", err))
			return // the thread stays locked and ends with this goroutine
		}
		goruntime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// inNetns runs fn on a thread that has joined the network namespace at
// path.
func inNetns(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	return awayFromHost(func() error {
		if err := netns.Set(ns); err != nil {
			return err
		}
		return fn()
	})
}

func (ls *linuxSystem) newCompartment(path string) error {
	// 0700: the namespace files are the daemon's alone.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	err = awayFromHost(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		// NICs made here later start with IPv6 off: plumb turns it on for
		// an endpoint on a network with IPv6 only, as dockerd does (an
		// interface of an IPv4 network with IPv6 on would join IPv6
		// multicast groups and take router advertisements).
		return setDisableIPv6("default", true)
	})
	if err != nil {
		ls.removeCompartment(path)
		return err
	}
	return nil
}

// adoptCompartment gives the compartment at from (made ahead) the path
// to: the empty file spare, made with it, is renamed to, and the namespace
// moved onto it (creating a file there could wait for the file system's
// journal on a busy host). Where from's mount cannot move (under a shared
// mount), it is bound at to, and stays at from too: the caller removes
// from (removeCompartment), off the start's path.
func (ls *linuxSystem) adoptCompartment(from, spare, to string) error {
	if err := os.Rename(spare, to); err != nil {
		return err
	}
	if err := unix.Mount(from, to, "", unix.MS_MOVE, ""); err == nil {
		return nil
	}
	if err := unix.Mount(from, to, "", unix.MS_BIND, ""); err != nil {
		os.Remove(to)
		return fmt.Errorf("bind %s to %s: %w", from, to, err)
	}
	return nil
}

func (ls *linuxSystem) markPooled(hostIf string, pooled bool) error {
	alias := ownerAlias(ls.cfg.Owner)
	if pooled {
		alias += poolAliasSuffix
	}
	link, err := netlink.LinkByName(hostIf)
	if err != nil {
		return err
	}
	return netlink.LinkSetAlias(link, alias)
}

// poolAliasSuffix marks the host end of a NIC made ahead (markPooled).
const poolAliasSuffix = " pool"

func (ls *linuxSystem) removeCompartment(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount compartment %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// handle is a netlink handle working in the compartment at path.
func handle(path string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, 0, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, 0, err
	}
	return h, ns, nil
}

// setDisableIPv6 writes net.ipv6.conf.<iface>.disable_ipv6 in the calling
// thread's network namespace. A kernel without IPv6 has no such file:
// nothing to turn off then, and an error to turn it on.
func setDisableIPv6(iface string, disable bool) error {
	v := []byte("0\n")
	if disable {
		v = []byte("1\n")
	}
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+iface+"/disable_ipv6", v, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		if disable {
			return nil
		}
		return fmt.Errorf("enable IPv6 on %s: the kernel has no IPv6 (booted with ipv6.disable=1?): %w", iface, errdefs.ErrNotImplemented)
	}
	if err != nil {
		return fmt.Errorf("IPv6 on %s: %w", iface, err)
	}
	return nil
}

func (ls *linuxSystem) plumb(path string, ji JoinInfo, dst string, ep *Endpoint, default4, default6 bool) error {
	h, ns, err := handle(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	routes := ji.Routes
	var link netlink.Link
	if ji.InSandbox {
		if link, err = h.LinkByName(dst); err != nil {
			return fmt.Errorf("interface %s in the compartment: %w", dst, err)
		}
	} else {
		src := ji.SrcName
		if link, err = netlink.LinkByName(src); err != nil {
			return fmt.Errorf("interface %s: %w", src, err)
		}
		if err := netlink.LinkSetNsFd(link, int(ns)); err != nil {
			return fmt.Errorf("move %s into the compartment: %w", src, err)
		}
		if link, err = h.LinkByName(src); err != nil {
			return err
		}
		if err := h.LinkSetName(link, dst); err != nil {
			return fmt.Errorf("rename %s to %s: %w", src, dst, err)
		}
	}
	h.LinkSetAlias(link, "endpoint "+ep.ID)
	if ep.MAC != "" && (!ji.InSandbox || ji.pooled) {
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			if err := h.LinkSetHardwareAddr(link, mac); err != nil {
				return fmt.Errorf("MAC of %s: %w", dst, err)
			}
		}
	}
	if ep.Addr.IsValid() {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(ep.Addr)}); err != nil {
			return fmt.Errorf("address %s on %s: %w", ep.Addr, dst, err)
		}
	}
	if ep.Addr6.IsValid() {
		// IPv6 on for this NIC (the compartment's default is off), then
		// its address without duplicate address detection, usable at once
		// (the IPAM gave it to this endpoint alone), as dockerd adds it.
		if err := inNetns(path, func() error { return setDisableIPv6(dst, false) }); err != nil {
			return err
		}
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(ep.Addr6), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("address %s on %s: %w", ep.Addr6, dst, err)
		}
	} else if !ji.InSandbox {
		// A NIC moved in keeps what it had.
		if err := inNetns(path, func() error { return setDisableIPv6(dst, true) }); err != nil {
			return err
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return err
	}
	for _, r := range routes {
		rt := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(r.Destination)}
		if r.NextHop.IsValid() {
			rt.Gw = net.IP(r.NextHop.AsSlice())
		} else {
			rt.Scope = netlink.SCOPE_LINK
		}
		if err := h.RouteAdd(rt); err != nil {
			return fmt.Errorf("route to %s: %w", r.Destination, err)
		}
	}
	if gw := ep.Gateway; default4 && gw.IsValid() {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route through %s: %w", gw, err)
		}
	}
	if gw := ep.Gateway6; default6 && gw.IsValid() {
		rt := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0)), Gw: net.IP(gw.AsSlice())}
		if err := h.RouteAdd(rt); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route through %s: %w", gw, err)
		}
	}
	return nil
}

func (ls *linuxSystem) unplumb(path, ifName string) error {
	h, ns, err := handle(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	link, err := h.LinkByName(ifName)
	if err != nil {
		return nil
	}
	return h.LinkDel(link)
}

func (ls *linuxSystem) listenDNS(path string) (pc net.PacketConn, l net.Listener, err error) {
	err = inNetns(path, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", "127.0.0.11:53"); err != nil {
			return err
		}
		if l, err = net.Listen("tcp4", "127.0.0.11:53"); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	return pc, l, err
}

func (ls *linuxSystem) interfaces(path string) ([]Interface, error) {
	h, ns, err := handle(path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	var out []Interface
	for _, l := range links {
		a := l.Attrs()
		it := Interface{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr.String(), MTU: a.MTU, Alias: a.Alias, Up: a.Flags&net.FlagUp != 0}
		if st := a.Statistics; st != nil {
			it.RxBytes, it.RxPackets, it.RxErrors, it.RxDropped = st.RxBytes, st.RxPackets, st.RxErrors, st.RxDropped
			it.TxBytes, it.TxPackets, it.TxErrors, it.TxDropped = st.TxBytes, st.TxPackets, st.TxErrors, st.TxDropped
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			it.Addresses = append(it.Addresses, ad.IPNet.String())
		}
		out = append(out, it)
	}
	return out, nil
}

func (ls *linuxSystem) routes(path string) ([]RouteInfo, error) {
	h, ns, err := handle(path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	defer h.Close()
	names := map[int]string{}
	if links, err := h.LinkList(); err == nil {
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
	}
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	rs6, _ := h.RouteList(nil, netlink.FAMILY_V6)
	var out []RouteInfo
	for i, r := range append(rs, rs6...) {
		ri := RouteInfo{Destination: "0.0.0.0/0", Interface: names[r.LinkIndex], Scope: r.Scope.String()}
		if i >= len(rs) {
			ri.Destination = "::/0"
		}
		if r.Dst != nil {
			ri.Destination = r.Dst.String()
		}
		if r.Gw != nil {
			ri.NextHop = r.Gw.String()
		}
		out = append(out, ri)
	}
	return out, nil
}

// reconcileLinks removes the bridge driver's links (bridges hb-*, veths
// hv*) that this daemon made (their alias names it) and no record names.
// Links of other daemons on the host, and links without the alias, are
// left alone.
func (ls *linuxSystem) reconcileLinks(keep map[string]bool) {
	links, err := netlink.LinkList()
	if err != nil {
		return
	}
	alias := ownerAlias(ls.cfg.Owner)
	for _, l := range links {
		name := l.Attrs().Name
		ours := (strings.HasPrefix(name, "hb-") && l.Type() == "bridge") || (strings.HasPrefix(name, "hv") && l.Type() == "veth")
		if ours && (l.Attrs().Alias == alias || l.Attrs().Alias == alias+poolAliasSuffix) && !keep[name] {
			slog.Info("network: removing a link no record names", "link", name)
			netlink.LinkDel(l)
		}
	}
}

// bridgeDriver: a Linux bridge per network, holding the gateway address;
// each endpoint a veth pair, hv<id> on the bridge and hp<id> moved into the
// compartment. Names come from the endpoint id, so what a crash leaves is
// found again.
type bridgeDriver struct {
	// alias marks the links it makes as this daemon's (ownerAlias).
	alias string
}

func (b *bridgeDriver) CreateNetwork(_ context.Context, nw *Network) error {
	link, err := netlink.LinkByName(nw.Bridge)
	if err == nil && link.Type() != "bridge" {
		// An interface of the host's named by com.docker.network.bridge.name:
		// never taken over (moby's words).
		return fmt.Errorf("existing interface %s is not a bridge: %w", nw.Bridge, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: nw.Bridge, MTU: bridgeMTU(nw)}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", nw.Bridge, err)
		}
		if link, err = netlink.LinkByName(nw.Bridge); err != nil {
			return err
		}
		// The kernel takes no alias with the link's creation.
		if err := netlink.LinkSetAlias(link, b.alias); err != nil {
			netlink.LinkDel(link)
			return fmt.Errorf("mark bridge %s as this daemon's: %w", nw.Bridge, err)
		}
	}
	if nw.Gateway.IsValid() {
		if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(nw.Gateway, nw.Subnet.Bits()))}); err != nil {
			return fmt.Errorf("gateway %s on %s: %w", nw.Gateway, nw.Bridge, err)
		}
	}
	v6 := nw.EnableIPv6 && nw.Gateway6.IsValid()
	if v6 {
		// The daemon's thread is in the host's namespace: the bridge's
		// own setting.
		if err := setDisableIPv6(nw.Bridge, false); err != nil {
			return err
		}
		if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(nw.Gateway6, nw.Subnet6.Bits())), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("gateway %s on %s: %w", nw.Gateway6, nw.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	if !nw.Internal {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("enable IPv4 forwarding: %w", err)
		}
		if v6 {
			// As dockerd's bridge driver: the host routes IPv6 for its
			// networks (net.ipv6.conf.all.forwarding).
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644); err != nil {
				return fmt.Errorf("enable IPv6 forwarding: %w", err)
			}
		}
	}
	return nil
}

func (b *bridgeDriver) DeleteNetwork(_ context.Context, nw *Network) error {
	link, err := netlink.LinkByName(nw.Bridge)
	if err != nil {
		return nil
	}
	// Only a bridge this daemon made goes with the network (its alias
	// says so; an older hull's bridge of this network has none): a bridge
	// the user made and named with com.docker.network.bridge.name stays,
	// as moby keeps a bridge it did not create.
	ours := link.Type() == "bridge" && (link.Attrs().Alias == b.alias ||
		(link.Attrs().Alias == "" && len(nw.ID) >= 10 && nw.Bridge == "hb-"+nw.ID[:10]))
	if !ours {
		slog.Info("network: leaving a bridge this daemon did not make", "bridge", nw.Bridge, "network", nw.Name)
		return nil
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", nw.Bridge, err)
	}
	return nil
}

// nicGoesWithCompartment: both ends of the veth go when the compartment's
// namespace is torn down.
func (*bridgeDriver) nicGoesWithCompartment() bool { return true }

func (*bridgeDriver) CreateEndpoint(context.Context, *Network, *Endpoint) error { return nil }
func (*bridgeDriver) DeleteEndpoint(context.Context, *Network, *Endpoint) error { return nil }

func (b *bridgeDriver) Join(_ context.Context, nw *Network, ep *Endpoint, sandbox string) (JoinInfo, error) {
	br, err := netlink.LinkByName(nw.Bridge)
	if err != nil {
		return JoinInfo{}, fmt.Errorf("bridge %s: %w", nw.Bridge, err)
	}
	host := "hv" + ep.ID[:12]
	if old, err := netlink.LinkByName(host); err == nil {
		netlink.LinkDel(old)
	}
	// The container's end is made in the compartment, with its name and
	// MAC: no move between namespaces.
	ns, err := netns.GetFromPath(sandbox)
	if err != nil {
		return JoinInfo{}, fmt.Errorf("compartment %s: %w", sandbox, err)
	}
	defer ns.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU},
		PeerName: ep.IfName, PeerNamespace: netlink.NsFd(ns)}
	if mac, err := net.ParseMAC(ep.MAC); err == nil {
		veth.PeerHardwareAddr = mac
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return JoinInfo{}, fmt.Errorf("create veth %s: %w", host, err)
	}
	ep.HostIf = host
	link, err := netlink.LinkByName(host)
	if err == nil {
		err = netlink.LinkSetAlias(link, b.alias)
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		netlink.LinkDel(veth)
		return JoinInfo{}, err
	}
	return JoinInfo{SrcName: ep.IfName, DstPrefix: "eth", Gateway: nw.Gateway, Gateway6: ep.Gateway6, InSandbox: true}, nil
}

func (*bridgeDriver) Leave(_ context.Context, _ *Network, ep *Endpoint) error {
	if ep.HostIf == "" {
		ep.HostIf = "hv" + ep.ID[:12]
	}
	link, err := netlink.LinkByName(ep.HostIf)
	if err != nil {
		return nil // gone already (with its namespace)
	}
	return netlink.LinkDel(link)
}
