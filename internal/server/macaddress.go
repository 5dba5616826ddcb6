package server

import (
	"context"
	"fmt"
	"net"
	"slices"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
)

// MACBackend tells the MAC address a container's main network's endpoint
// was asked for at create ("" for none): inspect's Config.MacAddress below
// API 1.52.
type MACBackend interface {
	ContainerDesiredMAC(ctx context.Context, id string) (string, error)
}

// legacyConfigMAC adds Config.MacAddress to an inspect answer below API
// 1.52 when the container asked for an address, as dockerd's router
// migrates it back for those versions (the wire types no longer have it).
func (s *Server) legacyConfigMAC(ctx context.Context, id string, answer any) any {
	sh, ok := answer.(shape)
	if !ok || !before(ctx, "1.52") {
		return answer
	}
	if mac, err := s.backend.ContainerDesiredMAC(ctx, id); err == nil && mac != "" {
		sh.add(map[string]any{"Config": map[string]any{"MacAddress": mac}})
	}
	return answer
}

// createRequest is POST /containers/create's body with the container-wide
// MacAddress that API 1.44 deprecated and the wire types no longer carry.
type createRequest struct {
	container.CreateRequest
	MacAddress string `json:",omitempty"`
}

// migrateMACAddress handles the container-wide MAC address by the request's
// API version, as dockerd does: below 1.44 it is the main network's
// endpoint's (and an endpoint's own MacAddress, which that API did not
// know, is ignored); from 1.44 it is deprecated — moved to the main
// network's endpoint with a warning, refused when the two differ — and
// from 1.52 refused. It may add the endpoint to req's NetworkingConfig.
func migrateMACAddress(version string, req *createRequest) (warning string, err error) {
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	if req.NetworkingConfig == nil {
		req.NetworkingConfig = &network.NetworkingConfig{}
	}
	eps := req.NetworkingConfig.EndpointsConfig
	var mac network.HardwareAddr
	if req.MacAddress != "" {
		hw, err := net.ParseMAC(req.MacAddress)
		if err != nil {
			return "", fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		mac = network.HardwareAddr(hw)
	}
	mode := string(req.HostConfig.NetworkMode)
	if mode == "" {
		mode = "default"
	}
	bridgeOrUser := mode != "host" && mode != "none" && mode != "container" && !isContainerMode(mode)
	if versionLess(version, "1.44") {
		if mac == nil {
			for _, ep := range eps {
				if ep != nil {
					ep.MacAddress = nil
				}
			}
			return "", nil
		}
		switch {
		case mode == "host" || isContainerMode(mode):
			return "", fmt.Errorf("conflicting options: mac-address and the network mode: %w", errdefs.ErrInvalidArgument)
		case !bridgeOrUser:
			// dockerd 20.10 takes it and has no NIC to give it to.
			return "", nil
		}
		ep, err := mainEndpoint(version, mode, req.NetworkingConfig)
		if err != nil {
			return "", err
		}
		ep.MacAddress = mac
		return "", nil
	}
	if mac == nil {
		return "", nil
	}
	if !versionLess(version, "1.52") {
		return "", fmt.Errorf("container-wide MAC address no longer supported; use endpoint-specific MAC address instead: %w", errdefs.ErrInvalidArgument)
	}
	if bridgeOrUser {
		ep, err := mainEndpoint(version, mode, req.NetworkingConfig)
		if err != nil {
			return "", fmt.Errorf("unable to migrate container-wide MAC address to a specific network: %w", err)
		}
		if len(ep.MacAddress) == 0 {
			ep.MacAddress = mac
		} else if !slices.Equal(ep.MacAddress, mac) {
			return "", fmt.Errorf("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty: %w", errdefs.ErrInvalidArgument)
		}
	}
	return "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.", nil
}

func isContainerMode(mode string) bool {
	return len(mode) > len("container:") && mode[:len("container:")] == "container:"
}

// mainEndpoint is the endpoint of the network mode's network in nc, made
// when nc has none; below 1.44 (one endpoint at most) it is the one there.
func mainEndpoint(version, mode string, nc *network.NetworkingConfig) (*network.EndpointSettings, error) {
	if len(nc.EndpointsConfig) == 0 {
		ep := &network.EndpointSettings{}
		nc.EndpointsConfig = map[string]*network.EndpointSettings{mode: ep}
		return ep, nil
	}
	if versionLess(version, "1.44") {
		for k, ep := range nc.EndpointsConfig {
			if ep == nil {
				ep = &network.EndpointSettings{}
				nc.EndpointsConfig[k] = ep
			}
			return ep, nil
		}
	}
	ep, ok := nc.EndpointsConfig[mode]
	if !ok {
		return nil, fmt.Errorf("HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks: %w", errdefs.ErrInvalidArgument)
	}
	if ep == nil {
		ep = &network.EndpointSettings{}
		nc.EndpointsConfig[mode] = ep
	}
	return ep, nil
}
