package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	current "github.com/containernetworking/cni/pkg/types/100"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// cniNet is pod networking through CNI: the first configuration (by name)
// in confDir, its plugins from binDirs.
type cniNet struct {
	confDir  string
	binDirs  []string
	cacheDir string
}

// load reads the configuration pods are networked with, and checks that
// its plugins are there. An error says why there is none.
func (c *cniNet) load(ctx context.Context) (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(c.confDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("cni config: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("cni config uninitialized: no network config found in %s: %w", c.confDir, errdefs.ErrUnavailable)
	}
	var errs []error
	for _, f := range files {
		list, err := libcni.NetworkConfFromFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range list.Plugins {
			if _, err := invoke.FindInPath(p.Network.Type, c.binDirs); err != nil {
				errs = append(errs, fmt.Errorf("network %s: plugin %s: %w", list.Name, p.Network.Type, err))
				list = nil
				break
			}
		}
		if list != nil {
			return list, nil
		}
	}
	return nil, fmt.Errorf("cni config uninitialized: no usable network config in %s: %v: %w", c.confDir, errors.Join(errs...), errdefs.ErrUnavailable)
}

func (c *cniNet) config() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(c.binDirs, c.cacheDir, nil)
}

// podNetwork is what a pod's CNI ADD gave, kept under the state folder.
type podNetwork struct {
	Network string   `json:"network"`
	IPs     []string `json:"ips"`
	NetNS   string   `json:"netns"`
	// Ports are the pod's host ports, given to the plugins that take
	// the portMappings capability (portmap) at ADD and again at DEL.
	Ports []portMapping `json:"ports,omitempty"`
}

// portMapping is CNI's portMappings capability argument.
type portMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// podPorts are the pod's mappings with a host port.
func podPorts(ms []*runtimeapi.PortMapping) []portMapping {
	var out []portMapping
	for _, m := range ms {
		if m.HostPort <= 0 {
			continue
		}
		proto := "tcp"
		switch m.Protocol {
		case runtimeapi.Protocol_UDP:
			proto = "udp"
		case runtimeapi.Protocol_SCTP:
			proto = "sctp"
		}
		out = append(out, portMapping{HostPort: m.HostPort, ContainerPort: m.ContainerPort, Protocol: proto, HostIP: m.HostIp})
	}
	return out
}

func (c *cniNet) rt(id, netns string, meta *runtimeapi.PodSandboxMetadata, ports []portMapping) *libcni.RuntimeConf {
	rc := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: "eth0", Args: [][2]string{
		{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", meta.GetNamespace()}, {"K8S_POD_NAME", meta.GetName()},
		{"K8S_POD_INFRA_CONTAINER_ID", id}, {"K8S_POD_UID", meta.GetUid()},
	}}
	if len(ports) > 0 {
		rc.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rc
}

// add attaches the pod's network namespace (netns) to the CNI network.
func (c *cniNet) add(ctx context.Context, id, netns string, meta *runtimeapi.PodSandboxMetadata, ports []portMapping) (*podNetwork, error) {
	list, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.config().AddNetworkList(ctx, list, c.rt(id, netns, meta, ports))
	if err != nil {
		return nil, fmt.Errorf("cni add %s to network %s: %w", id, list.Name, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("cni add %s: result: %w", id, err)
	}
	pn := &podNetwork{Network: list.Name, NetNS: netns, Ports: ports}
	for _, ip := range r.IPs {
		pn.IPs = append(pn.IPs, ip.Address.IP.String())
	}
	return pn, nil
}

// del detaches the pod; a teardown already (half) done is no error the
// plugins do not make of it themselves (CNI DEL is idempotent). It tears
// down with the configuration the pod was attached with, which libcni
// keeps in its cache at ADD: a configuration changed or removed since
// (a daemon restarted with another --cni-conf-dir) would leave the pod's
// address leased and its host ports in the firewall. Without that cache,
// the current configuration; without either, nothing can be torn down.
func (c *cniNet) del(ctx context.Context, id string, pn *podNetwork, meta *runtimeapi.PodSandboxMetadata) error {
	netns := pn.NetNS
	if _, err := os.Stat(netns); err != nil {
		netns = "" // the namespace is gone: the plugins free what they hold
	}
	cfg, rt := c.config(), c.rt(id, netns, meta, pn.Ports)
	var list *libcni.NetworkConfigList
	if pn.Network != "" {
		if b, cached, err := cfg.GetNetworkListCachedConfig(&libcni.NetworkConfigList{Name: pn.Network}, rt); err == nil && b != nil {
			if l, err := libcni.ConfListFromBytes(b); err == nil {
				list, rt = l, cached
			}
		}
	}
	if list == nil {
		var err error
		if list, err = c.load(ctx); err != nil {
			return nil
		}
	}
	if err := cfg.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("cni del %s from network %s: %w", id, list.Name, err)
	}
	return nil
}

func (s *Server) netFile(id string) string { return filepath.Join(s.cfg.StateDir, "pods", id+".json") }

func (s *Server) saveNet(id string, pn *podNetwork) error {
	b, _ := json.Marshal(pn)
	if err := os.MkdirAll(filepath.Dir(s.netFile(id)), 0o700); err != nil {
		return err
	}
	return os.WriteFile(s.netFile(id), b, 0o600)
}

func (s *Server) loadNet(id string) *podNetwork {
	b, err := os.ReadFile(s.netFile(id))
	if err != nil {
		return nil
	}
	var pn podNetwork
	if json.Unmarshal(b, &pn) != nil {
		return nil
	}
	return &pn
}

// podIP is the pod's first address and the others.
func (s *Server) podIPs(id string) (string, []string) {
	pn := s.loadNet(id)
	if pn == nil || len(pn.IPs) == 0 {
		return "", nil
	}
	return pn.IPs[0], pn.IPs[1:]
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
