package network

// The network service on Windows: HNS through hcn (hcsshim). Plain Go that
// runs (and is tested) on any OS: the HNS documents (network, endpoint,
// namespace — a compartment) and HNSService, which attaches a container as
// Docker on Windows does, over HNS — the narrow interface hns_windows.go
// implements on hcn (the only part no test here runs).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// HNSSchemaVersion is the HNS v2 schema version of every document.
type HNSSchemaVersion struct {
	Major int
	Minor int
}

var hnsV2 = HNSSchemaVersion{Major: 2, Minor: 0}

// HNSIPConfig is an endpoint's address.
type HNSIPConfig struct {
	IpAddress    string `json:",omitempty"`
	PrefixLength uint8  `json:",omitempty"`
}

// HNSRoute is a route of an endpoint or a subnet.
type HNSRoute struct {
	NextHop           string `json:",omitempty"`
	DestinationPrefix string `json:",omitempty"`
	Metric            uint16 `json:",omitempty"`
}

// HNSDNS is the DNS of a network or an endpoint.
type HNSDNS struct {
	Domain     string   `json:",omitempty"`
	Search     []string `json:",omitempty"`
	ServerList []string `json:",omitempty"`
	Options    []string `json:",omitempty"`
}

// HNSPolicy is an endpoint or network policy (its settings are the
// policy type's JSON).
type HNSPolicy struct {
	Type     string
	Settings json.RawMessage `json:",omitempty"`
}

// HNSSubnet is a network's subnet.
type HNSSubnet struct {
	IpAddressPrefix string     `json:",omitempty"`
	Routes          []HNSRoute `json:",omitempty"`
}

// HNSIpam is a network's address management.
type HNSIpam struct {
	Type    string      `json:",omitempty"`
	Subnets []HNSSubnet `json:",omitempty"`
}

// HNSNetwork is the hcn.HostComputeNetwork document.
type HNSNetwork struct {
	Id            string           `json:"ID,omitempty"`
	Name          string           `json:",omitempty"`
	Type          string           `json:",omitempty"` // NAT, Transparent, L2Bridge
	Policies      []HNSPolicy      `json:",omitempty"`
	Dns           HNSDNS           `json:",omitempty"`
	Ipams         []HNSIpam        `json:",omitempty"`
	SchemaVersion HNSSchemaVersion `json:",omitempty"`
}

// HNSEndpoint is the hcn.HostComputeEndpoint document.
type HNSEndpoint struct {
	Id                   string           `json:"ID,omitempty"`
	Name                 string           `json:",omitempty"`
	HostComputeNetwork   string           `json:",omitempty"`
	HostComputeNamespace string           `json:",omitempty"`
	Policies             []HNSPolicy      `json:",omitempty"`
	IpConfigurations     []HNSIPConfig    `json:",omitempty"`
	Dns                  HNSDNS           `json:",omitempty"`
	Routes               []HNSRoute       `json:",omitempty"`
	MacAddress           string           `json:",omitempty"`
	SchemaVersion        HNSSchemaVersion `json:",omitempty"`
}

// HNSNamespaceResource is a namespace's endpoint (or container).
type HNSNamespaceResource struct {
	Type string // Endpoint, Container
	Data json.RawMessage
}

// HNSNamespace is the hcn.HostComputeNamespace document: a container's
// compartment.
type HNSNamespace struct {
	Id            string                 `json:"ID,omitempty"`
	NamespaceId   uint32                 `json:",omitempty"`
	Type          string                 `json:",omitempty"` // Host, HostDefault, Guest
	Resources     []HNSNamespaceResource `json:",omitempty"`
	SchemaVersion HNSSchemaVersion       `json:",omitempty"`
}

// HNSNetworkDocument is the document of a network of driver nat,
// transparent or l2bridge.
func HNSNetworkDocument(name, driver string, subnet netip.Prefix, gateway netip.Addr) (*HNSNetwork, error) {
	types := map[string]string{"nat": "NAT", "transparent": "Transparent", "l2bridge": "L2Bridge"}
	t, ok := types[driver]
	if !ok {
		return nil, fmt.Errorf("network driver %q: Windows networks are nat, transparent or l2bridge: %w", driver, errdefs.ErrInvalidArgument)
	}
	doc := &HNSNetwork{Name: name, Type: t, SchemaVersion: hnsV2}
	if subnet.IsValid() {
		sn := HNSSubnet{IpAddressPrefix: subnet.String()}
		if gateway.IsValid() {
			sn.Routes = []HNSRoute{{NextHop: gateway.String(), DestinationPrefix: "0.0.0.0/0"}}
		}
		doc.Ipams = []HNSIpam{{Type: "Static", Subnets: []HNSSubnet{sn}}}
	}
	return doc, nil
}

// HNSEndpointDocument is the document of a container's endpoint on a
// network: its address, MAC, default route through the gateway, and DNS.
func HNSEndpointDocument(networkID, name string, addr netip.Prefix, gateway netip.Addr, mac string, dns HNSDNS) *HNSEndpoint {
	ep := &HNSEndpoint{Name: name, HostComputeNetwork: networkID, MacAddress: mac, Dns: dns, SchemaVersion: hnsV2}
	if addr.IsValid() {
		ep.IpConfigurations = []HNSIPConfig{{IpAddress: addr.Addr().String(), PrefixLength: uint8(addr.Bits())}}
	}
	if gateway.IsValid() {
		ep.Routes = []HNSRoute{{NextHop: gateway.String(), DestinationPrefix: "0.0.0.0/0"}}
	}
	return ep
}

// HNSNamespaceDocument is a container's compartment holding endpoints.
func HNSNamespaceDocument(endpointIDs []string) *HNSNamespace {
	ns := &HNSNamespace{Type: "HostDefault", SchemaVersion: hnsV2}
	for _, id := range endpointIDs {
		data, _ := json.Marshal(struct {
			ID string `json:"ID"`
		}{id})
		ns.Resources = append(ns.Resources, HNSNamespaceResource{Type: "Endpoint", Data: data})
	}
	return ns
}

// HNS is the narrow interface over hcn.
type HNS interface {
	CreateNetwork(doc *HNSNetwork) (*HNSNetwork, error)
	GetNetworkByName(name string) (*HNSNetwork, error)
	DeleteNetwork(id string) error
	CreateEndpoint(networkID string, doc *HNSEndpoint) (*HNSEndpoint, error)
	DeleteEndpoint(id string) error
	CreateNamespace(doc *HNSNamespace) (*HNSNamespace, error)
	DeleteNamespace(id string) error
	// Endpoints and Routes of a namespace, for hull diag.
	NamespaceEndpoints(namespaceID string) ([]HNSEndpoint, error)
	ListNamespaces() ([]HNSNamespace, error)
}

// HNSService attaches containers to HNS networks.
type HNSService struct {
	hns HNS
}

// NewHNSService returns the Windows network service over hns.
func NewHNSService(hns HNS) *HNSService { return &HNSService{hns: hns} }

// HNSAttachment is a container's compartment and endpoint.
type HNSAttachment struct {
	Namespace *HNSNamespace
	Endpoint  *HNSEndpoint
}

// Attach creates the container's endpoint on the named network (HNS
// CreateEndpoint) and its compartment holding it (CreateNamespace). The
// endpoint's id goes into the HCS document's EndpointList.
func (s *HNSService) Attach(containerID, network string, addr netip.Prefix, mac string, dns HNSDNS) (*HNSAttachment, error) {
	nw, err := s.hns.GetNetworkByName(network)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", network, err)
	}
	var gw netip.Addr
	for _, ipam := range nw.Ipams {
		for _, sn := range ipam.Subnets {
			for _, r := range sn.Routes {
				if r.DestinationPrefix == "0.0.0.0/0" {
					gw, _ = netip.ParseAddr(r.NextHop)
				}
			}
		}
	}
	ep, err := s.hns.CreateEndpoint(nw.Id, HNSEndpointDocument(nw.Id, containerID[:min(12, len(containerID))]+"_"+network, addr, gw, mac, dns))
	if err != nil {
		return nil, fmt.Errorf("endpoint of %s on %s: %w", containerID, network, err)
	}
	ns, err := s.hns.CreateNamespace(HNSNamespaceDocument([]string{ep.Id}))
	if err != nil {
		s.hns.DeleteEndpoint(ep.Id)
		return nil, fmt.Errorf("compartment of %s: %w", containerID, err)
	}
	return &HNSAttachment{Namespace: ns, Endpoint: ep}, nil
}

// Detach removes what Attach made.
func (s *HNSService) Detach(a *HNSAttachment) error {
	var errs []error
	if a.Namespace != nil {
		errs = append(errs, s.hns.DeleteNamespace(a.Namespace.Id))
	}
	if a.Endpoint != nil {
		errs = append(errs, s.hns.DeleteEndpoint(a.Endpoint.Id))
	}
	return errors.Join(errs...)
}

// hnsDriver is a Docker network driver of Windows (nat, transparent,
// l2bridge): the network is an HNS network of that type and the same name.
// Containers attach to it through HNSService (the daemon's Windows flow), so
// its endpoint calls are not used.
type hnsDriver struct {
	hns    HNS
	driver string
}

// RegisterHNS registers the Windows network drivers over hns, and records
// HNS's own default network, nat, when it exists and has no record.
func (s *Service) RegisterHNS(hns HNS) error {
	for _, d := range []string{"nat", "transparent", "l2bridge"} {
		s.Register(d, &hnsDriver{hns: hns, driver: d})
	}
	if _, err := s.Network("nat"); err == nil {
		return nil
	}
	nw, err := hns.GetNetworkByName("nat")
	if err != nil {
		return nil // no default network on this host
	}
	rec := &Network{ID: newID(), Name: "nat", Driver: "nat", Created: time.Now().UTC(), Predefined: true, Options: map[string]string{"hull.hns.id": nw.Id}}
	for _, ipam := range nw.Ipams {
		for _, sn := range ipam.Subnets {
			if p, err := netip.ParsePrefix(sn.IpAddressPrefix); err == nil {
				rec.Subnet = p
			}
			for _, r := range sn.Routes {
				if a, err := netip.ParseAddr(r.NextHop); err == nil {
					rec.Gateway = a
				}
			}
		}
	}
	return s.put(rec)
}

func (d *hnsDriver) CreateNetwork(_ context.Context, nw *Network) error {
	doc, err := HNSNetworkDocument(nw.Name, d.driver, nw.Subnet, nw.Gateway)
	if err != nil {
		return err
	}
	made, err := d.hns.CreateNetwork(doc)
	if err != nil {
		return fmt.Errorf("HNS network %s: %w", nw.Name, err)
	}
	if nw.Options == nil {
		nw.Options = map[string]string{}
	}
	nw.Options["hull.hns.id"] = made.Id
	return nil
}

func (d *hnsDriver) DeleteNetwork(_ context.Context, nw *Network) error {
	id := nw.Options["hull.hns.id"]
	if id == "" {
		got, err := d.hns.GetNetworkByName(nw.Name)
		if err != nil {
			return nil // gone already
		}
		id = got.Id
	}
	return d.hns.DeleteNetwork(id)
}

var errHNSEndpoints = fmt.Errorf("Windows containers join HNS networks through the daemon's Windows flow: %w", errdefs.ErrNotImplemented)

func (d *hnsDriver) CreateEndpoint(context.Context, *Network, *Endpoint) error {
	return errHNSEndpoints
}
func (d *hnsDriver) DeleteEndpoint(context.Context, *Network, *Endpoint) error { return nil }
func (d *hnsDriver) Join(context.Context, *Network, *Endpoint, string) (JoinInfo, error) {
	return JoinInfo{}, errHNSEndpoints
}
func (d *hnsDriver) Leave(context.Context, *Network, *Endpoint) error { return nil }

// HNSCompartments are the compartments (HNS namespaces) with their
// endpoints, for hull diag on Windows: each endpoint's name, address, MAC
// and routes.
func HNSCompartments(hns HNS) ([]Compartment, map[string][]HNSEndpoint, error) {
	nss, err := hns.ListNamespaces()
	if err != nil {
		return nil, nil, err
	}
	eps := map[string][]HNSEndpoint{}
	var out []Compartment
	for _, ns := range nss {
		e, err := hns.NamespaceEndpoints(ns.Id)
		if err != nil {
			return nil, nil, err
		}
		eps[ns.Id] = e
		c := Compartment{ID: ns.Id, Description: fmt.Sprintf("Compartment %d", ns.NamespaceId), Path: ns.Id}
		for _, ep := range e {
			c.Interfaces = append(c.Interfaces, ep.Name)
			if name, _, ok := strings.Cut(ep.Name, "_"); ok {
				c.Container = name
				c.Description = `\Container_` + name
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, eps, nil
}
