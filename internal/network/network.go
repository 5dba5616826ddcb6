// Package network is hull's network service, HNS's role in the Windows
// stack: networks (each made by a driver), IPAM, endpoints, and one
// compartment per container — on Linux a named network namespace under
// <exec-root>/netns/, described as \Container_<id> — holding its container
// NICs and routes. It also publishes ports and answers DNS for containers on
// user networks.
//
// The records live in the daemon's bbolt file (buckets networks, endpoints,
// sandboxes); every change is one transaction. What lives in the kernel
// (namespaces, links, nftables rules) is made after the record and removed
// before it, and Reconcile removes what a daemon killed in between left.
package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/plugin"
)

// Network is a network's record.
type Network struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Created    time.Time         `json:"created"`
	Internal   bool              `json:"internal,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	Options    map[string]string `json:"options,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Subnet and Gateway are the network's IPv4 pool (none for null and
	// host); IPRange, when set, is where addresses are allocated.
	Subnet  netip.Prefix `json:"subnet,omitzero"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	IPRange netip.Prefix `json:"ipRange,omitzero"`
	// DisableIPv4: an IPv6-only network (API 1.48's EnableIPv4 false):
	// no IPv4 subnet, no IPv4 address.
	DisableIPv4 bool `json:"disableIPv4,omitempty"`
	// EnableIPv6: endpoints get an IPv6 address from Subnet6 too (gateway
	// Gateway6, allocated from IPRange6 when set). Without it an IPv6
	// subnet the user gave is only recorded and shown, as dockerd does.
	EnableIPv6 bool         `json:"enableIPv6,omitempty"`
	Subnet6    netip.Prefix `json:"subnet6,omitzero"`
	Gateway6   netip.Addr   `json:"gateway6,omitzero"`
	IPRange6   netip.Prefix `json:"ipRange6,omitzero"`
	// Subnet6Auto: Subnet6 came from the default IPv6 pool, not from the
	// user; no static IPv6 address is taken on it (dockerd's rule).
	Subnet6Auto bool `json:"subnet6Auto,omitempty"`
	// Gateway6Auto: the user gave Subnet6 but no gateway, which hull chose;
	// inspect does not show it, as dockerd does not.
	Gateway6Auto bool `json:"gateway6Auto,omitempty"`
	// Bridge is the bridge driver's interface on the host.
	Bridge string `json:"bridge,omitempty"`
	// IPAMDriver is a remote IPAM plugin ("" is hull's own), PoolID the
	// pool it gave.
	IPAMDriver  string            `json:"ipamDriver,omitempty"`
	IPAMOptions map[string]string `json:"ipamOptions,omitempty"`
	PoolID      string            `json:"poolId,omitempty"`
	// PoolID6 is the remote IPAM driver's IPv6 pool.
	PoolID6 string `json:"poolId6,omitempty"`
	// Predefined networks (bridge, host, none) cannot be removed.
	Predefined bool `json:"predefined,omitempty"`
}

// Endpoint is a container's attachment to a network: its NIC in the
// container's compartment.
type Endpoint struct {
	ID            string   `json:"id"`
	NetworkID     string   `json:"networkId"`
	ContainerID   string   `json:"containerId"`
	ContainerName string   `json:"containerName"`
	Aliases       []string `json:"aliases,omitempty"`
	// Links are legacy links on a user-defined network, "name:alias":
	// names only this endpoint's container resolves.
	Links    []string     `json:"links,omitempty"`
	Addr     netip.Prefix `json:"addr,omitzero"`
	StaticIP bool         `json:"staticIp,omitempty"`
	Gateway  netip.Addr   `json:"gateway,omitzero"`
	// Addr6, StaticIP6 and Gateway6 are the IPv6 side, on a network with
	// IPv6.
	Addr6     netip.Prefix `json:"addr6,omitzero"`
	StaticIP6 bool         `json:"staticIp6,omitempty"`
	Gateway6  netip.Addr   `json:"gateway6,omitzero"`
	MAC       string       `json:"mac,omitempty"`
	// StaticMAC: MAC is the one the user asked for.
	StaticMAC bool `json:"staticMac,omitempty"`
	// IfName is the NIC's name in the compartment (eth0, eth1, …).
	IfName string `json:"ifName,omitempty"`
	// HostIf is the host's end of the NIC (the bridge driver's veth).
	HostIf string `json:"hostIf,omitempty"`
	// Routes are the static routes a driver asked for.
	Routes []Route `json:"routes,omitempty"`
	// Ready: the NIC is in the compartment. An endpoint recorded without it
	// is what a crash in the middle of a join left; Reconcile removes it.
	Ready bool `json:"ready,omitempty"`
}

// Route is a static route in a compartment.
type Route struct {
	Destination netip.Prefix `json:"destination"`
	NextHop     netip.Addr   `json:"nextHop,omitzero"`
}

// PortBinding publishes a container port on the host.
type PortBinding struct {
	Proto         string `json:"proto"` // tcp or udp
	ContainerPort uint16 `json:"containerPort"`
	HostIP        string `json:"hostIp,omitempty"`
	// HostPort 0 asks for a free port; the sandbox records the one taken.
	HostPort uint16 `json:"hostPort"`
}

// Sandbox is a container's compartment and what the service runs for it.
type Sandbox struct {
	ContainerID string `json:"containerId"`
	Name        string `json:"name"`
	// Path is the compartment: the bind-mounted network namespace.
	Path  string        `json:"path"`
	Ports []PortBinding `json:"ports,omitempty"`
	// DNS says the container resolves through the service's resolver
	// (127.0.0.11 in its compartment): it is on a user network.
	DNS bool `json:"dns,omitempty"`
	// DNSServers are where the resolver forwards (--dns); the host's
	// resolvers when empty.
	DNSServers []string `json:"dnsServers,omitempty"`
}

// Description is how Windows names a container's compartment.
func (sb *Sandbox) Description() string { return `\Container_` + sb.ContainerID }

// JoinInfo is a driver's answer to Join: the interface to move into the
// compartment (renamed DstPrefix+N there), and its gateway and routes.
type JoinInfo struct {
	SrcName   string
	DstPrefix string
	Gateway   netip.Addr
	Gateway6  netip.Addr
	Routes    []Route
	// InSandbox: the driver made the interface in the compartment already,
	// named as the endpoint's IfName (moving an interface between
	// namespaces waits for an RCU grace period, ~10 ms).
	InSandbox bool
	// pooled: the interface was made ahead (pool.go), with a MAC of its
	// own that plumb replaces with the endpoint's.
	pooled bool
}

// Driver makes networks and endpoints of one kind.
type Driver interface {
	// CreateNetwork makes what the network needs on the host.
	CreateNetwork(ctx context.Context, nw *Network) error
	DeleteNetwork(ctx context.Context, nw *Network) error
	// CreateEndpoint may fill the endpoint's address and MAC (a remote
	// driver may choose them); DeleteEndpoint undoes it.
	CreateEndpoint(ctx context.Context, nw *Network, ep *Endpoint) error
	DeleteEndpoint(ctx context.Context, nw *Network, ep *Endpoint) error
	// Join makes the NIC for ep and returns it; Leave removes it.
	Join(ctx context.Context, nw *Network, ep *Endpoint, sandbox string) (JoinInfo, error)
	Leave(ctx context.Context, nw *Network, ep *Endpoint) error
}

// Config configures the service.
type Config struct {
	DB *bolt.DB
	// Update runs a change of DB on a container's path (sandboxes and
	// endpoints) in a write transaction it may share with others
	// (groupcommit.Committer.Update); nil: DB.Update.
	Update func(func(*bolt.Tx) error) error
	// NetnsDir is where compartments are bind-mounted.
	NetnsDir string
	// DefaultBridge is the interface of the predefined bridge network.
	DefaultBridge string
	// Table is the name of the service's nftables table.
	Table string
	// ResolvConf is the host's resolver configuration, for forwarding.
	ResolvConf string
	// Plugins finds remote network and IPAM drivers; nil: none.
	Plugins *plugin.Registry
	// Owner names the daemon (its engine id): host links are marked with
	// it, and a daemon removes only links it made.
	Owner string
	// DefaultIPv6 gives the default bridge network IPv6 too (dockerd's
	// --ipv6): DefaultSubnet6 (--fixed-cidr-v6) or, unset, a /64 of the
	// default IPv6 pool, as moby 27 and later.
	DefaultIPv6    bool
	DefaultSubnet6 netip.Prefix
	// CompartmentPool is how many compartments of the default bridge
	// network are kept made ahead (pool.go); 0: none, every attach makes
	// its own.
	CompartmentPool int
}

// Service is the network service.
type Service struct {
	cfg Config
	// mu serialises network create and remove.
	mu      sync.Mutex
	dmu     sync.RWMutex
	drivers map[string]Driver
	ipams   map[string]*remoteIPAM
	sys     system
	// running is what the service runs for each sandbox in this process:
	// the DNS resolver (published ports are held by the containers' shims).
	rmu     sync.Mutex
	running map[string]*running
	// pool: compartments made ahead, or nil (started by Reconcile).
	pool *compartmentPool
}

var (
	bucketNetworks  = []byte("networks")
	bucketEndpoints = []byte("endpoints")
	bucketSandboxes = []byte("sandboxes")
	// bucketIPAM holds, per network, the address last given.
	bucketIPAM = []byte("ipam")
)

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Open opens the service on cfg.DB and makes sure the predefined networks
// exist (bridge, host, none).
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.DefaultBridge == "" {
		cfg.DefaultBridge = "hull0"
	}
	if cfg.Table == "" {
		cfg.Table = "hull"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	s := &Service{cfg: cfg, drivers: map[string]Driver{}, ipams: map[string]*remoteIPAM{}, running: map[string]*running{}}
	s.sys = newSystem(cfg)
	registerDrivers(s)
	err := cfg.DB.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNetworks, bucketEndpoints, bucketSandboxes, bucketIPAM} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("network store: %w", err)
	}
	for _, d := range []string{"null", "host"} {
		name := map[string]string{"null": "none", "host": "host"}[d]
		if _, err := s.Network(name); errdefs.IsNotFound(err) {
			if err := s.put(&Network{ID: newID(), Name: name, Driver: d, Created: time.Now().UTC(), Predefined: true}); err != nil {
				return nil, err
			}
		}
	}
	if _, ok := s.drivers["bridge"]; ok {
		nw, err := s.Network("bridge")
		switch {
		case errdefs.IsNotFound(err):
			subnet, err := s.freeSubnet(netip.Prefix{})
			if err != nil {
				return nil, fmt.Errorf("the default bridge network: %w", err)
			}
			nw := &Network{ID: newID(), Name: "bridge", Driver: "bridge", Created: time.Now().UTC(), Predefined: true,
				Subnet: subnet, Gateway: subnet.Addr().Next(), Bridge: cfg.DefaultBridge,
				Options: defaultBridgeOptions(cfg.DefaultBridge)}
			if err := s.put(nw); err != nil {
				return nil, err
			}
		case err == nil && len(nw.Options) < len(defaultBridgeOptions(nw.Bridge)):
			// A record of an older hull: its options say what the bridge
			// does today.
			for k, v := range defaultBridgeOptions(nw.Bridge) {
				if _, ok := nw.Options[k]; !ok {
					if nw.Options == nil {
						nw.Options = map[string]string{}
					}
					nw.Options[k] = v
				}
			}
			if err := s.put(nw); err != nil {
				return nil, err
			}
		}
		if err := s.defaultBridgeIPv6(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// defaultMTU is the MTU of the bridges hull makes (dockerd's default too).
const defaultMTU = 1500

// defaultBridgeOptions are the default bridge network's options, as
// dockerd lists its own (the same keys), with what hull's bridge does:
// containers on it reach each other (icc), their traffic leaving the host
// is masqueraded (firewall_linux.go), ports are published on every host
// address unless a binding names one, and the bridge's MTU.
func defaultBridgeOptions(bridge string) map[string]string {
	return map[string]string{
		"com.docker.network.bridge.default_bridge":       "true",
		"com.docker.network.bridge.name":                 bridge,
		"com.docker.network.bridge.enable_icc":           "true",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
		"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
		"com.docker.network.driver.mtu":                  strconv.Itoa(defaultMTU),
	}
}

// bridgeMTU is the MTU a network's options ask for (com.docker.network.driver.mtu),
// or 0 for the kernel's default.
func bridgeMTU(nw *Network) int {
	mtu, err := strconv.Atoi(nw.Options["com.docker.network.driver.mtu"])
	if err != nil || mtu < 68 || mtu > 65535 {
		return 0
	}
	return mtu
}

// Register adds a driver (the Linux and Windows builds register theirs;
// remote drivers are registered as plugins are found).
func (s *Service) Register(name string, d Driver) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.drivers[name] = d
}

// driver is the driver name: built in, or a remote driver of the plugin
// of that name, activated on first use.
func (s *Service) driver(ctx context.Context, name string) (Driver, error) {
	s.dmu.RLock()
	d, ok := s.drivers[name]
	s.dmu.RUnlock()
	if ok {
		return d, nil
	}
	if s.cfg.Plugins == nil {
		return nil, errdefs.Dockerf(errdefs.ErrNotFound, "plugin %q not found", name)
	}
	p, err := s.cfg.Plugins.Get(ctx, name, "NetworkDriver")
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		// dockerd's words; where hull looked is in the debug log.
		slog.Debug("network driver", "driver", name, "error", err)
		return nil, errdefs.Dockerf(errdefs.ErrNotFound, "plugin %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("network driver %q: %w", name, err)
	}
	rd, err := newRemoteDriver(ctx, p)
	if err != nil {
		s.cfg.Plugins.Forget(name)
		return nil, fmt.Errorf("network driver %q: %w", name, err)
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if d, ok := s.drivers[name]; ok {
		return d, nil
	}
	s.drivers[name] = rd
	return rd, nil
}

// ipam is the remote IPAM driver name, activated on first use.
func (s *Service) ipam(ctx context.Context, name string) (*remoteIPAM, error) {
	s.dmu.RLock()
	r, ok := s.ipams[name]
	s.dmu.RUnlock()
	if ok {
		return r, nil
	}
	if s.cfg.Plugins == nil {
		return nil, fmt.Errorf("IPAM driver %q: plugin not found: %w", name, errdefs.ErrNotFound)
	}
	p, err := s.cfg.Plugins.Get(ctx, name, "IpamDriver")
	if err != nil {
		return nil, fmt.Errorf("IPAM driver %q: %w", name, err)
	}
	if r, err = newRemoteIPAM(ctx, p); err != nil {
		return nil, fmt.Errorf("IPAM driver %q: %w", name, err)
	}
	s.dmu.Lock()
	s.ipams[name] = r
	s.dmu.Unlock()
	return r, nil
}

func (s *Service) put(nw *Network) error {
	b, err := json.Marshal(nw)
	if err != nil {
		return err
	}
	return s.cfg.DB.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Put([]byte(nw.ID), b) })
}

// Networks lists every network, by name.
func (s *Service) Networks() ([]Network, error) {
	var out []Network
	err := s.cfg.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNetworks).ForEach(func(_, v []byte) error {
			var nw Network
			if err := json.Unmarshal(v, &nw); err != nil {
				return err
			}
			out = append(out, nw)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Network finds a network by full id, name, or unique id prefix, as Docker
// does.
func (s *Service) Network(ref string) (*Network, error) {
	all, err := s.Networks()
	if err != nil {
		return nil, err
	}
	for _, nw := range all {
		if nw.ID == ref {
			return &nw, nil
		}
	}
	for _, nw := range all {
		if nw.Name == ref {
			return &nw, nil
		}
	}
	var found []Network
	for _, nw := range all {
		if ref != "" && strings.HasPrefix(nw.ID, ref) {
			found = append(found, nw)
		}
	}
	switch len(found) {
	case 1:
		return &found[0], nil
	case 0:
		return nil, errdefs.Dockerf(errdefs.ErrNotFound, "network %s not found", ref)
	}
	return nil, fmt.Errorf("network %s is ambiguous (%d matches found): %w", ref, len(found), errdefs.ErrInvalidArgument)
}

// CreateRequest asks for a network.
type CreateRequest struct {
	Name, Driver         string
	Internal, Attachable bool
	Options, Labels      map[string]string
	// Subnet, Gateway and IPRange are the user's IPAM config (all optional).
	Subnet, Gateway, IPRange string
	// EnableIPv6 asks for IPv6 too: from Subnet6 (with Gateway6, IPRange6)
	// or, without it, from the default IPv6 pool. Without EnableIPv6 an
	// IPv6 subnet is only recorded.
	EnableIPv6                  bool
	Subnet6, Gateway6, IPRange6 string
	// DisableIPv4 asks for an IPv6-only network (EnableIPv6 is needed).
	DisableIPv4 bool
	// IPAMDriver names a remote IPAM plugin ("" or "default": hull's own).
	IPAMDriver  string
	IPAMOptions map[string]string
}

// CreateNetwork makes a network with its driver. As dockerd, any name that
// is not blank will do (it is never a file or interface name), checked
// before the driver: a taken name, then the one-instance drivers.
func (s *Service) CreateNetwork(ctx context.Context, req CreateRequest) (*Network, error) {
	if strings.TrimSpace(req.Name) == "" {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid name: name is empty")
	}
	if _, err := s.Network(req.Name); err == nil {
		return nil, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
	}
	if req.Driver == "" {
		req.Driver = "bridge"
	}
	if req.Driver == "null" || req.Driver == "host" {
		return nil, errdefs.Dockerf(errdefs.ErrForbidden, "only one instance of %q network is allowed", req.Driver)
	}
	d, err := s.driver(ctx, req.Driver)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Network(req.Name); err == nil {
		return nil, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
	}
	nw := &Network{ID: newID(), Name: req.Name, Driver: req.Driver, Created: time.Now().UTC(), Internal: req.Internal,
		Attachable: req.Attachable, Options: req.Options, Labels: req.Labels, DisableIPv4: req.DisableIPv4}
	if req.DisableIPv4 {
		if !req.EnableIPv6 {
			// dockerd's bridge driver's words.
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "IPv4 or IPv6 must be enabled")
		}
		if req.Subnet != "" || req.Gateway != "" || req.IPRange != "" {
			// moby records such a config and uses it for nothing; hull
			// says so rather than keep what it will not use.
			return nil, fmt.Errorf("an IPv4 subnet, gateway or range on a network with IPv4 disabled: hull does not record it: %w", errdefs.ErrInvalidArgument)
		}
	}
	if req.IPAMDriver != "" && req.IPAMDriver != "default" {
		if req.DisableIPv4 {
			// no IPv4 pool to ask for
		} else if err := s.remotePool(ctx, nw, req); err != nil {
			return nil, err
		}
		if err := s.remotePool6(ctx, nw, req); err != nil {
			s.releasePool(context.WithoutCancel(ctx), nw)
			return nil, err
		}
	} else if err := s.ipamConfig4(nw, req); err != nil {
		return nil, err
	} else if err := s.ipamConfig6(nw, req); err != nil {
		return nil, err
	} else {
		nw.IPAMOptions = req.IPAMOptions
	}
	if req.Driver == "bridge" {
		nw.Bridge = "hb-" + nw.ID[:10]
		if name := req.Options["com.docker.network.bridge.name"]; name != "" {
			if len(name) > 15 {
				return nil, fmt.Errorf("bridge name %q is longer than 15 characters: %w", name, errdefs.ErrInvalidArgument)
			}
			nw.Bridge = name
		}
	}
	// The record first: a crash after it leaves a network Reconcile makes
	// whole; a crash before it leaves nothing.
	if err := s.put(nw); err != nil {
		return nil, err
	}
	crashpoint.At("network create: the record is written, the bridge is not")
	if err := d.CreateNetwork(ctx, nw); err != nil {
		s.releasePool(context.WithoutCancel(ctx), nw)
		s.cfg.DB.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Delete([]byte(nw.ID)) })
		return nil, fmt.Errorf("create network %s: %w", nw.Name, err)
	}
	// The driver may have noted what it made (an HNS network's id).
	if err := s.put(nw); err != nil {
		return nil, err
	}
	crashpoint.At("network create: the bridge is made, the firewall is not")
	if err := s.sys.syncFirewall(s.bridgeNetworksLocked()); err != nil {
		slog.Error("firewall", "error", err)
	}
	return nw, nil
}

// ipamConfig4 is ipamConfig for a network with IPv4.
func (s *Service) ipamConfig4(nw *Network, req CreateRequest) error {
	if req.DisableIPv4 {
		return nil
	}
	return s.ipamConfig(nw, req)
}

// ipamConfig chooses the network's subnet and gateway: the user's, checked,
// or the next free pool.
func (s *Service) ipamConfig(nw *Network, req CreateRequest) error {
	if req.Subnet == "" {
		if req.Gateway != "" || req.IPRange != "" {
			return fmt.Errorf("a gateway or IP range needs a subnet: %w", errdefs.ErrInvalidArgument)
		}
		subnet, err := s.freeSubnet(netip.Prefix{})
		if err != nil {
			return err
		}
		nw.Subnet, nw.Gateway = subnet, subnet.Addr().Next()
		return nil
	}
	p, err := netip.ParsePrefix(req.Subnet)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("invalid subnet %q: want an IPv4 CIDR: %w", req.Subnet, errdefs.ErrInvalidArgument)
	}
	if p.Bits() > 30 {
		return fmt.Errorf("subnet %s is too small: %w", p, errdefs.ErrInvalidArgument)
	}
	if p.Masked() != p {
		return fmt.Errorf("invalid subnet %s: it has host bits set (did you mean %s?): %w", p, p.Masked(), errdefs.ErrInvalidArgument)
	}
	if _, err := s.freeSubnet(p); err != nil {
		return err
	}
	nw.Subnet, nw.Gateway = p, p.Addr().Next()
	if req.Gateway != "" {
		g, err := netip.ParseAddr(req.Gateway)
		if err != nil || !p.Contains(g) {
			return fmt.Errorf("invalid gateway %q: not an address in %s: %w", req.Gateway, p, errdefs.ErrInvalidArgument)
		}
		nw.Gateway = g
	}
	if req.IPRange != "" {
		r, err := netip.ParsePrefix(req.IPRange)
		if err != nil || !p.Contains(r.Addr()) || r.Bits() < p.Bits() {
			return fmt.Errorf("invalid IP range %q: not within %s: %w", req.IPRange, p, errdefs.ErrInvalidArgument)
		}
		nw.IPRange = r.Masked()
		if req.Gateway == "" {
			// Docker's IPAM gives the gateway the range's first free
			// address.
			if nw.Gateway = nw.IPRange.Addr(); nw.Gateway == p.Addr() {
				nw.Gateway = nw.Gateway.Next()
			}
		}
	}
	return nil
}

// remotePool has the network's IPAM plugin give its pool and gateway.
func (s *Service) remotePool(ctx context.Context, nw *Network, req CreateRequest) error {
	r, err := s.ipam(ctx, req.IPAMDriver)
	if err != nil {
		return err
	}
	poolID, pool, gw, err := r.requestPool(ctx, req.Subnet, req.IPRange, req.IPAMOptions, false)
	if err != nil {
		return err
	}
	nw.IPAMDriver, nw.IPAMOptions, nw.PoolID, nw.Subnet, nw.Gateway = req.IPAMDriver, req.IPAMOptions, poolID, pool, gw
	return nil
}

// releasePool gives a remote IPAM driver its pools (and gateways) back.
func (s *Service) releasePool(ctx context.Context, nw *Network) {
	if nw.IPAMDriver == "" || nw.PoolID == "" && nw.PoolID6 == "" {
		return
	}
	r, err := s.ipam(ctx, nw.IPAMDriver)
	if err != nil {
		slog.Warn("release an IPAM pool", "network", nw.Name, "error", err)
		return
	}
	for _, p := range []struct {
		id string
		gw netip.Addr
	}{{nw.PoolID, nw.Gateway}, {nw.PoolID6, nw.Gateway6}} {
		if p.id == "" {
			continue
		}
		if p.gw.IsValid() {
			r.releaseAddress(ctx, p.id, p.gw)
		}
		if err := r.releasePool(ctx, p.id); err != nil {
			slog.Warn("release an IPAM pool", "network", nw.Name, "pool", p.id, "error", err)
		}
	}
}

// defaultPools are Docker's local address pools: 172.17–31.0.0/16, then
// 192.168.0.0/16 in /20s.
func defaultPools() []netip.Prefix {
	var out []netip.Prefix
	for i := 17; i <= 31; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
	return out
}

// freeSubnet checks want (when valid) or picks a pool that overlaps no
// network's subnet and no route of the host.
func (s *Service) freeSubnet(want netip.Prefix) (netip.Prefix, error) {
	all, err := s.Networks()
	if err != nil {
		return netip.Prefix{}, err
	}
	routes := s.sys.hostRoutes()
	used := func(p netip.Prefix) string {
		for _, nw := range all {
			if nw.Subnet.IsValid() && nw.Subnet.Overlaps(p) {
				return "network " + nw.Name
			}
		}
		for _, r := range routes {
			if r.Bits() > 0 && r.Overlaps(p) {
				return "the host's route to " + r.String()
			}
		}
		return ""
	}
	if want.IsValid() {
		for _, nw := range all {
			if nw.Subnet.IsValid() && nw.Subnet.Overlaps(want) {
				slog.Debug("pool overlaps", "pool", want, "network", nw.Name, "subnet", nw.Subnet)
				return netip.Prefix{}, errdefs.Dockerf(errdefs.ErrForbidden, "Pool overlaps with other one on this address space")
			}
		}
		return want, nil
	}
	for _, p := range defaultPools() {
		if used(p) == "" {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("all predefined address pools have been fully subnetted: %w", errdefs.ErrUnavailable)
}

// RemoveNetwork removes a network that no container uses.
func (s *Service) RemoveNetwork(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	nw, err := s.Network(ref)
	if err != nil {
		return err
	}
	if nw.Predefined {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", nw.Name, errdefs.ErrForbidden)
	}
	eps, err := s.endpoints(func(ep *Endpoint) bool { return ep.NetworkID == nw.ID })
	if err != nil {
		return err
	}
	if len(eps) > 0 {
		return fmt.Errorf("error while removing network: network %s id %s has active endpoints: %w", nw.Name, nw.ID, errdefs.ErrForbidden)
	}
	d, err := s.driver(ctx, nw.Driver)
	if err != nil {
		return err
	}
	if err := d.DeleteNetwork(ctx, nw); err != nil {
		return err
	}
	crashpoint.At("network rm: the bridge is gone, the record is not")
	s.releasePool(ctx, nw)
	if err := s.cfg.DB.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketIPAM).Delete([]byte(nw.ID))
		tx.Bucket(bucketIPAM).Delete(nw.pool6().cursor)
		return tx.Bucket(bucketNetworks).Delete([]byte(nw.ID))
	}); err != nil {
		return err
	}
	crashpoint.At("network rm: the record is gone, the firewall is not")
	return s.sys.syncFirewall(s.bridgeNetworksLocked())
}

// PruneNetworks removes every user network no container uses and returns
// their names.
func (s *Service) PruneNetworks(ctx context.Context, keep func(*Network) bool) ([]string, error) {
	all, err := s.Networks()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, nw := range all {
		if nw.Predefined || (keep != nil && keep(&nw)) {
			continue
		}
		if err := s.RemoveNetwork(ctx, nw.ID); err == nil {
			removed = append(removed, nw.Name)
		} else if !errdefs.IsForbidden(err) {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

func (s *Service) bridgeNetworksLocked() []Network {
	all, _ := s.Networks()
	return slices.DeleteFunc(all, func(nw Network) bool { return nw.Driver != "bridge" || nw.Bridge == "" })
}

// endpoints lists the endpoint records that match.
func (s *Service) endpoints(match func(*Endpoint) bool) ([]Endpoint, error) {
	var out []Endpoint
	err := s.cfg.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEndpoints).ForEach(func(_, v []byte) error {
			var ep Endpoint
			if err := json.Unmarshal(v, &ep); err != nil {
				return err
			}
			if match == nil || match(&ep) {
				out = append(out, ep)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IfName < out[j].IfName })
	return out, err
}

// Endpoints are a container's endpoints, in the order of their NICs.
func (s *Service) Endpoints(containerID string) []Endpoint {
	eps, _ := s.endpoints(func(ep *Endpoint) bool { return ep.ContainerID == containerID })
	sort.Slice(eps, func(i, j int) bool { return ifIndex(eps[i].IfName) < ifIndex(eps[j].IfName) })
	return eps
}

// NetworkEndpoints are the endpoints on a network.
func (s *Service) NetworkEndpoints(networkID string) []Endpoint {
	eps, _ := s.endpoints(func(ep *Endpoint) bool { return ep.NetworkID == networkID })
	return eps
}

func ifIndex(name string) int {
	n := 0
	fmt.Sscanf(strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz"), "%d", &n)
	return n
}

// addrPool is one address family's side of a network's IPAM: where
// addresses are given from, and the key of its cursor in bucketIPAM.
type addrPool struct {
	subnet, rng netip.Prefix
	gateway     netip.Addr
	cursor      []byte
}

func (nw *Network) pool4() addrPool {
	return addrPool{subnet: nw.Subnet, rng: nw.IPRange, gateway: nw.Gateway, cursor: []byte(nw.ID)}
}

func (nw *Network) pool6() addrPool {
	return addrPool{subnet: nw.Subnet6, rng: nw.IPRange6, gateway: nw.Gateway6, cursor: []byte(nw.ID + "/6")}
}

// endpointAddr is an endpoint's address in p's family.
func (p addrPool) endpointAddr(ep *Endpoint) netip.Prefix {
	if p.subnet.Addr().Is6() {
		return ep.Addr6
	}
	return ep.Addr
}

// allocate takes an address for an endpoint on nw from p inside tx: the
// one asked for, or the next free one. As Docker's IPAM, the subnet's
// first address (IPv4's network address, IPv6's subnet-router anycast)
// and IPv4's broadcast address are never given.
func allocate(tx *bolt.Tx, nw *Network, p addrPool, want string) (netip.Prefix, error) {
	v6 := p.subnet.Addr().Is6()
	used := map[netip.Addr]bool{p.gateway: true, p.subnet.Addr(): true}
	if !v6 {
		used[LastAddr(p.subnet)] = true
	}
	tx.Bucket(bucketEndpoints).ForEach(func(_, v []byte) error {
		var ep Endpoint
		if json.Unmarshal(v, &ep) == nil && ep.NetworkID == nw.ID && p.endpointAddr(&ep).IsValid() {
			used[p.endpointAddr(&ep).Addr()] = true
		}
		return nil
	})
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || !p.subnet.Contains(a) {
			// dockerd's words (its status is 500; wrong input is a 4xx here).
			return netip.Prefix{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "Invalid address %s: It does not belong to any of this network's subnets", want)
		}
		if used[a] {
			slog.Debug("static address in use", "address", a, "network", nw.Name)
			return netip.Prefix{}, errdefs.Dockerf(errdefs.ErrForbidden, "Address already in use")
		}
		return netip.PrefixFrom(a, p.subnet.Bits()), nil
	}
	pool := p.subnet
	if p.rng.IsValid() {
		pool = p.rng
	}
	// Serially, as Docker's IPAM: from the address after the last one
	// given, wrapping around, so that an address just released (whose NIC
	// may still be going away with its namespace) is not given again at
	// once.
	cursors := tx.Bucket(bucketIPAM)
	var last netip.Addr
	if v := cursors.Get(p.cursor); v != nil {
		last, _ = netip.ParseAddr(string(v))
	}
	// The range's first address is given too, unless it is the subnet's
	// own.
	first := pool.Addr()
	if first == p.subnet.Addr() {
		first = first.Next()
	}
	start := first
	if last.IsValid() && pool.Contains(last) {
		start = last.Next()
	}
	// IPv6 has no broadcast address: its last address is given too.
	usable := func(a netip.Addr) bool { return pool.Contains(a) && (v6 || p.subnet.Contains(a.Next())) }
	for a, wrapped := start, false; ; a = a.Next() {
		if !usable(a) {
			if wrapped {
				break
			}
			a, wrapped = first, true
			if !usable(a) {
				break
			}
		}
		if wrapped && a == start {
			break
		}
		if !used[a] {
			if err := cursors.Put(p.cursor, []byte(a.String())); err != nil {
				return netip.Prefix{}, err
			}
			return netip.PrefixFrom(a, p.subnet.Bits()), nil
		}
	}
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	return netip.Prefix{}, fmt.Errorf("no available %s addresses on network %s: %w", family, nw.Name, errdefs.ErrUnavailable)
}

// LastAddr is the last address of p (IPv4's broadcast address).
func LastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
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

// randomMAC is a locally administered unicast MAC, for an endpoint with
// no IPv4 address to make Docker's MAC of (moby gives every endpoint a
// random one since 28).
func randomMAC() string {
	b := make([]byte, 6)
	rand.Read(b)
	b[0] = b[0]&0xfe | 0x02
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// macFor is Docker's MAC for an IPv4 address: 02:42 and the address.
func macFor(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}
