package server

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// The fields of containers and networks that a request's API version does
// not know yet are left out here, and those that newer versions dropped
// put back, so that an older client sees its version's shape (the swagger
// document of that version, and dockerd of that time): moby's wire types
// hold only the newest shape, with fields that have no omitempty.

// endpointsShape leaves out of a container's endpoints (inspect's and the
// list's NetworkSettings.Networks) what the version does not have:
// DNSNames arrived in 1.44, GwPriority in 1.48.
func endpointsShape(ctx context.Context, networks shape) {
	for _, ep := range networks {
		m, ok := ep.(map[string]any)
		if !ok {
			continue
		}
		if before(ctx, "1.44") {
			delete(m, "DNSNames")
		}
		if before(ctx, "1.48") {
			delete(m, "GwPriority")
		}
	}
}

// legacyNetworkSettings are the container-wide NetworkSettings fields that
// API 1.52 dropped (deprecated since 1.21 and, but for the default
// bridge's endpoint, never set): before 1.52 every inspect answer has
// them. Bridge is dockerd's --bridge interface, told only to containers
// of a daemon started with that flag; hull has no such flag.
func legacyNetworkSettings(bridge map[string]any) map[string]any {
	out := map[string]any{
		"Bridge": "", "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
		"SecondaryIPAddresses": nil, "SecondaryIPv6Addresses": nil,
		"EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
		"IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
	}
	// The default bridge's endpoint was also told in these fields.
	for _, k := range []string{"EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress"} {
		if v, ok := bridge[k]; ok && v != nil {
			out[k] = v
		}
	}
	return out
}

// containerInspectLegacy shapes an inspect answer (as a shape) for a
// version before 1.52: the endpoints' newer fields out, the dropped
// NetworkSettings fields back, Config.OnBuild (omitted when empty from
// 1.52) and, before 1.42, HostConfig's KernelMemory and KernelMemoryTCP
// (hull sets no kernel memory limit: they are 0, as dockerd showed them
// unset).
func containerInspectLegacy(ctx context.Context, sh shape) {
	ns := sh.object("NetworkSettings")
	if ns != nil {
		networks := ns.object("Networks")
		endpointsShape(ctx, networks)
		ns.add(legacyNetworkSettings(networks.object("bridge")))
	}
	sh.add(map[string]any{"Config": map[string]any{"OnBuild": nil}})
	if before(ctx, "1.42") {
		sh.add(map[string]any{"HostConfig": map[string]any{"KernelMemory": 0, "KernelMemoryTCP": 0}})
	}
}

// containerListVersion is the list of GET /containers/json (and system
// df's containers) in the shape of the version: as it is from 1.48, as
// shapes with the endpoints' newer fields left out before.
func containerListVersion(ctx context.Context, list []container.Summary) (any, error) {
	list = containerListShape(ctx, list)
	if !before(ctx, "1.48") {
		return list, nil
	}
	shapes, err := shapesOf(list)
	if err != nil {
		return nil, err
	}
	for _, sh := range shapes {
		if ns := sh.object("NetworkSettings"); ns != nil {
			endpointsShape(ctx, ns.object("Networks"))
		}
	}
	return shapes, nil
}

// networkVersion leaves out of a network (inspect, list) what the version
// does not have: EnableIPv4 arrived in 1.48.
func networkVersion[T network.Inspect | network.Summary](ctx context.Context, list []T) (any, error) {
	if !before(ctx, "1.48") {
		return list, nil
	}
	shapes, err := shapesOf(list)
	if err != nil {
		return nil, err
	}
	for _, sh := range shapes {
		sh.omit("EnableIPv4")
	}
	return shapes, nil
}

// networkInspectVersion is one network's inspect in the version's shape.
func networkInspectVersion(ctx context.Context, n network.Inspect) (any, error) {
	n = networkInspectShape(ctx, n)
	out, err := networkVersion(ctx, []network.Inspect{n})
	if err != nil {
		return nil, err
	}
	if shapes, ok := out.([]shape); ok {
		return shapes[0], nil
	}
	return n, nil
}

// networkListVersion is the network list in the version's shape.
func networkListVersion(ctx context.Context, list []network.Inspect) (any, error) {
	switch l := networkListShape(ctx, list).(type) {
	case []network.Inspect:
		return networkVersion(ctx, l)
	case []network.Summary:
		return networkVersion(ctx, l)
	default:
		return l, nil
	}
}
