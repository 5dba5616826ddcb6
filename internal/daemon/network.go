package daemon

// The daemon's side of the network service: /networks, a container's
// endpoints at start and exit, connect/disconnect, and what inspect, ps and
// stats show of them.

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
	"github.com/hullproject/hull/internal/network"
)

// networkNames are the default bridge's interface and the nftables table:
// hull0 and hull for the default exec root, and names of their own for any
// other (a test's daemon), so that two daemons never share them.
func networkNames(execRoot, bridge string) (string, string) {
	if execRoot == "/run/hull" {
		if bridge == "" {
			bridge = "hull0"
		}
		return bridge, "hull"
	}
	h := fnv.New32a()
	h.Write([]byte(execRoot))
	sum := fmt.Sprintf("%08x", h.Sum32())[:6]
	if bridge == "" {
		bridge = "hull" + sum
	}
	return bridge, "hull_" + sum
}

// containerNetworks are the networks a container asks for: its network
// mode's first, then the others of NetworkingConfig, by name. None for the
// modes host and container:, and none unless the container was
// disconnected from it (then only the networks it was connected to).
func containerNetworks(r *record) []network.EndpointRequest {
	mode := networkMode(r.HostConfig)
	if mode == "host" || strings.HasPrefix(mode, "container:") || mode == "none" && !r.NetworkModeDetached {
		return nil
	}
	eps := map[string]*mnet.EndpointSettings{}
	if r.NetworkingConfig != nil {
		for name, es := range r.NetworkingConfig.EndpointsConfig {
			if name == "default" || name == string(r.HostConfig.NetworkMode) {
				// The docker CLI names the mode's network "default".
				name = mode
			}
			eps[name] = es
		}
	}
	req := func(name string) network.EndpointRequest {
		er := network.EndpointRequest{Network: name}
		if es := eps[name]; es != nil {
			er.Aliases = es.Aliases
			if es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid() {
				er.IPv4 = es.IPAMConfig.IPv4Address.String()
			}
			if es.IPAMConfig != nil && es.IPAMConfig.IPv6Address.IsValid() {
				er.IPv6 = es.IPAMConfig.IPv6Address.String()
			}
			if len(es.MacAddress) > 0 {
				er.MAC = es.MacAddress.String()
			}
			er.Links = es.Links
		}
		return er
	}
	var out []network.EndpointRequest
	if !r.NetworkModeDetached {
		out = append(out, req(mode))
	}
	names := make([]string, 0, len(eps))
	for name := range eps {
		if name != mode {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, req(n))
	}
	return out
}

// checkNetworking refuses at create what cannot start: unknown networks,
// a static address on the default bridge, bad port bindings.
func (d *Daemon) checkNetworking(r *record) error {
	if err := d.checkLinks(r); err != nil {
		return err
	}
	if err := checkMACs(r); err != nil {
		return err
	}
	if err := d.checkEndpointModes(r); err != nil {
		return err
	}
	if r.NetworkingConfig != nil {
		for _, es := range r.NetworkingConfig.EndpointsConfig {
			if es != nil {
				if err := checkStaticAddrs(es.IPAMConfig); err != nil {
					return err
				}
			}
		}
	}
	for _, er := range containerNetworks(r) {
		nw, err := d.net.Network(er.Network)
		if errdefs.IsNotFound(err) {
			// As dockerd: a network may be made between the create and the
			// start, which fails without it.
			continue
		}
		if err != nil {
			return err
		}
		if (er.IPv4 != "" || er.IPv6 != "") && nw.Predefined {
			return fmt.Errorf("user specified IP address is supported on user defined networks only: %w", errdefs.ErrInvalidArgument)
		}
	}
	_, err := portBindings(r)
	return err
}

// portBindings are the container's published ports: -p, and with -P every
// exposed port on a free host port.
func portBindings(r *record) ([]network.PortBinding, error) {
	var out []network.PortBinding
	seen := map[mnet.Port]bool{}
	ports := make([]mnet.Port, 0, len(r.HostConfig.PortBindings))
	for p := range r.HostConfig.PortBindings {
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b mnet.Port) int { return strings.Compare(a.String(), b.String()) })
	for _, p := range ports {
		seen[p] = true
		for _, b := range r.HostConfig.PortBindings[p] {
			pb := network.PortBinding{Proto: string(p.Proto()), ContainerPort: p.Num()}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				pb.HostIP = b.HostIP.String()
			}
			if b.HostPort != "" {
				// A range takes its first port, as one container port maps
				// to one host port.
				hp, _, _ := strings.Cut(b.HostPort, "/") // "8080/tcp" as dockerd takes it
				first, _, _ := strings.Cut(hp, "-")
				n, err := strconv.ParseUint(first, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("invalid host port %q: %w", b.HostPort, errdefs.ErrInvalidArgument)
				}
				pb.HostPort = uint16(n)
			}
			out = append(out, pb)
		}
	}
	if r.HostConfig.PublishAllPorts && r.Config != nil {
		exposed := make([]mnet.Port, 0, len(r.Config.ExposedPorts))
		for p := range r.Config.ExposedPorts {
			exposed = append(exposed, p)
		}
		slices.SortFunc(exposed, func(a, b mnet.Port) int { return strings.Compare(a.String(), b.String()) })
		for _, p := range exposed {
			if !seen[p] {
				out = append(out, network.PortBinding{Proto: string(p.Proto()), ContainerPort: p.Num()})
			}
		}
	}
	for _, pb := range out {
		if pb.Proto != "tcp" && pb.Proto != "udp" {
			return nil, fmt.Errorf("invalid protocol %q: hull publishes tcp and udp: %w", pb.Proto, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// attachNetwork gives a starting container its compartment and endpoints.
// It returns the compartment (nil for none, host) and the container's
// first address, for /etc/hosts. A network event "connect" tells of each
// network joined (none and host too, as dockerd; not a network shared
// with container:X).
func (d *Daemon) attachNetwork(ctx context.Context, r *record) (*network.Sandbox, []netip.Addr, error) {
	nets := containerNetworks(r)
	if len(nets) == 0 {
		if mode := networkMode(r.HostConfig); (mode == "none" || mode == "host") && !r.NetworkModeDetached {
			if nw, err := d.net.Network(mode); err == nil {
				noteNetworkID(r, nw)
				d.networkEvent(nw, events.ActionConnect, r.ID)
			}
		}
		return nil, nil, nil
	}
	ports, err := portBindings(r)
	if err != nil {
		return nil, nil, err
	}
	tr := d.trace(r.ID)
	sb, err := d.net.Attach(ctx, network.AttachRequest{ContainerID: r.ID, Name: r.Name, Networks: nets, Ports: ports, DNS: addrStrings(r.HostConfig.DNS),
		Step: func(name string) { tr.step("network: " + name) }})
	if err != nil {
		return nil, nil, err
	}
	// /etc/hosts names the container with its first endpoint's IPv4
	// address, then its IPv6 one, as dockerd writes it.
	var addrs []netip.Addr
	eps := d.net.Endpoints(r.ID)
	if len(eps) > 0 {
		for _, a := range []netip.Prefix{eps[0].Addr, eps[0].Addr6} {
			if a.IsValid() {
				addrs = append(addrs, a.Addr())
			}
		}
	}
	for _, ep := range eps {
		if nw, err := d.net.Network(ep.NetworkID); err == nil {
			noteNetworkID(r, nw)
			d.networkEvent(nw, events.ActionConnect, r.ID)
		}
	}
	d.updateParentHosts(r)
	return sb, addrs, nil
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// detachNetwork removes a container's compartment and endpoints; when
// another running container shares its network namespace, that namespace
// stays with loopback only. A network event "disconnect" tells of each
// endpoint removed and, when stopping (its exit, a failed start), of the
// none or host network it was on. Preconditions: the container's mu may
// be held.
func (d *Daemon) detachNetwork(ctx context.Context, r *record, stopping bool) {
	id := r.ID
	var left []*network.Network
	for _, ep := range d.net.Endpoints(id) {
		if nw, err := d.net.Network(ep.NetworkID); err == nil {
			left = append(left, nw)
		}
	}
	if mode := networkMode(r.HostConfig); stopping && (mode == "none" || mode == "host") {
		if nw, err := d.net.Network(mode); err == nil {
			left = append(left, nw)
		}
	}
	detach := d.net.Detach
	if d.net.Sandbox(id) != nil && d.netSharers(id) {
		detach = d.net.DetachShared
	}
	if err := detach(ctx, id); err != nil {
		slog.Error("detach the container's network", "id", id, "error", err)
	}
	for _, nw := range left {
		d.networkEvent(nw, events.ActionDisconnect, id)
	}
}

// networkSettings is what inspect shows of a container's networks: the
// endpoints while it runs, the networks it asks for otherwise.
func (d *Daemon) networkSettings(r *record) *container.NetworkSettings {
	ns := &container.NetworkSettings{Ports: mnet.PortMap{}, Networks: map[string]*mnet.EndpointSettings{}}
	sb := d.net.Sandbox(r.ID)
	if sb != nil {
		ns.SandboxID, ns.SandboxKey = r.ID, sb.Path
		for _, p := range sb.Ports {
			port, ok := mnet.PortFrom(p.ContainerPort, mnet.IPProtocol(p.Proto))
			if !ok {
				continue
			}
			hostIP := netip.IPv4Unspecified()
			if a, err := netip.ParseAddr(p.HostIP); err == nil {
				hostIP = a
			}
			hostPort := strconv.Itoa(int(p.HostPort))
			ns.Ports[port] = append(ns.Ports[port], mnet.PortBinding{HostIP: hostIP, HostPort: hostPort})
			if p.HostIP == "" && ipv6Listenable() {
				// The proxy listens on every address, IPv6's too: dockerd
				// tells that binding as its own (docker ps: [::]:port).
				ns.Ports[port] = append(ns.Ports[port], mnet.PortBinding{HostIP: netip.IPv6Unspecified(), HostPort: hostPort})
			}
		}
	}
	if r.Config != nil && sb != nil {
		// While it runs, the ports it exposes without publishing them
		// are told too (with no binding), as dockerd does.
		for p := range r.Config.ExposedPorts {
			if _, ok := ns.Ports[p]; !ok {
				ns.Ports[p] = nil
			}
		}
	}
	// dockerd learns a network's id when the container first connects
	// (at its first start) and keeps it once stopped: "" until then
	// (r.NetworkIDs records it).
	started := sb != nil || !r.State.StartedAt.IsZero()
	mode := networkMode(r.HostConfig)
	if (mode == "none" || mode == "host") && !r.NetworkModeDetached {
		ns.Networks[mode] = &mnet.EndpointSettings{NetworkID: r.NetworkIDs[mode]}
		return ns
	}
	for _, er := range containerNetworks(r) {
		es := &mnet.EndpointSettings{Aliases: er.Aliases, Links: er.Links, NetworkID: r.NetworkIDs[er.Network]}
		if nw, err := d.net.Network(er.Network); err == nil {
			es.NetworkID = r.NetworkIDs[nw.Name]
			if !nw.Predefined && (started || connectedStopped(r, er.Network)) {
				es.DNSNames = endpointDNSNames(r, er.Aliases)
			}
		}
		if er.IPv4 != "" || er.IPv6 != "" {
			a, _ := netip.ParseAddr(er.IPv4)
			a6, _ := netip.ParseAddr(er.IPv6)
			es.IPAMConfig = &mnet.EndpointIPAMConfig{IPv4Address: a, IPv6Address: a6}
		}
		if mac, err := net.ParseMAC(er.MAC); err == nil {
			// The address asked for, until the endpoint has it.
			es.MacAddress = mnet.HardwareAddr(mac)
		}
		ns.Networks[er.Network] = es
	}
	for _, ep := range d.net.Endpoints(r.ID) {
		nw, err := d.net.Network(ep.NetworkID)
		if err != nil {
			continue
		}
		es := ns.Networks[nw.Name]
		if es == nil {
			es = &mnet.EndpointSettings{NetworkID: nw.ID, Aliases: ep.Aliases}
			ns.Networks[nw.Name] = es
		}
		es.NetworkID, es.EndpointID = nw.ID, ep.ID
		es.Gateway = ep.Gateway
		if ep.Addr.IsValid() {
			es.IPAddress, es.IPPrefixLen = ep.Addr.Addr(), ep.Addr.Bits()
		}
		if ep.Addr6.IsValid() {
			es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = ep.Addr6.Addr(), ep.Addr6.Bits(), ep.Gateway6
		}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			es.MacAddress = mnet.HardwareAddr(mac)
		}
		if !nw.Predefined {
			es.DNSNames = endpointDNSNames(r, es.Aliases)
		}
	}
	return ns
}

// summaryEndpoints are a container's endpoints as GET /containers/json
// tells them: dockerd copies the addresses and ids only (no links,
// aliases, driver options or DNS names).
func summaryEndpoints(eps map[string]*mnet.EndpointSettings) map[string]*mnet.EndpointSettings {
	out := make(map[string]*mnet.EndpointSettings, len(eps))
	for name, es := range eps {
		if es == nil {
			continue
		}
		s := &mnet.EndpointSettings{
			NetworkID: es.NetworkID, EndpointID: es.EndpointID, Gateway: es.Gateway, IPAddress: es.IPAddress,
			IPPrefixLen: es.IPPrefixLen, IPv6Gateway: es.IPv6Gateway, GlobalIPv6Address: es.GlobalIPv6Address,
			GlobalIPv6PrefixLen: es.GlobalIPv6PrefixLen, MacAddress: es.MacAddress, GwPriority: es.GwPriority,
		}
		if es.IPAMConfig != nil {
			s.IPAMConfig = &mnet.EndpointIPAMConfig{IPv4Address: es.IPAMConfig.IPv4Address, IPv6Address: es.IPAMConfig.IPv6Address}
		}
		out[name] = s
	}
	return out
}

// endpointDNSNames are the names a container answers to on a user-defined
// network, in dockerd's order (the first one names its PTR records): its
// name, its endpoint's aliases, its short id, its host name, each once.
// dockerd gives none on the predefined networks (bridge, host, none).
func endpointDNSNames(r *record, aliases []string) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	add(r.Name)
	for _, a := range aliases {
		add(a)
	}
	if len(r.ID) >= 12 {
		add(r.ID[:12])
	}
	if r.Config != nil {
		add(r.Config.Hostname)
	}
	return names
}

// connectedStopped tells whether the container was connected to the
// network while stopped: dockerd sets the endpoint's DNS names then,
// before its first start (NetworkConnect marks it with them).
func connectedStopped(r *record, network string) bool {
	if r.NetworkingConfig == nil {
		return false
	}
	es := r.NetworkingConfig.EndpointsConfig[network]
	return es != nil && es.DNSNames != nil
}

// portSummary is ps's PORTS, from inspect's port map: published ports with
// their host address and port, exposed ones alone, as docker ps shows them.
func portSummary(ns *container.NetworkSettings) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bindings := range ns.Ports {
		if len(bindings) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range bindings {
			port, _ := strconv.ParseUint(b.HostPort, 10, 16)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(port), Type: string(p.Proto())})
		}
	}
	slices.SortFunc(out, func(a, b container.PortSummary) int {
		return cmp.Or(cmp.Compare(a.PrivatePort, b.PrivatePort), strings.Compare(a.Type, b.Type), cmp.Compare(a.PublicPort, b.PublicPort))
	})
	return out
}

// networkStats are docker stats' per-interface counters.
func (d *Daemon) networkStats(id string) map[string]container.NetworkStats {
	ifs, err := d.net.Interfaces(id)
	if err != nil {
		return nil
	}
	out := map[string]container.NetworkStats{}
	for _, it := range ifs {
		if it.Name == "lo" {
			continue
		}
		out[it.Name] = container.NetworkStats{RxBytes: it.RxBytes, RxPackets: it.RxPackets, RxErrors: it.RxErrors, RxDropped: it.RxDropped,
			TxBytes: it.TxBytes, TxPackets: it.TxPackets, TxErrors: it.TxErrors, TxDropped: it.TxDropped}
	}
	return out
}

func (d *Daemon) networkAPI(nw *network.Network, withContainers bool) mnet.Inspect {
	out := mnet.Inspect{Network: mnet.Network{
		Name: nw.Name, ID: nw.ID, Created: nw.Created, Scope: "local", Driver: nw.Driver, EnableIPv4: !nw.DisableIPv4, EnableIPv6: nw.EnableIPv6,
		IPAM:     mnet.IPAM{Driver: cmp.Or(nw.IPAMDriver, "default"), Options: nw.IPAMOptions, Config: []mnet.IPAMConfig{}},
		Internal: nw.Internal, Attachable: nw.Attachable, ConfigFrom: mnet.ConfigReference{},
		Options: nw.Options, Labels: nw.Labels, Peers: nil,
	}}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if nw.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, mnet.IPAMConfig{Subnet: nw.Subnet, Gateway: nw.Gateway, IPRange: nw.IPRange})
	}
	if nw.Subnet6.IsValid() {
		// As dockerd: the gateway the user gave, or the one of a pool it
		// chose; none for a subnet given without one.
		c := mnet.IPAMConfig{Subnet: nw.Subnet6, IPRange: nw.IPRange6}
		if !nw.Gateway6Auto {
			c.Gateway = nw.Gateway6
		}
		out.IPAM.Config = append(out.IPAM.Config, c)
	}
	if withContainers {
		out.Containers = map[string]mnet.EndpointResource{}
		for _, ep := range d.net.NetworkEndpoints(nw.ID) {
			res := mnet.EndpointResource{Name: ep.ContainerName, EndpointID: ep.ID, IPv4Address: ep.Addr, IPv6Address: ep.Addr6}
			if mac, err := net.ParseMAC(ep.MAC); err == nil {
				res.MacAddress = mnet.HardwareAddr(mac)
			}
			if c, err := d.lookup(ep.ContainerID); err == nil {
				c.mu.Lock()
				res.Name = c.rec.Name
				c.mu.Unlock()
			}
			out.Containers[ep.ContainerID] = res
		}
	}
	return out
}

// NetworkList is GET /networks.
func (d *Daemon) NetworkList(ctx context.Context, f filters.Args) ([]mnet.Inspect, error) {
	nf, err := newNetworkFilter(f, false)
	if err != nil {
		return nil, err
	}
	all, err := d.net.Networks()
	if err != nil {
		return nil, err
	}
	out := []mnet.Inspect{}
	for _, nw := range all {
		if nf.matches(&nw, len(d.net.NetworkEndpoints(nw.ID)) > 0) {
			out = append(out, d.networkAPI(&nw, false))
		}
	}
	return out, nil
}

// NetworkInspect is GET /networks/{id}.
func (d *Daemon) NetworkInspect(ctx context.Context, ref string) (mnet.Inspect, error) {
	nw, err := d.net.Network(ref)
	if err != nil {
		return mnet.Inspect{}, err
	}
	out := d.networkAPI(nw, true)
	out.Status = d.networkStatus(nw)
	return out, nil
}

// NetworkCreate is POST /networks/create. As dockerd: the predefined
// names are refused first, then a wrong IPAM config (with moby 25's
// words: dockerd 20.10 let it through to fail later, or not at all).
func (d *Daemon) NetworkCreate(ctx context.Context, req mnet.CreateRequest) (mnet.CreateResponse, error) {
	switch req.Name {
	case "bridge", "host", "none", "default":
		return mnet.CreateResponse{}, errdefs.Dockerf(errdefs.ErrForbidden, "operation is not permitted on predefined %s network ", req.Name)
	}
	cr := network.CreateRequest{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable,
		Options: req.Options, Labels: req.Labels}
	cr.EnableIPv6 = req.EnableIPv6 != nil && *req.EnableIPv6
	// EnableIPv4 is API 1.48's: the server unsets it for older versions.
	cr.DisableIPv4 = req.EnableIPv4 != nil && !*req.EnableIPv4
	if req.IPAM != nil {
		if err := checkIPAMConfig(req.IPAM.Config, cr.EnableIPv6); err != nil {
			return mnet.CreateResponse{}, err
		}
		cr.IPAMDriver, cr.IPAMOptions = req.IPAM.Driver, req.IPAM.Options
		if err := splitIPAMConfig(&cr, req.IPAM.Config); err != nil {
			return mnet.CreateResponse{}, err
		}
	}
	nw, err := d.net.CreateNetwork(ctx, cr)
	if err != nil {
		return mnet.CreateResponse{}, err
	}
	d.networkEvent(nw, events.ActionCreate, "")
	return mnet.CreateResponse{ID: nw.ID}, nil
}

// NetworkRemove is DELETE /networks/{id}.
func (d *Daemon) NetworkRemove(ctx context.Context, ref string) error {
	nw, err := d.net.Network(ref)
	if err != nil {
		return err
	}
	if err := d.net.RemoveNetwork(ctx, nw.ID); err != nil {
		return err
	}
	d.networkEvent(nw, events.ActionDestroy, "")
	return nil
}

// NetworksPrune is POST /networks/prune: the user networks no running
// container is attached to, among those the filters (label, label!,
// until) select. Nothing goes when a filter is wrong. NetworksDeleted is
// null when nothing went, as dockerd answers.
func (d *Daemon) NetworksPrune(ctx context.Context, f filters.Args) (mnet.PruneReport, error) {
	nf, err := newNetworkFilter(f, true)
	if err != nil {
		return mnet.PruneReport{}, err
	}
	considered := map[string]network.Network{}
	removed, err := d.net.PruneNetworks(ctx, func(nw *network.Network) bool {
		considered[nw.Name] = *nw
		return !nf.matches(nw, false)
	})
	for _, name := range removed {
		nw := considered[name]
		d.networkEvent(&nw, events.ActionDestroy, "")
	}
	d.emit(events.NetworkEventType, events.ActionPrune, "", map[string]string{"reclaimed": "0"})
	return mnet.PruneReport{NetworksDeleted: removed}, err
}

// NetworkConnect is POST /networks/{id}/connect: a running container gets
// the endpoint at once, any container keeps it in its config. As dockerd,
// a container that is not running may name a network that does not exist
// (its start fails then), and the networks it is on now decide what it may
// join: none and host, or a shared namespace, join no other.
func (d *Daemon) NetworkConnect(ctx context.Context, ref string, req mnet.ConnectRequest) error {
	c, err := d.lookup(req.Container)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	running := c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused
	nw, err := d.net.Network(ref)
	if err != nil {
		if running || !errdefs.IsNotFound(err) {
			return err
		}
		d.keepEndpointConfig(&c.rec, ref, req.EndpointConfig)
		return d.save(&c.rec)
	}
	mode := networkMode(c.rec.HostConfig)
	if _, shared := containerMode(mode); shared && running {
		return errSharedNetwork
	}
	if mode != "host" && nw.Driver == "host" {
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network: %w", errdefs.ErrInvalidArgument)
	}
	for _, on := range d.attachedNetworks(&c.rec) {
		switch {
		case on.ID == nw.ID && running:
			return fmt.Errorf("endpoint with name %s already exists in network %s: %w", c.rec.Name, nw.Name, errdefs.ErrForbidden)
		case on.ID == nw.ID:
			return nil // dockerd keeps the config it has
		case on.Driver == "host" || nw.Driver == "host":
			return errSharedNetwork
		case on.Driver == "null" || nw.Driver == "null":
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "container cannot be connected to multiple networks with one of the networks in private (none) mode")
		}
	}
	es := req.EndpointConfig
	if es == nil {
		es = &mnet.EndpointSettings{}
	}
	er := network.EndpointRequest{Network: nw.Name, Aliases: es.Aliases, Links: es.Links}
	if len(es.MacAddress) > 0 {
		if err := checkMAC(es.MacAddress); err != nil {
			return err
		}
		er.MAC = es.MacAddress.String()
	}
	// A static address of the wrong family is not refused here, as
	// dockerd 20.10: the endpoint's IPAM finds it in no subnet.
	if es.IPAMConfig != nil && (es.IPAMConfig.IPv4Address.IsValid() || es.IPAMConfig.IPv6Address.IsValid()) {
		if nw.Predefined {
			return fmt.Errorf("user specified IP address is supported on user defined networks only: %w", errdefs.ErrInvalidArgument)
		}
		if a := es.IPAMConfig.IPv4Address; a.IsValid() {
			er.IPv4 = a.String()
		}
		if a := es.IPAMConfig.IPv6Address; a.IsValid() {
			er.IPv6 = a.String()
		}
	}
	delete(c.rec.NetworkIDs, nw.Name)
	if running {
		if _, err := d.net.Connect(ctx, c.rec.ID, er); err != nil {
			return err
		}
		noteNetworkID(&c.rec, nw)
		// dockerd tells of a connect when the endpoint is made: at once
		// for a running container, at its start for another.
		defer d.networkEvent(nw, events.ActionConnect, c.rec.ID)
	}
	if c.rec.NetworkingConfig == nil {
		c.rec.NetworkingConfig = &mnet.NetworkingConfig{}
	}
	if c.rec.NetworkingConfig.EndpointsConfig == nil {
		c.rec.NetworkingConfig.EndpointsConfig = map[string]*mnet.EndpointSettings{}
	}
	if m, err := d.net.Network(mode); err == nil && m.ID == nw.ID {
		c.rec.NetworkModeDetached = false
	} else {
		ep := &mnet.EndpointSettings{Aliases: es.Aliases, IPAMConfig: es.IPAMConfig, MacAddress: es.MacAddress, Links: er.Links}
		if !running && !nw.Predefined {
			// dockerd names the endpoint at once (connectedStopped).
			ep.DNSNames = endpointDNSNames(&c.rec, es.Aliases)
		}
		c.rec.NetworkingConfig.EndpointsConfig[nw.Name] = ep
	}
	return d.save(&c.rec)
}

// noteNetworkID records that r has had an endpoint on nw: inspect shows a
// network's NetworkID from the container's first start on it, as dockerd
// does (empty for a container created or connected since).
func noteNetworkID(r *record, nw *network.Network) {
	if r.NetworkIDs == nil {
		r.NetworkIDs = map[string]string{}
	}
	r.NetworkIDs[nw.Name] = nw.ID
}

// errSharedNetwork refuses another network to a container on host's or
// another container's network namespace (dockerd's words).
var errSharedNetwork = errdefs.Dockerf(errdefs.ErrInvalidArgument, "container sharing network namespace with another container or host cannot be connected to any other network")

// attachedNetworks are the networks r is on now: its network mode's
// (unless it was disconnected from it; none for container:X) and those it
// was connected to that still exist.
func (d *Daemon) attachedNetworks(r *record) []*network.Network {
	var out []*network.Network
	mode := networkMode(r.HostConfig)
	if _, shared := containerMode(mode); !shared && !r.NetworkModeDetached {
		if nw, err := d.net.Network(mode); err == nil {
			out = append(out, nw)
		}
	}
	if r.NetworkingConfig != nil {
		for name := range r.NetworkingConfig.EndpointsConfig {
			if nw, err := d.net.Network(name); err == nil && !slices.ContainsFunc(out, func(o *network.Network) bool { return o.ID == nw.ID }) {
				out = append(out, nw)
			}
		}
	}
	return out
}

// keepEndpointConfig records, for a container that is not running, a
// network that does not exist (yet) by the name given, as dockerd does.
func (d *Daemon) keepEndpointConfig(r *record, name string, es *mnet.EndpointSettings) {
	if r.NetworkingConfig == nil {
		r.NetworkingConfig = &mnet.NetworkingConfig{}
	}
	if r.NetworkingConfig.EndpointsConfig == nil {
		r.NetworkingConfig.EndpointsConfig = map[string]*mnet.EndpointSettings{}
	}
	if es == nil {
		es = &mnet.EndpointSettings{}
	}
	r.NetworkingConfig.EndpointsConfig[name] = &mnet.EndpointSettings{Aliases: es.Aliases, IPAMConfig: es.IPAMConfig, MacAddress: es.MacAddress, Links: es.Links}
}

// NetworkDisconnect is POST /networks/{id}/disconnect, as dockerd: a
// running container leaves the network's endpoint (a network that is gone
// only with force); one that is not running forgets the network in its
// config, by name (a network connected while it did not exist too).
func (d *Daemon) NetworkDisconnect(ctx context.Context, ref string, req mnet.DisconnectRequest) error {
	c, err := d.lookup(req.Container)
	if err != nil {
		return err
	}
	nw, nerr := d.net.Network(ref)
	if nerr != nil && !errdefs.IsNotFound(nerr) {
		return nerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	running := c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused
	switch {
	case running && nw != nil:
		if networkMode(c.rec.HostConfig) == "host" && nw.Driver == "host" {
			return fmt.Errorf("container cannot be disconnected from host network or connected to host network: %w", errdefs.ErrInvalidArgument)
		}
		if err := d.net.Disconnect(ctx, c.rec.ID, nw.ID); err != nil && !(errdefs.IsNotFound(err) && req.Force) {
			return err
		}
		d.forgetNetwork(&c.rec, nw.Name, nw)
	case running && !req.Force:
		return nerr
	default:
		name := ref
		if nw != nil {
			name = nw.Name
		}
		if !d.forgetNetwork(&c.rec, name, nw) {
			return errdefs.Dockerf(errdefs.ErrNotFound, "container %s is not connected to the network %s", c.rec.ID, name)
		}
	}
	if err := d.save(&c.rec); err != nil {
		return err
	}
	if nw != nil {
		d.networkEvent(nw, events.ActionDisconnect, c.rec.ID)
	}
	return nil
}

// forgetNetwork drops network name (nw when it exists) from r's config:
// its entry among the networks it was connected to, or its network mode's
// (the mode stays, as Docker's does, but r is no longer attached to it).
// It reports whether r had it.
func (d *Daemon) forgetNetwork(r *record, name string, nw *network.Network) bool {
	found := false
	if eps := r.NetworkingConfig; eps != nil {
		for key := range eps.EndpointsConfig {
			if key == name || nw != nil && d.isNetwork(key, nw) {
				delete(eps.EndpointsConfig, key)
				found = true
			}
		}
	}
	if mode := networkMode(r.HostConfig); !r.NetworkModeDetached && (mode == name || nw != nil && d.isNetwork(mode, nw)) {
		if _, shared := containerMode(mode); !shared {
			r.NetworkModeDetached = true
			found = true
		}
	}
	delete(r.NetworkIDs, name)
	return found
}

// isNetwork reports whether ref names nw.
func (d *Daemon) isNetwork(ref string, nw *network.Network) bool {
	n, err := d.net.Network(ref)
	return err == nil && n.ID == nw.ID
}

// networkEvent publishes a network's event, naming the container for a
// connect or disconnect.
func (d *Daemon) networkEvent(nw *network.Network, action events.Action, containerID string) {
	attrs := map[string]string{"name": nw.Name, "type": nw.Driver}
	if containerID != "" {
		attrs["container"] = containerID
	}
	d.emit(events.NetworkEventType, action, nw.ID, attrs)
}

// checkMACs refuses at create the MAC addresses no NIC can take, and one
// asked for where the container has no endpoint of its own (network mode
// host or container:X).
func checkMACs(r *record) error {
	if r.NetworkingConfig == nil {
		return nil
	}
	mode := networkMode(r.HostConfig)
	_, shares := containerMode(mode)
	for _, es := range r.NetworkingConfig.EndpointsConfig {
		if es == nil || len(es.MacAddress) == 0 {
			continue
		}
		if shares || mode == "host" {
			return fmt.Errorf("conflicting options: mac-address and the network mode: %w", errdefs.ErrInvalidArgument)
		}
		if err := checkMAC(es.MacAddress); err != nil {
			return err
		}
	}
	return nil
}

// checkMAC refuses what is not an Ethernet unicast address.
func checkMAC(mac mnet.HardwareAddr) error {
	if len(mac) != 6 || mac[0]&1 != 0 {
		return fmt.Errorf("invalid MAC address %s: want a unicast Ethernet address (6 bytes, first byte even): %w", mac, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ipv6Listenable says whether the host can listen on IPv6 (not booted
// with ipv6.disable=1), as libnetwork's IsV6Listenable: then a port
// published on every address is published on IPv6's too.
var ipv6Listenable = sync.OnceValue(func() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
})
