package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/plugin"
)

// remoteDriver is a network driver served by a plugin, speaking Docker's
// remote driver protocol (NetworkDriver.*), so that an existing Docker
// network plugin works with hull unchanged.
type remoteDriver struct {
	p     *plugin.Plugin
	scope string
}

// newRemoteDriver asks an activated plugin for its capabilities and tells
// it of this node (DiscoverNew).
func newRemoteDriver(ctx context.Context, p *plugin.Plugin) (*remoteDriver, error) {
	var caps struct{ Scope, ConnectivityScope string }
	if err := p.Call(ctx, "NetworkDriver.GetCapabilities", struct{}{}, &caps); err != nil {
		return nil, err
	}
	if caps.Scope != "" && caps.Scope != "local" && caps.Scope != "global" {
		return nil, fmt.Errorf("plugin %s: invalid scope %q: %w", p.Name, caps.Scope, errdefs.ErrInvalidArgument)
	}
	d := &remoteDriver{p: p, scope: caps.Scope}
	// Node discovery: a driver that does not do discovery answers an
	// error, which is no reason to refuse it.
	if err := p.Call(ctx, "NetworkDriver.DiscoverNew", discovery{DiscoveryType: 1, DiscoveryData: map[string]any{"Address": "", "self": true}}, nil); err != nil {
		slog.Debug("remote driver: DiscoverNew", "plugin", p.Name, "error", err)
	}
	return d, nil
}

type discovery struct {
	DiscoveryType int
	DiscoveryData any
}

type ipamData struct {
	AddressSpace string
	Pool         string
	Gateway      string
	AuxAddresses map[string]string
}

func (d *remoteDriver) CreateNetwork(ctx context.Context, nw *Network) error {
	var v4 []ipamData
	if nw.Subnet.IsValid() {
		gw := ""
		if nw.Gateway.IsValid() {
			gw = netip.PrefixFrom(nw.Gateway, nw.Subnet.Bits()).String()
		}
		v4 = append(v4, ipamData{AddressSpace: "LocalDefault", Pool: nw.Subnet.String(), Gateway: gw, AuxAddresses: map[string]string{}})
	}
	var v6 []ipamData
	if nw.EnableIPv6 && nw.Subnet6.IsValid() {
		gw := ""
		if nw.Gateway6.IsValid() {
			gw = netip.PrefixFrom(nw.Gateway6, nw.Subnet6.Bits()).String()
		}
		v6 = append(v6, ipamData{AddressSpace: "LocalDefault", Pool: nw.Subnet6.String(), Gateway: gw, AuxAddresses: map[string]string{}})
	}
	if v6 == nil {
		v6 = []ipamData{}
	}
	opts := map[string]any{
		"com.docker.network.enable_ipv6": nw.EnableIPv6,
		"com.docker.network.generic":     orEmpty(nw.Options),
	}
	for k, v := range nw.Labels {
		opts[k] = v
	}
	return d.p.Call(ctx, "NetworkDriver.CreateNetwork", map[string]any{
		"NetworkID": nw.ID, "Options": opts, "IPv4Data": v4, "IPv6Data": v6,
	}, nil)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (d *remoteDriver) DeleteNetwork(ctx context.Context, nw *Network) error {
	return d.p.Call(ctx, "NetworkDriver.DeleteNetwork", map[string]string{"NetworkID": nw.ID}, nil)
}

type endpointInterface struct {
	Address     string
	AddressIPv6 string
	MacAddress  string
}

func (d *remoteDriver) CreateEndpoint(ctx context.Context, nw *Network, ep *Endpoint) error {
	in := endpointInterface{}
	if ep.Addr.IsValid() {
		in.Address = ep.Addr.String()
	}
	if ep.Addr6.IsValid() {
		in.AddressIPv6 = ep.Addr6.String()
	}
	if ep.StaticMAC {
		in.MacAddress = ep.MAC
	}
	var resp struct{ Interface *endpointInterface }
	if err := d.p.Call(ctx, "NetworkDriver.CreateEndpoint", map[string]any{
		"NetworkID": nw.ID, "EndpointID": ep.ID, "Options": map[string]any{}, "Interface": in,
	}, &resp); err != nil {
		return err
	}
	ep.MAC = ""
	if r := resp.Interface; r != nil {
		if r.Address != "" {
			if in.Address != "" && r.Address != in.Address {
				d.DeleteEndpoint(context.WithoutCancel(ctx), nw, ep)
				return fmt.Errorf("plugin %s: CreateEndpoint: it changed the address %s to %s: %w", d.p.Name, in.Address, r.Address, errdefs.ErrInvalidArgument)
			}
			p, err := netip.ParsePrefix(r.Address)
			if err != nil {
				d.DeleteEndpoint(context.WithoutCancel(ctx), nw, ep)
				return fmt.Errorf("plugin %s: CreateEndpoint: bad address %q: %w", d.p.Name, r.Address, errdefs.ErrInvalidArgument)
			}
			ep.Addr = p
		}
		if r.AddressIPv6 != "" {
			p, err := netip.ParsePrefix(r.AddressIPv6)
			if err != nil || !p.Addr().Is6() || in.AddressIPv6 != "" && p != ep.Addr6 {
				d.DeleteEndpoint(context.WithoutCancel(ctx), nw, ep)
				return fmt.Errorf("plugin %s: CreateEndpoint: bad or changed IPv6 address %q: %w", d.p.Name, r.AddressIPv6, errdefs.ErrInvalidArgument)
			}
			ep.Addr6 = p
		}
		if in.MacAddress != "" && r.MacAddress != "" && !strings.EqualFold(r.MacAddress, in.MacAddress) {
			d.DeleteEndpoint(context.WithoutCancel(ctx), nw, ep)
			return fmt.Errorf("plugin %s: CreateEndpoint: it changed the MAC address %s to %s: %w", d.p.Name, in.MacAddress, r.MacAddress, errdefs.ErrInvalidArgument)
		}
		ep.MAC = r.MacAddress
	}
	if in.MacAddress != "" {
		ep.MAC = in.MacAddress
	}
	if ep.MAC == "" && ep.Addr.IsValid() {
		ep.MAC = macFor(ep.Addr.Addr())
	}
	return nil
}

func (d *remoteDriver) DeleteEndpoint(ctx context.Context, nw *Network, ep *Endpoint) error {
	return d.p.Call(ctx, "NetworkDriver.DeleteEndpoint", map[string]string{"NetworkID": nw.ID, "EndpointID": ep.ID}, nil)
}

func (d *remoteDriver) Join(ctx context.Context, nw *Network, ep *Endpoint, sandbox string) (JoinInfo, error) {
	var resp struct {
		InterfaceName *struct{ SrcName, DstPrefix string }
		Gateway       string
		GatewayIPv6   string
		StaticRoutes  []struct {
			Destination string
			RouteType   int
			NextHop     string
		}
		DisableGatewayService bool
	}
	if err := d.p.Call(ctx, "NetworkDriver.Join", map[string]any{
		"NetworkID": nw.ID, "EndpointID": ep.ID, "SandboxKey": sandbox, "Options": map[string]any{},
	}, &resp); err != nil {
		return JoinInfo{}, err
	}
	fail := func(format string, args ...any) (JoinInfo, error) {
		d.Leave(context.WithoutCancel(ctx), nw, ep)
		return JoinInfo{}, fmt.Errorf("plugin %s: Join: "+format+": %w", append(append([]any{d.p.Name}, args...), errdefs.ErrInvalidArgument)...)
	}
	if resp.InterfaceName == nil || resp.InterfaceName.SrcName == "" {
		return fail("no interface name in the answer")
	}
	ji := JoinInfo{SrcName: resp.InterfaceName.SrcName, DstPrefix: resp.InterfaceName.DstPrefix}
	if resp.Gateway != "" {
		gw, err := netip.ParseAddr(strings.Split(resp.Gateway, "/")[0])
		if err != nil {
			return fail("bad gateway %q", resp.Gateway)
		}
		ji.Gateway = gw
	}
	if resp.GatewayIPv6 != "" {
		gw, err := netip.ParseAddr(strings.Split(resp.GatewayIPv6, "/")[0])
		if err != nil || !gw.Is6() {
			return fail("bad IPv6 gateway %q", resp.GatewayIPv6)
		}
		ji.Gateway6 = gw
	}
	for _, r := range resp.StaticRoutes {
		dst, err := netip.ParsePrefix(r.Destination)
		if err != nil {
			return fail("bad static route destination %q", r.Destination)
		}
		rt := Route{Destination: dst}
		if r.RouteType == 0 {
			nh, err := netip.ParseAddr(r.NextHop)
			if err != nil {
				return fail("bad next hop %q for %s", r.NextHop, r.Destination)
			}
			rt.NextHop = nh
		}
		ji.Routes = append(ji.Routes, rt)
	}
	if err := d.p.Call(ctx, "NetworkDriver.ProgramExternalConnectivity", map[string]any{
		"NetworkID": nw.ID, "EndpointID": ep.ID, "Options": map[string]any{},
	}, nil); err != nil {
		slog.Debug("remote driver: ProgramExternalConnectivity", "plugin", d.p.Name, "error", err)
	}
	if err := d.p.Call(ctx, "NetworkDriver.EndpointOperInfo", map[string]string{"NetworkID": nw.ID, "EndpointID": ep.ID}, nil); err != nil {
		slog.Debug("remote driver: EndpointOperInfo", "plugin", d.p.Name, "error", err)
	}
	return ji, nil
}

func (d *remoteDriver) Leave(ctx context.Context, nw *Network, ep *Endpoint) error {
	if err := d.p.Call(ctx, "NetworkDriver.RevokeExternalConnectivity", map[string]string{"NetworkID": nw.ID, "EndpointID": ep.ID}, nil); err != nil {
		slog.Debug("remote driver: RevokeExternalConnectivity", "plugin", d.p.Name, "error", err)
	}
	return d.p.Call(ctx, "NetworkDriver.Leave", map[string]string{"NetworkID": nw.ID, "EndpointID": ep.ID}, nil)
}

func (d *remoteDriver) discoverDelete(ctx context.Context) {
	d.p.Call(ctx, "NetworkDriver.DiscoverDelete", discovery{DiscoveryType: 1, DiscoveryData: map[string]any{"Address": "", "self": true}}, nil)
}

// remoteIPAM is an IPAM driver served by a plugin (IpamDriver.*).
type remoteIPAM struct {
	p *plugin.Plugin
}

func newRemoteIPAM(ctx context.Context, p *plugin.Plugin) (*remoteIPAM, error) {
	var caps struct{ RequiresMACAddress bool }
	if err := p.Call(ctx, "IpamDriver.GetCapabilities", struct{}{}, &caps); err != nil {
		var perr *plugin.Error
		if !errors.As(err, &perr) {
			return nil, err
		}
	}
	return &remoteIPAM{p: p}, nil
}

// requestPool asks for the network's pool (subnet may be "") and its
// gateway.
func (r *remoteIPAM) requestPool(ctx context.Context, subnet, ipRange string, opts map[string]string, v6 bool) (poolID string, pool netip.Prefix, gw netip.Addr, err error) {
	var spaces struct{ LocalDefaultAddressSpace, GlobalDefaultAddressSpace string }
	if err := r.p.Call(ctx, "IpamDriver.GetDefaultAddressSpaces", struct{}{}, &spaces); err != nil {
		return "", pool, gw, err
	}
	var resp struct {
		PoolID string
		Pool   string
		Data   map[string]string
	}
	if err := r.p.Call(ctx, "IpamDriver.RequestPool", map[string]any{
		"AddressSpace": spaces.LocalDefaultAddressSpace, "Pool": subnet, "SubPool": ipRange, "Options": orEmpty(opts), "V6": v6,
	}, &resp); err != nil {
		return "", pool, gw, err
	}
	release := func() { r.releasePool(context.WithoutCancel(ctx), resp.PoolID) }
	if pool, err = netip.ParsePrefix(resp.Pool); err != nil || pool.Addr().Is4() == v6 {
		release()
		return "", pool, gw, fmt.Errorf("plugin %s: RequestPool: bad pool %q: %w", r.p.Name, resp.Pool, errdefs.ErrInvalidArgument)
	}
	if g := resp.Data["com.docker.network.gateway"]; g != "" {
		p, err := netip.ParsePrefix(g)
		if err != nil {
			release()
			return "", pool, gw, fmt.Errorf("plugin %s: RequestPool: bad gateway %q: %w", r.p.Name, g, errdefs.ErrInvalidArgument)
		}
		gw = p.Addr()
	} else {
		a, err := r.requestAddress(ctx, resp.PoolID, "", map[string]string{"RequestAddressType": "com.docker.network.gateway"})
		if err != nil {
			release()
			return "", pool, gw, err
		}
		gw = a.Addr()
	}
	return resp.PoolID, pool, gw, nil
}

func (r *remoteIPAM) releasePool(ctx context.Context, poolID string) error {
	return r.p.Call(ctx, "IpamDriver.ReleasePool", map[string]string{"PoolID": poolID}, nil)
}

func (r *remoteIPAM) requestAddress(ctx context.Context, poolID, want string, opts map[string]string) (netip.Prefix, error) {
	var resp struct {
		Address string
		Data    map[string]string
	}
	if err := r.p.Call(ctx, "IpamDriver.RequestAddress", map[string]any{"PoolID": poolID, "Address": want, "Options": orEmpty(opts)}, &resp); err != nil {
		return netip.Prefix{}, err
	}
	p, err := netip.ParsePrefix(resp.Address)
	if err != nil {
		return p, fmt.Errorf("plugin %s: RequestAddress: bad address %q: %w", r.p.Name, resp.Address, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

func (r *remoteIPAM) releaseAddress(ctx context.Context, poolID string, a netip.Addr) error {
	return r.p.Call(ctx, "IpamDriver.ReleaseAddress", map[string]string{"PoolID": poolID, "Address": a.String()}, nil)
}
