package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// system is what the service asks of the kernel: compartments, NICs,
// routes, the firewall. system_linux.go implements it on netlink and
// nftables; on Windows it arrives with HNS (issue 7).
type system interface {
	hostRoutes() []netip.Prefix
	newCompartment(path string) error
	// adoptCompartment moves the compartment at from to the path to,
	// renaming the empty file spare to it first.
	adoptCompartment(from, spare, to string) error
	// markPooled marks the host end of a NIC made ahead as the pool's
	// (pooled), or as any other NIC of the daemon's once taken.
	markPooled(hostIf string, pooled bool) error
	removeCompartment(path string) error
	// plumb moves the host interface src into the compartment as dst with
	// ep's addresses and MAC, sets it up, and adds routes, and default
	// routes through ep's gateways when default4 and default6. IPv6 is on
	// for dst only when ep has an IPv6 address.
	plumb(path string, ji JoinInfo, dst string, ep *Endpoint, default4, default6 bool) error
	unplumb(path, ifName string) error
	syncFirewall(nws []Network) error
	// listenDNS opens the resolver's sockets on 127.0.0.11:53 inside the
	// compartment.
	listenDNS(path string) (net.PacketConn, net.Listener, error)
	interfaces(path string) ([]Interface, error)
	routes(path string) ([]RouteInfo, error)
	// reconcileLinks removes host links of the service's drivers that no
	// record names (keep holds the names to keep).
	reconcileLinks(keep map[string]bool)
}

// Interface is a NIC in a compartment, as `hull diag interfaces` shows it.
type Interface struct {
	Name      string   `json:"name"`
	Index     int      `json:"index"`
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses"`
	Alias     string   `json:"alias,omitempty"`
	Up        bool     `json:"up"`
	RxBytes   uint64   `json:"rxBytes"`
	RxPackets uint64   `json:"rxPackets"`
	RxErrors  uint64   `json:"rxErrors"`
	RxDropped uint64   `json:"rxDropped"`
	TxBytes   uint64   `json:"txBytes"`
	TxPackets uint64   `json:"txPackets"`
	TxErrors  uint64   `json:"txErrors"`
	TxDropped uint64   `json:"txDropped"`
}

// RouteInfo is a route in a compartment.
type RouteInfo struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nextHop,omitempty"`
	Interface   string `json:"interface"`
	Scope       string `json:"scope,omitempty"`
}

// EndpointRequest asks for a container's endpoint on a network.
type EndpointRequest struct {
	Network string
	Aliases []string
	// IPv4 and IPv6 are static addresses (--ip, --ip6), or "".
	IPv4, IPv6 string
	// MAC is the NIC's MAC address (--mac-address), or "" for Docker's
	// 02:42:<address>.
	MAC string
	// Links are the endpoint's links on a user-defined network
	// ("name:alias" or "name"): aliases only this container resolves.
	Links []string
}

// AttachRequest asks for a container's compartment and endpoints.
type AttachRequest struct {
	ContainerID, Name string
	// Networks in order: the first gives the default route.
	Networks []EndpointRequest
	Ports    []PortBinding
	// DNS servers (--dns): the resolver forwards to them instead of the
	// host's.
	DNS []string
	// Step, when set, is told of each sub-step of the attach as it ends
	// (the container's creation trace).
	Step func(name string)
}

func (r *AttachRequest) step(name string) {
	if r.Step != nil {
		r.Step(name)
	}
}

// running is what this process runs for a sandbox.
type running struct {
	closers []io.Closer
}

func (r *running) close() {
	for _, c := range r.closers {
		c.Close()
	}
}

func (s *Service) putSandbox(sb *Sandbox) error {
	return s.update(func(tx *bolt.Tx) error { return putSandboxTx(tx, sb) })
}

func putSandboxTx(tx *bolt.Tx, sb *Sandbox) error {
	b, err := json.Marshal(sb)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSandboxes).Put([]byte(sb.ContainerID), b)
}

// Sandbox is a container's sandbox record, or nil.
func (s *Service) Sandbox(containerID string) *Sandbox {
	var sb *Sandbox
	s.cfg.DB.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSandboxes).Get([]byte(containerID)); v != nil {
			sb = &Sandbox{}
			if json.Unmarshal(v, sb) != nil {
				sb = nil
			}
		}
		return nil
	})
	return sb
}

// Sandboxes lists every sandbox record.
func (s *Service) Sandboxes() []Sandbox {
	var out []Sandbox
	s.cfg.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSandboxes).ForEach(func(_, v []byte) error {
			var sb Sandbox
			if json.Unmarshal(v, &sb) == nil {
				out = append(out, sb)
			}
			return nil
		})
	})
	return out
}

// Attach makes a container's compartment, its endpoints on the networks
// asked for and, on user networks, its resolver, and records its published
// ports (Publish binds them). On an error nothing of it is left.
func (s *Service) Attach(ctx context.Context, req AttachRequest) (sb *Sandbox, retErr error) {
	if len(req.Networks) == 0 {
		return nil, fmt.Errorf("attach %s: no network: %w", req.ContainerID, errdefs.ErrInvalidArgument)
	}
	var nws []*Network
	for _, er := range req.Networks {
		nw, err := s.Network(er.Network)
		if err != nil {
			return nil, err
		}
		if nw.Driver == "null" || nw.Driver == "host" {
			return nil, fmt.Errorf("container cannot be connected to network %s with other networks: %w", nw.Name, errdefs.ErrInvalidArgument)
		}
		nws = append(nws, nw)
	}
	if err := checkPorts(req.Ports); err != nil {
		return nil, err
	}
	sb = &Sandbox{ContainerID: req.ContainerID, Name: req.Name, Path: filepath.Join(s.cfg.NetnsDir, req.ContainerID), DNSServers: req.DNS}
	if old := s.Sandbox(req.ContainerID); old != nil {
		// What a crash left: start again from nothing.
		s.Detach(ctx, req.ContainerID)
	}
	// The records are written twice, in one transaction each (a commit
	// waits for the disk twice, milliseconds on a busy host): before the
	// kernel work, the sandbox and each endpoint with its address (what
	// must not be given twice); after it, the endpoints ready. What a crash
	// leaves in the kernel without a record (a compartment, a veth) the
	// next start removes (Reconcile), and an endpoint not ready is undone.
	// With a compartment made ahead, once, before the kernel work.
	defer func() {
		if retErr != nil {
			if err := s.Detach(context.WithoutCancel(ctx), req.ContainerID); err != nil {
				slog.Error("undo a failed attach", "container", req.ContainerID, "error", err)
			}
		}
	}()
	// One network with a compartment made ahead: it is taken (and
	// removed with the sandbox as any other: Detach).
	var pc *pooled
	if len(nws) == 1 {
		if p, ok := s.takePooled(nws[0].ID); ok {
			err := s.sys.adoptCompartment(p.path, p.spare, sb.Path)
			if err == nil {
				err = s.sys.markPooled(p.hostIf, false)
			}
			s.pool.discard(p) // what is left at its pool paths
			if err != nil {
				slog.Warn("network: take a compartment made ahead", "compartment", p.path, "error", err)
			} else {
				pc = &p
			}
		}
	}
	if pc != nil {
		// All is known before the kernel work: the sandbox and its
		// endpoint are recorded once, ready (the bridge's NIC is in the
		// compartment already and goes with it, whatever happens next).
		sb.Ports = req.Ports
		req.step("compartment taken")
	} else if err := s.sys.newCompartment(sb.Path); err != nil {
		return nil, fmt.Errorf("compartment of %s: %w", req.ContainerID, err)
	} else {
		req.step("compartment made")
	}
	var eps []*Endpoint
	for i, er := range req.Networks {
		ep, err := s.join(ctx, sb, nws[i], er, i == 0, joinOpts{step: req.step, recordSandbox: true, prior: eps, readyLater: true, pooled: pc})
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
		if !nws[i].Predefined {
			sb.DNS = true
		}
	}
	sb.Ports = req.Ports
	if err := s.start(sb); err != nil {
		return nil, err
	}
	if pc != nil && eps[0].Ready && !sb.DNS {
		return sb, nil // recorded as it is already
	}
	if err := s.update(func(tx *bolt.Tx) error {
		for _, ep := range eps {
			ep.Ready = true
			if err := putEndpoint(tx, ep); err != nil {
				return err
			}
		}
		return putSandboxTx(tx, sb)
	}); err != nil {
		return nil, err
	}
	req.step("endpoints recorded")
	return sb, nil
}

// start runs the sandbox's resolver. Its published ports are not the
// service's to run: Publish binds them for the container's shim, which
// holds them while the container runs, the daemon there or not.
func (s *Service) start(sb *Sandbox) error {
	r := &running{}
	if sb.DNS {
		pc, l, err := s.sys.listenDNS(sb.Path)
		if err != nil {
			r.close()
			return fmt.Errorf("resolver of %s: %w", sb.ContainerID, err)
		}
		r.closers = append(r.closers, s.serveDNS(sb.ContainerID, pc, l)...)
	}
	s.rmu.Lock()
	if old := s.running[sb.ContainerID]; old != nil {
		old.close()
	}
	s.running[sb.ContainerID] = r
	s.rmu.Unlock()
	return nil
}

func (s *Service) stop(containerID string) {
	s.rmu.Lock()
	r := s.running[containerID]
	delete(s.running, containerID)
	s.rmu.Unlock()
	if r != nil {
		r.close()
	}
}

func checkPorts(ports []PortBinding) error {
	seen := map[string]bool{}
	for _, p := range ports {
		if p.Proto != "tcp" && p.Proto != "udp" {
			return fmt.Errorf("invalid protocol %q of port %d: want tcp or udp: %w", p.Proto, p.ContainerPort, errdefs.ErrInvalidArgument)
		}
		if p.ContainerPort == 0 {
			return fmt.Errorf("invalid container port 0: %w", errdefs.ErrInvalidArgument)
		}
		if p.HostIP != "" {
			if _, err := netip.ParseAddr(p.HostIP); err != nil {
				return fmt.Errorf("invalid host IP %q: %w", p.HostIP, errdefs.ErrInvalidArgument)
			}
		}
		if p.HostPort != 0 {
			k := fmt.Sprintf("%s/%s/%d", p.Proto, p.HostIP, p.HostPort)
			if seen[k] {
				return fmt.Errorf("port %d/%s is published twice: %w", p.HostPort, p.Proto, errdefs.ErrInvalidArgument)
			}
			seen[k] = true
		}
	}
	return nil
}

// joinOpts are how join records what it makes.
type joinOpts struct {
	// step is told of each sub-step as it ends, or nil.
	step func(string)
	// recordSandbox: sb is recorded in the transaction that records the
	// endpoint (an attach writes it no sooner).
	recordSandbox bool
	// prior are the endpoints the same attach made before this one: the
	// caller records them ready after the last, so the records do not
	// say it yet.
	prior []*Endpoint
	// readyLater: the endpoint is left not ready in the records, for the
	// caller to record it ready (an attach, in one transaction for all).
	readyLater bool
	// pooled: sb's compartment was made ahead with this endpoint's NIC
	// (eth0, on the network's bridge): the driver's Join is not asked.
	pooled *pooled
}

// join makes ep on nw in sb's compartment.
func (s *Service) join(ctx context.Context, sb *Sandbox, nw *Network, er EndpointRequest, first bool, o joinOpts) (_ *Endpoint, retErr error) {
	step := func(name string) {
		if o.step != nil {
			o.step(name)
		}
	}
	d, err := s.driver(ctx, nw.Driver)
	if err != nil {
		return nil, err
	}
	ep := &Endpoint{ID: newID(), NetworkID: nw.ID, ContainerID: sb.ContainerID, ContainerName: sb.Name, Aliases: er.Aliases, Links: er.Links}
	if o.pooled != nil {
		ep.ID = o.pooled.epID // its veth is named after it
	}
	v6 := nw.EnableIPv6 && nw.Subnet6.IsValid()
	if er.IPv6 != "" && (!v6 || nw.Subnet6Auto) {
		// dockerd's words: a static IPv6 address needs an IPv6 subnet the
		// user configured.
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "user specified IP address is supported only when connecting to networks with user configured subnets")
	}
	var remoteAddr, remoteAddr6 netip.Prefix
	if nw.IPAMDriver != "" {
		r, err := s.ipam(ctx, nw.IPAMDriver)
		if err != nil {
			return nil, err
		}
		if nw.PoolID != "" {
			if remoteAddr, err = r.requestAddress(ctx, nw.PoolID, er.IPv4, nil); err != nil {
				return nil, err
			}
			defer func() {
				if retErr != nil {
					r.releaseAddress(context.WithoutCancel(ctx), nw.PoolID, remoteAddr.Addr())
				}
			}()
		}
		if v6 && nw.PoolID6 != "" {
			if remoteAddr6, err = r.requestAddress(ctx, nw.PoolID6, er.IPv6, nil); err != nil {
				return nil, err
			}
			defer func() {
				if retErr != nil {
					r.releaseAddress(context.WithoutCancel(ctx), nw.PoolID6, remoteAddr6.Addr())
				}
			}()
		}
	}
	if err := s.update(func(tx *bolt.Tx) error {
		used := map[string]bool{}
		var present bool
		tx.Bucket(bucketEndpoints).ForEach(func(_, v []byte) error {
			var o Endpoint
			if json.Unmarshal(v, &o) == nil && o.ContainerID == sb.ContainerID {
				used[o.IfName] = true
				present = present || o.NetworkID == nw.ID
			}
			return nil
		})
		if present {
			return fmt.Errorf("container %s is already attached to network %s: %w", sb.ContainerID, nw.Name, errdefs.ErrConflict)
		}
		for i := 0; ; i++ {
			if n := fmt.Sprintf("eth%d", i); !used[n] {
				ep.IfName = n
				break
			}
		}
		if nw.DisableIPv4 && er.IPv4 != "" {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "user specified IP address is supported only when connecting to networks with user configured subnets")
		}
		if remoteAddr.IsValid() {
			ep.Addr, ep.StaticIP, ep.Gateway, ep.MAC = remoteAddr, er.IPv4 != "", nw.Gateway, macFor(remoteAddr.Addr())
		} else if nw.Subnet.IsValid() {
			a, err := allocate(tx, nw, nw.pool4(), er.IPv4)
			if err != nil {
				return err
			}
			ep.Addr, ep.StaticIP, ep.Gateway, ep.MAC = a, er.IPv4 != "", nw.Gateway, macFor(a.Addr())
		} else if er.IPv4 != "" {
			return fmt.Errorf("network %s has no subnet for a static address: %w", nw.Name, errdefs.ErrInvalidArgument)
		}
		if remoteAddr6.IsValid() {
			ep.Addr6, ep.StaticIP6, ep.Gateway6 = remoteAddr6, er.IPv6 != "", nw.Gateway6
		} else if v6 && nw.IPAMDriver == "" {
			a, err := allocate(tx, nw, nw.pool6(), er.IPv6)
			if err != nil {
				return err
			}
			ep.Addr6, ep.StaticIP6, ep.Gateway6 = a, er.IPv6 != "", nw.Gateway6
		}
		if er.MAC != "" {
			ep.MAC, ep.StaticMAC = er.MAC, true
		} else if ep.MAC == "" && ep.Addr6.IsValid() {
			ep.MAC = randomMAC()
		}
		if pc := o.pooled; pc != nil && ep.IfName == "eth0" && pc.networkID == nw.ID {
			// What the bridge driver's Join would answer, known now.
			ep.HostIf, ep.Gateway, ep.Ready = pc.hostIf, nw.Gateway, true
		}
		if o.recordSandbox {
			if err := putSandboxTx(tx, sb); err != nil {
				return err
			}
		}
		return putEndpoint(tx, ep)
	}); err != nil {
		return nil, err
	}
	step("address allocated")
	defer func() {
		if retErr != nil {
			s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEndpoints).Delete([]byte(ep.ID)) })
		}
	}()
	if err := d.CreateEndpoint(ctx, nw, ep); err != nil {
		return nil, fmt.Errorf("create endpoint on %s: %w", nw.Name, err)
	}
	defer func() {
		if retErr != nil {
			d.DeleteEndpoint(context.WithoutCancel(ctx), nw, ep)
		}
	}()
	var ji JoinInfo
	if pc := o.pooled; pc != nil && ep.IfName == "eth0" && pc.networkID == nw.ID {
		// What the bridge driver's Join answers, for the NIC made ahead.
		ji = JoinInfo{SrcName: ep.IfName, DstPrefix: "eth", Gateway: nw.Gateway, Gateway6: ep.Gateway6, InSandbox: true, pooled: true}
	} else if ji, err = d.Join(ctx, nw, ep, sb.Path); err != nil {
		return nil, fmt.Errorf("join network %s: %w", nw.Name, err)
	}
	step("driver joined")
	defer func() {
		if retErr != nil {
			d.Leave(context.WithoutCancel(ctx), nw, ep)
		}
	}()
	if ji.Gateway.IsValid() {
		ep.Gateway = ji.Gateway
	}
	if ji.Gateway6.IsValid() {
		ep.Gateway6 = ji.Gateway6
	}
	ep.Routes = ji.Routes
	if ji.DstPrefix != "" && ji.DstPrefix != "eth" {
		// The driver's prefix, numbered as the container's NICs are.
		ep.IfName = ji.DstPrefix + strings.TrimPrefix(ep.IfName, "eth")
	}
	// Not recorded yet: until the endpoint is recorded ready, a crash has
	// it undone (leave needs only its ids and address).
	crashpoint.At("join: the driver joined, the NIC is not in the compartment")
	// The IPv6 default route is the first IPv6 network's, which may not
	// be the first network.
	first6 := ep.Addr6.IsValid() && !nw.Internal && !slices.ContainsFunc(s.Endpoints(sb.ContainerID), func(o Endpoint) bool {
		return o.ID != ep.ID && o.Ready && o.Gateway6.IsValid()
	}) && !slices.ContainsFunc(o.prior, func(o *Endpoint) bool { return o.Gateway6.IsValid() })
	if err := s.sys.plumb(sb.Path, ji, ep.IfName, ep, first && !nw.Internal, first6); err != nil {
		return nil, fmt.Errorf("container NIC on %s: %w", nw.Name, err)
	}
	step("NIC plumbed")
	if o.readyLater {
		return ep, nil
	}
	ep.Ready = true
	if err := s.updateEndpoint(ep); err != nil {
		return nil, err
	}
	return ep, nil
}

func putEndpoint(tx *bolt.Tx, ep *Endpoint) error {
	b, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketEndpoints).Put([]byte(ep.ID), b)
}

func (s *Service) updateEndpoint(ep *Endpoint) error {
	return s.update(func(tx *bolt.Tx) error { return putEndpoint(tx, ep) })
}

// leave undoes join: the NIC, the driver's endpoint, the address. With
// compartmentGoing, a NIC of the bridge driver is left to go with the
// compartment: the kernel removes both ends of the veth when it tears the
// namespace down, off the caller's path (deleting a link waits for an RCU
// grace period, ~10 ms).
func (s *Service) leave(ctx context.Context, ep *Endpoint, compartmentGoing bool) error {
	err := s.unjoin(ctx, ep, compartmentGoing)
	if derr := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEndpoints).Delete([]byte(ep.ID)) }); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// unjoin is leave but for the endpoint's record, which the caller deletes.
func (s *Service) unjoin(ctx context.Context, ep *Endpoint, compartmentGoing bool) error {
	var errs []error
	if nw, err := s.Network(ep.NetworkID); err == nil {
		if d, err := s.driver(ctx, nw.Driver); err == nil {
			g, ok := d.(interface{ nicGoesWithCompartment() bool })
			if compartmentGoing && ok && g.nicGoesWithCompartment() && ep.Ready {
				// nothing: the veth goes with the namespace
			} else if err := d.Leave(ctx, nw, ep); err != nil {
				errs = append(errs, fmt.Errorf("leave %s: %w", nw.Name, err))
			}
			if err := d.DeleteEndpoint(ctx, nw, ep); err != nil {
				errs = append(errs, fmt.Errorf("delete endpoint on %s: %w", nw.Name, err))
			}
		} else {
			errs = append(errs, err)
		}
		if nw.IPAMDriver != "" && nw.PoolID != "" && ep.Addr.IsValid() {
			if r, err := s.ipam(ctx, nw.IPAMDriver); err == nil {
				if err := r.releaseAddress(ctx, nw.PoolID, ep.Addr.Addr()); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if nw.IPAMDriver != "" && nw.PoolID6 != "" && ep.Addr6.IsValid() {
			if r, err := s.ipam(ctx, nw.IPAMDriver); err == nil {
				if err := r.releaseAddress(ctx, nw.PoolID6, ep.Addr6.Addr()); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Detach removes everything Attach and Connect made for a container. It
// goes on past errors and returns them all.
func (s *Service) Detach(ctx context.Context, containerID string) error {
	return s.detach(ctx, containerID, false)
}

// DetachShared is Detach for a compartment that outlives the container:
// another container shares its network namespace (network mode
// container:X). Its NICs are taken out one by one instead of going with
// the namespace, so that the one left in it keeps loopback only, as with
// dockerd, and no address given back to the pool stays in use there.
func (s *Service) DetachShared(ctx context.Context, containerID string) error {
	return s.detach(ctx, containerID, true)
}

func (s *Service) detach(ctx context.Context, containerID string, shared bool) error {
	s.stop(containerID)
	var errs []error
	sb := s.Sandbox(containerID)
	eps := s.Endpoints(containerID)
	for _, ep := range eps {
		if shared && sb != nil {
			s.sys.unplumb(sb.Path, ep.IfName)
		}
		if err := s.unjoin(ctx, &ep, !shared); err != nil {
			errs = append(errs, err)
		}
	}
	path := filepath.Join(s.cfg.NetnsDir, containerID)
	if sb != nil {
		path = sb.Path
	}
	if err := s.sys.removeCompartment(path); err != nil {
		errs = append(errs, err)
	}
	// The records last and in one transaction (one wait for the disk): a
	// crash before it leaves them for the next start to undo again. No
	// record, no transaction (a container detached already: its removal).
	if sb == nil && len(eps) == 0 {
		return errors.Join(errs...)
	}
	if err := s.update(func(tx *bolt.Tx) error {
		for _, ep := range eps {
			if err := tx.Bucket(bucketEndpoints).Delete([]byte(ep.ID)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketSandboxes).Delete([]byte(containerID))
	}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Connect joins a running container's compartment to one more network.
func (s *Service) Connect(ctx context.Context, containerID string, er EndpointRequest) (*Endpoint, error) {
	sb := s.Sandbox(containerID)
	if sb == nil {
		return nil, fmt.Errorf("container %s has no compartment (is it running with a network of its own?): %w", containerID, errdefs.ErrConflict)
	}
	nw, err := s.Network(er.Network)
	if err != nil {
		return nil, err
	}
	if nw.Driver == "null" || nw.Driver == "host" {
		return nil, fmt.Errorf("container cannot be connected to network %s with other networks: %w", nw.Name, errdefs.ErrForbidden)
	}
	first := len(s.Endpoints(containerID)) == 0
	ep, err := s.join(ctx, sb, nw, er, first, joinOpts{})
	if err != nil {
		return nil, err
	}
	if !nw.Predefined && !sb.DNS {
		sb.DNS = true
		s.putSandbox(sb)
		if err := s.start(sb); err != nil {
			slog.Error("resolver", "container", containerID, "error", err)
		}
	}
	return ep, nil
}

// Disconnect removes a container's endpoint on a network.
func (s *Service) Disconnect(ctx context.Context, containerID, network string) error {
	nw, err := s.Network(network)
	if err != nil {
		return err
	}
	for _, ep := range s.Endpoints(containerID) {
		if ep.NetworkID == nw.ID {
			if sb := s.Sandbox(containerID); sb != nil {
				// A remote driver's NIC stays in the compartment unless
				// removed there.
				s.sys.unplumb(sb.Path, ep.IfName)
			}
			return s.leave(ctx, &ep, false)
		}
	}
	return errdefs.Dockerf(errdefs.ErrNotFound, "container %s is not connected to network %s", containerID, nw.Name)
}

// Reconcile makes the kernel agree with the records after a daemon start:
// bridges of recorded networks exist; sandboxes of containers that are not
// live are removed with their endpoints; live ones get their resolver
// again (not their published ports, which never left: their shims hold
// them); compartments, endpoints and links without a record are removed;
// the firewall is rebuilt.
func (s *Service) Reconcile(ctx context.Context, live func(containerID string) bool) error {
	var errs []error
	nws, err := s.Networks()
	if err != nil {
		return err
	}
	if err := s.Prepare(ctx); err != nil {
		errs = append(errs, err)
	}
	sandboxes := map[string]bool{}
	for _, sb := range s.Sandboxes() {
		if !live(sb.ContainerID) {
			if err := s.Detach(ctx, sb.ContainerID); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		sandboxes[sb.ContainerID] = true
		if err := s.start(&sb); err != nil {
			errs = append(errs, err)
		}
	}
	eps, _ := s.endpoints(nil)
	keep := map[string]bool{}
	for _, ep := range eps {
		if !sandboxes[ep.ContainerID] || !ep.Ready {
			if err := s.leave(ctx, &ep, false); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if ep.HostIf != "" {
			keep[ep.HostIf] = true
		}
	}
	for _, nw := range nws {
		if nw.Bridge != "" {
			keep[nw.Bridge] = true
		}
	}
	if ents, err := os.ReadDir(s.cfg.NetnsDir); err == nil {
		for _, e := range ents {
			if !sandboxes[e.Name()] {
				if err := s.sys.removeCompartment(filepath.Join(s.cfg.NetnsDir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := s.removePoolDir(); err != nil {
		errs = append(errs, err)
	}
	s.sys.reconcileLinks(keep)
	if err := s.sys.syncFirewall(s.bridgeNetworksLocked()); err != nil {
		errs = append(errs, err)
	}
	s.startPool()
	return errors.Join(errs...)
}

// Prepare makes what the recorded networks need on the host (after a
// reboot, the bridges) and the firewall, before any container starts.
func (s *Service) Prepare(ctx context.Context) error {
	nws, err := s.Networks()
	if err != nil {
		return err
	}
	var errs []error
	for _, nw := range nws {
		if nw.Driver != "bridge" {
			continue // remote networks live in their plugins; no activation at start
		}
		if d, err := s.driver(ctx, nw.Driver); err == nil {
			if err := d.CreateNetwork(ctx, &nw); err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", nw.Name, err))
			}
		}
	}
	if err := s.sys.syncFirewall(s.bridgeNetworksLocked()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close stops what the service runs in this process (the resolvers);
// compartments and NICs stay for the containers that outlive the daemon.
// When no container has a compartment left, the bridges and the firewall
// table go too (Prepare makes them again at the next start), so that a
// stopped daemon with nothing running leaves nothing on the host.
func (s *Service) Close() {
	s.stopPool()
	s.dmu.RLock()
	for _, d := range s.drivers {
		if rd, ok := d.(*remoteDriver); ok {
			rd.discoverDelete(context.Background())
		}
	}
	s.dmu.RUnlock()
	defer func() {
		if len(s.Sandboxes()) > 0 {
			return
		}
		ctx := context.Background()
		for _, nw := range s.bridgeNetworksLocked() {
			if d, err := s.driver(ctx, nw.Driver); err == nil {
				if err := d.DeleteNetwork(ctx, &nw); err != nil {
					slog.Warn("network service: remove a bridge at shutdown", "bridge", nw.Bridge, "error", err)
				}
			}
		}
		if err := s.sys.syncFirewall(nil); err != nil {
			slog.Warn("network service: remove the firewall table at shutdown", "error", err)
		}
	}()
	s.rmu.Lock()
	ids := make([]string, 0, len(s.running))
	for id := range s.running {
		ids = append(ids, id)
	}
	s.rmu.Unlock()
	for _, id := range ids {
		s.stop(id)
	}
}

// Rename gives a container's endpoints and sandbox its new name (what the
// resolver answers to).
func (s *Service) Rename(containerID, name string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEndpoints)
		var eps []Endpoint
		b.ForEach(func(_, v []byte) error {
			var ep Endpoint
			if json.Unmarshal(v, &ep) == nil && ep.ContainerID == containerID {
				eps = append(eps, ep)
			}
			return nil
		})
		for _, ep := range eps {
			ep.ContainerName = name
			if err := putEndpoint(tx, &ep); err != nil {
				return err
			}
		}
		sbs := tx.Bucket(bucketSandboxes)
		if v := sbs.Get([]byte(containerID)); v != nil {
			var sb Sandbox
			if json.Unmarshal(v, &sb) == nil {
				sb.Name = name
				if b, err := json.Marshal(&sb); err == nil {
					return sbs.Put([]byte(containerID), b)
				}
			}
		}
		return nil
	})
}

// Interfaces are the NICs in a container's compartment.
func (s *Service) Interfaces(containerID string) ([]Interface, error) {
	sb := s.Sandbox(containerID)
	if sb == nil {
		return nil, fmt.Errorf("container %s has no compartment: %w", containerID, errdefs.ErrNotFound)
	}
	return s.sys.interfaces(sb.Path)
}

// Routes are the routes in a container's compartment.
func (s *Service) Routes(containerID string) ([]RouteInfo, error) {
	sb := s.Sandbox(containerID)
	if sb == nil {
		return nil, fmt.Errorf("container %s has no compartment: %w", containerID, errdefs.ErrNotFound)
	}
	return s.sys.routes(sb.Path)
}

// names is what a container on a network is known by there.
func names(ep *Endpoint) []string {
	out := []string{ep.ContainerName}
	if len(ep.ContainerID) >= 12 {
		out = append(out, ep.ContainerID[:12])
	}
	return append(out, ep.Aliases...)
}

// Lookup finds the addresses (IPv4 and IPv6) a name has for the container
// asking: the endpoints, on the networks it is attached to (user networks
// only, as Docker), that go by that name.
func (s *Service) Lookup(containerID, name string) []netip.Addr {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	mine := map[string]bool{}
	// linked: per network, the names this container's links stand for
	// under the name asked (docker run --network app --link db:alias).
	linked := map[string][]string{}
	for _, ep := range s.Endpoints(containerID) {
		if nw, err := s.Network(ep.NetworkID); err == nil && !nw.Predefined {
			mine[ep.NetworkID] = true
			for _, l := range ep.Links {
				target, alias, ok := strings.Cut(l, ":")
				if !ok {
					alias = target
				}
				if strings.ToLower(alias) == name {
					linked[ep.NetworkID] = append(linked[ep.NetworkID], strings.ToLower(strings.TrimPrefix(target, "/")))
				}
			}
		}
	}
	var out []netip.Addr
	eps, _ := s.endpoints(func(ep *Endpoint) bool { return mine[ep.NetworkID] && (ep.Addr.IsValid() || ep.Addr6.IsValid()) })
	for _, ep := range eps {
		known := names(&ep)
		if slices.ContainsFunc(known, func(n string) bool { return strings.ToLower(n) == name }) ||
			slices.ContainsFunc(linked[ep.NetworkID], func(t string) bool {
				return strings.ToLower(ep.ContainerName) == t || strings.HasPrefix(ep.ContainerID, t)
			}) {
			for _, a := range []netip.Prefix{ep.Addr, ep.Addr6} {
				if a.IsValid() {
					out = append(out, a.Addr())
				}
			}
		}
	}
	return out
}

// nullDriver and hostDriver stand behind the predefined none and host
// networks: the compute service gives such a container a namespace of its
// own with only loopback, or the host's; they have no endpoints.
type nullDriver struct{}

func (nullDriver) CreateNetwork(context.Context, *Network) error             { return nil }
func (nullDriver) DeleteNetwork(context.Context, *Network) error             { return nil }
func (nullDriver) CreateEndpoint(context.Context, *Network, *Endpoint) error { return nil }
func (nullDriver) DeleteEndpoint(context.Context, *Network, *Endpoint) error { return nil }
func (nullDriver) Leave(context.Context, *Network, *Endpoint) error          { return nil }
func (nullDriver) Join(context.Context, *Network, *Endpoint, string) (JoinInfo, error) {
	return JoinInfo{}, fmt.Errorf("no endpoint can join this network: %w", errdefs.ErrForbidden)
}

// update runs fn in a write transaction of hull.db, grouped with other
// containers' where the daemon groups them (Config.Update).
func (s *Service) update(fn func(*bolt.Tx) error) error {
	if s.cfg.Update != nil {
		return s.cfg.Update(fn)
	}
	return s.cfg.DB.Update(fn)
}
