package conformance

import (
	"context"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// mkNet creates network conf-NAME (captured as {NAME}) as a setup step.
func mkNet(name string, body obj) *step {
	b := obj{"Name": "conf-" + name}
	for k, v := range body {
		b[k] = v
	}
	return post("/networks/create", b).capture(name, "Id").asSetup()
}

func networkCases() []*tcase {
	list := func(query string) *step { return get("/networks?" + query).anyOrder() }
	inspect := func(ref string) *step { return get("/networks/" + ref) }
	subnet := obj{"IPAM": obj{"Config": []obj{{"Subnet": "10.213.1.0/24", "Gateway": "10.213.1.1", "IPRange": "10.213.1.128/25"}}}}
	// dual is a dual-stack IPAM config: the IPv6 subnet without a gateway
	// (dockerd shows none then, and gives the subnet's first address).
	dual := obj{"Config": []obj{{"Subnet": "10.213.6.0/24", "Gateway": "10.213.6.1"}, {"Subnet": "fd00:213:6::/64"}}}
	return []*tcase{
		tcs("network/list/default", list("")),
		tcs("network/list/filter-name", mkNet("n", nil), list(filters("name", "conf-n"))),
		tcs("network/list/filter-driver", mkNet("n", nil), list(filters("driver", "null"))),
		tcs("network/list/filter-type-builtin", mkNet("n", nil), list(filters("type", "builtin"))),
		tcs("network/list/filter-type-custom", mkNet("n", nil), list(filters("type", "custom"))),
		tcs("network/list/filter-type-bad", list(filters("type", "bogus"))),
		tcs("network/list/filter-label", mkNet("n", obj{"Labels": obj{"k": "v"}}), mkNet("m", nil), list(filters("label", "k=v"))),
		// docker compose down lists a project's networks with two labels.
		tcs("network/list/filter-label-two", mkNet("n", obj{"Labels": obj{"com.docker.compose.project": "p", "com.docker.compose.network": "default"}}),
			mkNet("m", obj{"Labels": obj{"com.docker.compose.project": "p", "com.docker.compose.network": "back"}}),
			mkNet("o", obj{"Labels": obj{"com.docker.compose.project": "q", "com.docker.compose.network": "default"}}),
			list(filters("label", "com.docker.compose.project=p", "label", "com.docker.compose.network=default")).pick("Name", "Id", "Labels")),
		tcs("network/list/filter-id", mkNet("n", nil), list(filters("id", "{n}"))),
		tcs("network/list/filter-scope", list(filters("scope", "local"))),
		tcs("network/list/filter-dangling", mkNet("n", nil), list(filters("dangling", "true"))),
		tcs("network/list/filter-dangling-bad", list(filters("dangling", "maybe"))),
		tcs("network/list/filter-dangling-two", list(filters("dangling", "true", "dangling", "false"))),
		tcs("network/list/filter-type-two", mkNet("n", nil), list(filters("type", "custom", "type", "builtin")).pick("Name")),
		tcs("network/list/filter-label-not", list(filters("label!", "k"))),
		tcs("network/list/filter-unknown", list(filters("nope", "1"))),
		tcs("network/list/filter-malformed", get("/networks?filters="+q("{bad"))),

		tcs("network/inspect/bridge", inspect("bridge")),
		tcs("network/inspect/host", inspect("host")),
		tcs("network/inspect/none", inspect("none")),
		tcs("network/inspect/missing", inspect("conf-nope")),
		tcs("network/inspect/verbose", inspect("bridge?verbose=1")),
		tcs("network/inspect/by-short-id", mkNet("n", nil), inspect("{n:12}")),
		tcs("network/inspect/with-container", mkNet("n", nil), mkRunning("a", hc(obj{"NetworkMode": "conf-n"})), inspect("{n}")),
		tcs("network/inspect/sdk-missing", sdk("NetworkInspect", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.NetworkInspect(ctx, "conf-nope", client.NetworkInspectOptions{})
		})),

		tcs("network/create/minimal", post("/networks/create", obj{"Name": "conf-n"}).capture("n", "Id"), inspect("{n}")),
		tcs("network/create/subnet", post("/networks/create", obj{"Name": "conf-n", "IPAM": subnet["IPAM"]}).capture("n", "Id"),
			inspect("{n}").keeping("*IPAM.Config[].Subnet", "*IPAM.Config[].Gateway")),
		tcs("network/create/full", post("/networks/create", obj{"Name": "conf-n", "Driver": "bridge", "Internal": true, "Attachable": true,
			"Labels": obj{"k": "v"}, "Options": obj{"com.docker.network.bridge.name": "hconfn1", "com.docker.network.driver.mtu": "1400"}}).capture("n", "Id"),
			inspect("{n}")),
		tcs("network/create/duplicate", mkNet("n", nil), post("/networks/create", obj{"Name": "conf-n"})),
		tcs("network/create/duplicate-checked", mkNet("n", nil), post("/networks/create", obj{"Name": "conf-n", "CheckDuplicate": true})),
		tcs("network/create/predefined-bridge", post("/networks/create", obj{"Name": "bridge"})),
		tcs("network/create/predefined-host", post("/networks/create", obj{"Name": "host"})),
		tcs("network/create/predefined-none", post("/networks/create", obj{"Name": "none"})),
		tcs("network/create/no-name", post("/networks/create", obj{})),
		tcs("network/create/bad-json", post("/networks/create", "{")),
		tcs("network/create/bad-driver", post("/networks/create", obj{"Name": "conf-n", "Driver": "conf-nodriver"})).only141(),
		tcs("network/create/bad-subnet", post("/networks/create", obj{"Name": "conf-n", "IPAM": obj{"Config": []obj{{"Subnet": "bogus"}}}})),
		tcs("network/create/gateway-outside", post("/networks/create", obj{"Name": "conf-n", "IPAM": obj{"Config": []obj{{"Subnet": "10.213.2.0/24", "Gateway": "10.99.0.1"}}}})),
		tcs("network/create/overlapping", post("/networks/create", obj{"Name": "conf-n", "IPAM": subnet["IPAM"]}).asSetup(),
			post("/networks/create", obj{"Name": "conf-m", "IPAM": obj{"Config": []obj{{"Subnet": "10.213.1.0/25"}}}})),
		tcs("network/create/ipv6-no-subnet", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true}).capture("n", "Id"), inspect("{n}").pick("EnableIPv6", "IPAM")),
		tcs("network/create/ipv6-dual-stack", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true, "IPAM": dual}).capture("n", "Id"),
			inspect("{n}").pick("EnableIPv6", "IPAM").keeping("*IPAM.Config[].Subnet", "*IPAM.Config[].Gateway")),
		tcs("network/create/ipv6-only-subnet", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:7::/64", "Gateway": "fd00:213:7::fe", "IPRange": "fd00:213:7::100/120"}}}}).capture("n", "Id"),
			inspect("{n}").pick("EnableIPv6", "IPAM")),
		// Without EnableIPv6 an IPv6 subnet is recorded, shown, and used for
		// nothing (it takes no room: the same one twice).
		tcs("network/create/ipv6-subnet-not-enabled", mkNet("m", obj{"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:8::/64"}}}}),
			post("/networks/create", obj{"Name": "conf-n", "IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:8::/64"}}}}).capture("n", "Id"),
			inspect("{n}").pick("EnableIPv6", "IPAM").keeping("*IPAM.Config[1].Subnet")),
		tcs("network/create/ipv6-overlapping", mkNet("m", obj{"EnableIPv6": true, "IPAM": dual}),
			post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true, "IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:6::/80"}}}})),
		tcs("network/create/ipv6-two-subnets", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:9::/64"}, {"Subnet": "fd00:213:a::/64"}}}})),
		tcs("network/create/ipam-v6-gateway-outside", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:b::/64", "Gateway": "fd00:213:c::1"}}}})),
		tcs("network/create/ipam-v6-gateway-v4", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:b::/64", "Gateway": "10.213.11.1"}}}})),
		tcs("network/create/ipam-v6-range-v4", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:b::/64", "IPRange": "10.213.11.0/24"}}}})),
		tcs("network/create/ipam-v6-range-outside", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:b::/64", "IPRange": "fd00:213:c::/80"}}}})),
		tcs("network/create/ipam-v6-host-bits", post("/networks/create", obj{"Name": "conf-n", "EnableIPv6": true,
			"IPAM": obj{"Config": []obj{{"Subnet": "fd00:213:b::5/64"}}}})),

		// A container on a dual-stack network: its addresses (the static
		// IPv6 one kept), the network's view of it.
		tcs("network/ipv6/container", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}),
			mkRunning("a", obj{"HostConfig": obj{"NetworkMode": "conf-n"},
				"NetworkingConfig": obj{"EndpointsConfig": obj{"conf-n": obj{"IPAMConfig": obj{"IPv6Address": "fd00:213:6::99"}}}}}),
			get("/containers/{a}/json").pick("NetworkSettings").keeping("NetworkSettings.Networks.conf-n.GlobalIPv6Address",
				"NetworkSettings.Networks.conf-n.GlobalIPv6PrefixLen", "NetworkSettings.Networks.conf-n.IPv6Gateway",
				"NetworkSettings.Networks.conf-n.IPAMConfig.IPv6Address"),
			inspect("{n}").pick("Containers")),
		tcs("network/ipv6/connect-static", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}), mkRunning("a", nil),
			post("/networks/{n}/connect", obj{"Container": "{a}", "EndpointConfig": obj{"IPAMConfig": obj{"IPv6Address": "fd00:213:6::98"}}}),
			get("/containers/{a}/json").pick("NetworkSettings").keeping("NetworkSettings.Networks.conf-n.GlobalIPv6Address")),
		// Static addresses of the wrong family are refused at create.
		tcs("network/ipv6/static-v4-as-v6", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}),
			create("a", obj{"HostConfig": obj{"NetworkMode": "conf-n"},
				"NetworkingConfig": obj{"EndpointsConfig": obj{"conf-n": obj{"IPAMConfig": obj{"IPv6Address": "10.213.6.50"}}}}})),
		tcs("network/ipv6/static-v6-as-v4", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}),
			create("a", obj{"HostConfig": obj{"NetworkMode": "conf-n"},
				"NetworkingConfig": obj{"EndpointsConfig": obj{"conf-n": obj{"IPAMConfig": obj{"IPv4Address": "fd00:213:6::50"}}}}})),
		tcs("network/ipv6/connect-v4-as-v6", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}), mkRunning("a", nil),
			post("/networks/{n}/connect", obj{"Container": "{a}", "EndpointConfig": obj{"IPAMConfig": obj{"IPv6Address": "10.213.6.51"}}})),
		// … and at start, the address outside the subnet, taken, or on a
		// network without IPv6.
		tcs("network/ipv6/static-outside", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}),
			mk("a", obj{"Cmd": []string{"sleep", "300"}, "HostConfig": obj{"NetworkMode": "conf-n"},
				"NetworkingConfig": obj{"EndpointsConfig": obj{"conf-n": obj{"IPAMConfig": obj{"IPv6Address": "fd00:213:9::5"}}}}}),
			post("/containers/{a}/start", nil)),
		tcs("network/ipv6/static-gateway", mkNet("n", obj{"EnableIPv6": true, "IPAM": dual}),
			mk("a", obj{"Cmd": []string{"sleep", "300"}, "HostConfig": obj{"NetworkMode": "conf-n"},
				"NetworkingConfig": obj{"EndpointsConfig": obj{"conf-n": obj{"IPAMConfig": obj{"IPv6Address": "fd00:213:6::1"}}}}}),
			post("/containers/{a}/start", nil)),
		tcs("network/ipv6/static-no-ipv6", mkNet("n", obj{"IPAM": subnet["IPAM"]}),
			mk("a", obj{"Cmd": []string{"sleep", "300"}, "HostConfig": obj{"NetworkMode": "conf-n"},
				"NetworkingConfig": obj{"EndpointsConfig": obj{"conf-n": obj{"IPAMConfig": obj{"IPv6Address": "fd00:213:6::5"}}}}}),
			post("/containers/{a}/start", nil)),
		tcs("network/create/host-driver", post("/networks/create", obj{"Name": "conf-n", "Driver": "host"})),
		tcs("network/create/null-driver", post("/networks/create", obj{"Name": "conf-n", "Driver": "null"})),
		tcs("network/create/predefined-default", post("/networks/create", obj{"Name": "default"})),
		tcs("network/create/blank-name", post("/networks/create", obj{"Name": " "})),
		tcs("network/create/name-with-space", post("/networks/create", obj{"Name": "conf-a b/c:d"}).capture("n", "Id"), inspect("{n}").pick("Name")),
		tcs("network/create/ipam-host-bits", post("/networks/create", obj{"Name": "conf-n", "IPAM": obj{"Config": []obj{{"Subnet": "10.213.3.5/24"}}}})),
		tcs("network/create/ipam-range-outside", post("/networks/create", obj{"Name": "conf-n", "IPAM": obj{"Config": []obj{{"Subnet": "10.213.4.0/24", "IPRange": "10.214.0.0/24"}}}})),
		tcs("network/create/ipam-range-bigger", post("/networks/create", obj{"Name": "conf-n", "IPAM": obj{"Config": []obj{{"Subnet": "10.213.4.0/24", "IPRange": "10.213.4.0/23"}}}})),
		tcs("network/create/sdk", sdk("NetworkCreate", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.NetworkCreate(ctx, "conf-n", client.NetworkCreateOptions{Labels: map[string]string{"sdk": "1"}})
		}).capture("n", "ID"), inspect("{n}").pick("Name", "Labels", "Driver")),

		tcs("network/rm/ok", mkNet("n", nil), del("/networks/{n}"), inspect("{n}")),
		tcs("network/rm/by-name", mkNet("n", nil), del("/networks/conf-n")),
		tcs("network/rm/predefined", del("/networks/bridge")),
		tcs("network/rm/predefined-none", del("/networks/none")),
		tcs("network/rm/missing", del("/networks/conf-nope")),
		tcs("network/rm/in-use", mkNet("n", nil), mkRunning("a", hc(obj{"NetworkMode": "conf-n"})), del("/networks/{n}")),

		tcs("network/connect/ok", mkNet("n", nil), mk("a", nil), post("/networks/{n}/connect", obj{"Container": "{a}"}),
			get("/containers/{a}/json").pick("NetworkSettings")),
		tcs("network/connect/running", mkNet("n", nil), mkRunning("a", nil), post("/networks/{n}/connect", obj{"Container": "conf-a", "EndpointConfig": obj{"Aliases": []string{"conf-alias"}}}),
			get("/containers/{a}/json").pick("NetworkSettings"), inspect("{n}").pick("Containers")),
		// The container runs on (a shell that exits at once races the
		// inspect with its exit's cleanup).
		tcs("network/connect/static-ip", post("/networks/create", obj{"Name": "conf-n", "IPAM": subnet["IPAM"]}).capture("n", "Id").asSetup(), mk("a", obj{"Cmd": []string{"sleep", "300"}}),
			post("/networks/{n}/connect", obj{"Container": "{a}", "EndpointConfig": obj{"IPAMConfig": obj{"IPv4Address": "10.213.1.200"}}}),
			start("a"), get("/containers/{a}/json").pick("NetworkSettings").keeping("NetworkSettings.Networks.conf-n.IPAddress")),
		tcs("network/connect/twice", mkNet("n", nil), mkRunning("a", nil), post("/networks/{n}/connect", obj{"Container": "{a}"}).asSetup(),
			post("/networks/{n}/connect", obj{"Container": "{a}"})),
		tcs("network/connect/missing-container", mkNet("n", nil), post("/networks/{n}/connect", obj{"Container": "conf-nope"})),
		tcs("network/connect/missing-network", mk("a", nil), post("/networks/conf-nonet/connect", obj{"Container": "{a}"})),
		tcs("network/connect/host", mkRunning("a", nil), post("/networks/host/connect", obj{"Container": "{a}"})),
		tcs("network/connect/none-container", mkNet("n", nil), mkRunning("a", hc(obj{"NetworkMode": "none"})), post("/networks/{n}/connect", obj{"Container": "{a}"})),
		tcs("network/connect/none-created", mkNet("n", nil), mk("a", hc(obj{"NetworkMode": "none"})), post("/networks/{n}/connect", obj{"Container": "{a}"})),
		tcs("network/connect/host-container", mkNet("n", nil), mkRunning("a", hc(obj{"NetworkMode": "host"})), post("/networks/{n}/connect", obj{"Container": "{a}"})),
		tcs("network/connect/to-none", mkNet("n", nil), mk("a", hc(obj{"NetworkMode": "conf-n"})), post("/networks/none/connect", obj{"Container": "{a}"})),
		tcs("network/connect/shared-running", mkRunning("a", nil), mkRunning("b", hc(obj{"NetworkMode": "container:conf-a"})), mkNet("n", nil),
			post("/networks/{n}/connect", obj{"Container": "{b}"})),
		// A container disconnected from none may join another network.
		tcs("network/connect/after-none", post("/networks/create", obj{"Name": "conf-n", "IPAM": subnet["IPAM"]}).capture("n", "Id").asSetup(),
			mk("a", obj{"Cmd": []string{"sleep", "300"}, "HostConfig": obj{"NetworkMode": "none"}}),
			post("/networks/none/disconnect", obj{"Container": "{a}"}), post("/networks/{n}/connect", obj{"Container": "{a}"}),
			get("/containers/{a}/json").pick("NetworkSettings"), start("a"),
			get("/containers/{a}/json").pick("NetworkSettings").keeping("NetworkSettings.Networks.conf-n.IPAddress"),
			inspect("{n}").pick("Containers")),
		tcs("network/connect/twice-created", mkNet("n", nil), mk("a", hc(obj{"NetworkMode": "conf-n"})), post("/networks/{n}/connect", obj{"Container": "{a}"})),
		tcs("network/connect/created-aliases", mkNet("n", nil), mk("a", hc(obj{"NetworkMode": "conf-n"})), get("/containers/{a}/json").pick("NetworkSettings")),
		// A container that is not running may be given a network that does
		// not exist: its start fails.
		tcs("network/connect/missing-network-start", mk("a", nil), post("/networks/conf-nonet/connect", obj{"Container": "{a}"}),
			post("/containers/{a}/start", nil), get("/containers/{a}/json").pick("State")),
		tcs("network/connect/missing-network-then-disconnect", mk("a", nil), post("/networks/conf-nonet/connect", obj{"Container": "{a}"}),
			post("/networks/conf-nonet/disconnect", obj{"Container": "{a}"}), post("/containers/{a}/start", nil)),
		tcs("network/connect/missing-network-running", mkRunning("a", nil), post("/networks/conf-nonet/connect", obj{"Container": "{a}"})),
		tcs("network/connect/ok-started", mkNet("n", nil), mk("a", nil), post("/networks/{n}/connect", obj{"Container": "{a}"}), start("a"),
			wait("a").asSetup(), get("/containers/{a}/json").pick("NetworkSettings")),
		tcs("network/connect/bad-json", mkNet("n", nil), post("/networks/{n}/connect", "{")),
		tcs("network/connect/sdk", mkNet("n", nil), mk("a", nil), sdk("NetworkConnect", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.NetworkConnect(ctx, x("{n}"), client.NetworkConnectOptions{Container: x("{a}"), EndpointConfig: &network.EndpointSettings{Aliases: []string{"sdk"}}})
		}), get("/containers/{a}/json").pick("NetworkSettings")),
		tcs("network/disconnect/ok", mkNet("n", nil), mkRunning("a", hc(obj{"NetworkMode": "conf-n"})), post("/networks/{n}/disconnect", obj{"Container": "{a}"}),
			get("/containers/{a}/json").pick("NetworkSettings")),
		tcs("network/disconnect/not-connected", mkNet("n", nil), mkRunning("a", nil), post("/networks/{n}/disconnect", obj{"Container": "{a}"})),
		tcs("network/disconnect/force-stopped", mkNet("n", nil), mk("a", hc(obj{"NetworkMode": "conf-n"})), post("/networks/{n}/disconnect", obj{"Container": "{a}", "Force": true}),
			get("/containers/{a}/json").pick("NetworkSettings")),
		tcs("network/disconnect/missing-container", mkNet("n", nil), post("/networks/{n}/disconnect", obj{"Container": "conf-nope"})),
		tcs("network/disconnect/not-connected-created", mkNet("n", nil), mk("a", nil), post("/networks/{n}/disconnect", obj{"Container": "{a}"})),
		tcs("network/disconnect/missing-network", mk("a", nil), post("/networks/conf-nonet/disconnect", obj{"Container": "{a}"})),

		tcs("network/prune/unused", mkNet("n", nil), mkNet("m", nil), mkRunning("a", hc(obj{"NetworkMode": "conf-m"})), post("/networks/prune", nil).anyOrder("NetworksDeleted"),
			list("")),
		tcs("network/prune/until", mkNet("n", nil), post("/networks/prune?"+filters("until", "1h"), nil), list("")),
		tcs("network/prune/label", mkNet("n", obj{"Labels": obj{"k": "v"}}), mkNet("m", nil), post("/networks/prune?"+filters("label", "k=v"), nil), list("")),
		tcs("network/prune/label-not", mkNet("n", obj{"Labels": obj{"k": "v"}}), mkNet("m", nil), post("/networks/prune?"+filters("label!", "k"), nil), list("")),
		tcs("network/prune/label-two", mkNet("n", obj{"Labels": obj{"k": "v", "j": "w"}}), mkNet("m", obj{"Labels": obj{"k": "v"}}),
			post("/networks/prune?"+filters("label", "k=v", "label", "j=w"), nil), list("").pick("Name")),
		tcs("network/prune/label-not-two", mkNet("n", obj{"Labels": obj{"k": "v", "j": "w"}}), mkNet("m", obj{"Labels": obj{"k": "v"}}),
			post("/networks/prune?"+filters("label!", "k=v", "label!", "j=w"), nil), list("").pick("Name")),
		tcs("network/prune/until-bad", post("/networks/prune?"+filters("until", "soon"), nil)),
		tcs("network/prune/dangling", post("/networks/prune?"+filters("dangling", "true"), nil)),
		tcs("network/prune/filter-unknown", post("/networks/prune?"+filters("nope", "1"), nil)),
	}
}
