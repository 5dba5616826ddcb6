package network

// The adapter of HNS onto hcn — the one part of the Windows network service
// no test on this project's machines runs. Documents cross by their JSON,
// which hns_test.go checks against golden files.

import (
	"encoding/json"

	"github.com/Microsoft/hcsshim/hcn"
)

// HCNService is HNS on hcn.
type HCNService struct{}

var _ HNS = HCNService{}

func convert(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

func (HCNService) CreateNetwork(doc *HNSNetwork) (*HNSNetwork, error) {
	var n hcn.HostComputeNetwork
	if err := convert(doc, &n); err != nil {
		return nil, err
	}
	made, err := n.Create()
	if err != nil {
		return nil, err
	}
	var out HNSNetwork
	return &out, convert(made, &out)
}

func (HCNService) GetNetworkByName(name string) (*HNSNetwork, error) {
	n, err := hcn.GetNetworkByName(name)
	if err != nil {
		return nil, err
	}
	var out HNSNetwork
	return &out, convert(n, &out)
}

func (HCNService) DeleteNetwork(id string) error {
	n, err := hcn.GetNetworkByID(id)
	if err != nil {
		return err
	}
	return n.Delete()
}

func (HCNService) CreateEndpoint(networkID string, doc *HNSEndpoint) (*HNSEndpoint, error) {
	n, err := hcn.GetNetworkByID(networkID)
	if err != nil {
		return nil, err
	}
	var ep hcn.HostComputeEndpoint
	if err := convert(doc, &ep); err != nil {
		return nil, err
	}
	made, err := n.CreateEndpoint(&ep)
	if err != nil {
		return nil, err
	}
	var out HNSEndpoint
	return &out, convert(made, &out)
}

func (HCNService) DeleteEndpoint(id string) error {
	ep, err := hcn.GetEndpointByID(id)
	if err != nil {
		return err
	}
	return ep.Delete()
}

func (HCNService) CreateNamespace(doc *HNSNamespace) (*HNSNamespace, error) {
	var ns hcn.HostComputeNamespace
	if err := convert(doc, &ns); err != nil {
		return nil, err
	}
	made, err := ns.Create()
	if err != nil {
		return nil, err
	}
	var out HNSNamespace
	return &out, convert(made, &out)
}

func (HCNService) DeleteNamespace(id string) error {
	ns, err := hcn.GetNamespaceByID(id)
	if err != nil {
		return err
	}
	return ns.Delete()
}

func (HCNService) ListNamespaces() ([]HNSNamespace, error) {
	nss, err := hcn.ListNamespaces()
	if err != nil {
		return nil, err
	}
	var out []HNSNamespace
	return out, convert(nss, &out)
}

func (HCNService) NamespaceEndpoints(namespaceID string) ([]HNSEndpoint, error) {
	ids, err := hcn.GetNamespaceEndpointIds(namespaceID)
	if err != nil {
		return nil, err
	}
	var out []HNSEndpoint
	for _, id := range ids {
		ep, err := hcn.GetEndpointByID(id)
		if err != nil {
			return nil, err
		}
		var e HNSEndpoint
		if err := convert(ep, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
