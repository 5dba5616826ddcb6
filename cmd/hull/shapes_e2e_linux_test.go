package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShapesBetweenVersions: the fields of container, network, volume and
// /info answers that a request's version adds or drops between 1.41 and
// the newest (the conformance harness compares 1.41 with dockerd and
// checks 1.44, 1.52 and the newest against the swagger documents, which
// let an answer carry fields its version does not have), and what a
// container's endpoints tell as it is created, connected, started and
// stopped.
func TestShapesBetweenVersions(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	hs := filepath.Join(dir, "hull.sock")
	img := "e2e/busybox:1"
	get := func(path string) map[string]any { return call(t, rawCall{sock: hs, method: "GET", path: path}).json(t) }
	has := func(m map[string]any, k string) bool { _, ok := m[k]; return ok }
	endpoint := func(v, name, network string) map[string]any {
		t.Helper()
		ns, _ := get("/v" + v + "/containers/" + name + "/json")["NetworkSettings"].(map[string]any)
		nws, _ := ns["Networks"].(map[string]any)
		ep, ok := nws[network].(map[string]any)
		if !ok {
			t.Fatalf("/v%s inspect %s: no endpoint on %s: %v", v, name, network, ns)
		}
		return ep
	}

	docker(t, env, "network", "create", "sn")
	t.Cleanup(func() { dockerRun(t, env, "", "network", "rm", "sn") })
	id := docker(t, env, "create", "--name", "se", "--hostname", "seh", "--expose", "80", img, "sleep", "1000")
	short := id[:12]

	// Created: no network id, no exposed ports told, no DNS names.
	if ep := endpoint("1.56", "se", "bridge"); ep["NetworkID"] != "" || ep["DNSNames"] != nil {
		t.Errorf("created: bridge endpoint %v", ep)
	}
	if p := get("/v1.56/containers/se/json")["NetworkSettings"].(map[string]any)["Ports"]; fmt.Sprint(p) != "map[]" {
		t.Errorf("created: Ports %v", p)
	}
	// Connected while stopped: named at once on a user-defined network,
	// in dockerd's order (name, aliases, short id, host name).
	docker(t, env, "network", "connect", "--alias", "sa", "sn", "se")
	want := fmt.Sprint([]any{"se", "sa", short, "seh"})
	if got := fmt.Sprint(endpoint("1.44", "se", "sn")["DNSNames"]); got != want {
		t.Errorf("/v1.44 connected while stopped: DNSNames %s, want %s", got, want)
	}
	if has(endpoint("1.43", "se", "sn"), "DNSNames") {
		t.Error("/v1.43 inspect has DNSNames")
	}
	docker(t, env, "start", "se")
	if ep := endpoint("1.56", "se", "bridge"); ep["NetworkID"] == "" || ep["DNSNames"] != nil {
		t.Errorf("running: bridge endpoint %v", ep)
	}
	if got := fmt.Sprint(endpoint("1.56", "se", "sn")["DNSNames"]); got != want {
		t.Errorf("running: DNSNames %s, want %s", got, want)
	}
	if got := docker(t, env, "inspect", "-f", "{{json .NetworkSettings.Ports}}", "se"); got != `{"80/tcp":null}` {
		t.Errorf("running: Ports %s", got)
	}
	for v, want := range map[string]bool{"1.47": false, "1.48": true} {
		if got := has(endpoint(v, "se", "sn"), "GwPriority"); got != want {
			t.Errorf("/v%s inspect: GwPriority %v, want %v", v, got, want)
		}
		for _, c := range call(t, rawCall{sock: hs, method: "GET", path: "/v" + v + "/containers/json"}).list(t) {
			ep := c["NetworkSettings"].(map[string]any)["Networks"].(map[string]any)["sn"].(map[string]any)
			if has(ep, "GwPriority") != want || ep["Aliases"] != nil || ep["DNSNames"] != nil {
				t.Errorf("/v%s list: endpoint %v", v, ep)
			}
			if c["HostConfig"].(map[string]any)["NetworkMode"] != "bridge" {
				t.Errorf("/v%s list: HostConfig %v", v, c["HostConfig"])
			}
		}
	}
	// The NetworkSettings fields 1.52 dropped, Config.OnBuild before 1.52,
	// the kernel memory limits before 1.42.
	for _, c := range []struct {
		v                  string
		legacy, onBuild, k bool
	}{{"1.41", true, true, true}, {"1.42", true, true, false}, {"1.51", true, true, false}, {"1.52", false, false, false}} {
		m := get("/v" + c.v + "/containers/se/json")
		ns := m["NetworkSettings"].(map[string]any)
		for _, k := range []string{"Bridge", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "IPAddress"} {
			if has(ns, k) != c.legacy {
				t.Errorf("/v%s inspect NetworkSettings.%s: %v, want %v", c.v, k, has(ns, k), c.legacy)
			}
		}
		if has(m["Config"].(map[string]any), "OnBuild") != c.onBuild {
			t.Errorf("/v%s inspect Config.OnBuild: want %v", c.v, c.onBuild)
		}
		if has(m["HostConfig"].(map[string]any), "KernelMemory") != c.k {
			t.Errorf("/v%s inspect HostConfig.KernelMemory: want %v", c.v, c.k)
		}
	}
	docker(t, env, "stop", "-t", "1", "se")
	if ep := endpoint("1.56", "se", "sn"); ep["NetworkID"] == "" || fmt.Sprint(ep["DNSNames"]) != want {
		t.Errorf("stopped: endpoint %v", ep)
	}
	if p := get("/v1.56/containers/se/json")["NetworkSettings"].(map[string]any)["Ports"]; fmt.Sprint(p) != "map[]" {
		t.Errorf("stopped: Ports %v", p)
	}

	// Networks: EnableIPv4 from 1.48; IPAM options as given (null when
	// none); the default bridge's options tell what its bridge does.
	for v, want := range map[string]bool{"1.47": false, "1.48": true} {
		if got := has(get("/v"+v+"/networks/sn"), "EnableIPv4"); got != want {
			t.Errorf("/v%s network inspect: EnableIPv4 %v, want %v", v, got, want)
		}
		for _, n := range call(t, rawCall{sock: hs, method: "GET", path: "/v" + v + "/networks"}).list(t) {
			if has(n, "EnableIPv4") != want {
				t.Errorf("/v%s network list %v: EnableIPv4 want %v", v, n["Name"], want)
			}
		}
	}
	if o := get("/v1.56/networks/sn")["IPAM"].(map[string]any)["Options"]; o != nil {
		t.Errorf("IPAM.Options without options: %v", o)
	}
	docker(t, env, "network", "create", "--ipam-opt", "k=v", "so")
	t.Cleanup(func() { dockerRun(t, env, "", "network", "rm", "so") })
	if o := docker(t, env, "network", "inspect", "-f", "{{json .IPAM.Options}}", "so"); o != `{"k":"v"}` {
		t.Errorf("IPAM.Options: %s", o)
	}
	opts := get("/v1.56/networks/bridge")["Options"].(map[string]any)
	for k, v := range map[string]string{"com.docker.network.bridge.enable_icc": "true", "com.docker.network.bridge.enable_ip_masquerade": "true",
		"com.docker.network.bridge.host_binding_ipv4": "0.0.0.0", "com.docker.network.driver.mtu": "1500"} {
		if opts[k] != v {
			t.Errorf("default bridge option %s: %v, want %s", k, opts[k], v)
		}
	}
	br, _ := opts["com.docker.network.bridge.name"].(string)
	if mtu, err := os.ReadFile("/sys/class/net/" + br + "/mtu"); err != nil || strings.TrimSpace(string(mtu)) != "1500" {
		t.Errorf("bridge %s MTU: %q %v", br, mtu, err)
	}
	docker(t, env, "network", "create", "-o", "com.docker.network.driver.mtu=1400", "-o", "com.docker.network.bridge.name=hshapes0", "sm")
	t.Cleanup(func() { dockerRun(t, env, "", "network", "rm", "sm") })
	if mtu, err := os.ReadFile("/sys/class/net/hshapes0/mtu"); err != nil || strings.TrimSpace(string(mtu)) != "1400" {
		t.Errorf("network sm's bridge MTU: %q %v", mtu, err)
	}

	// Volumes: labels as given (null when none, {} when empty, as dockerd
	// keeps them), the list's Warnings null when none.
	docker(t, env, "volume", "create", "sv")
	call(t, rawCall{sock: hs, method: "POST", path: "/v1.56/volumes/create", body: `{"Name":"sw","Labels":{}}`})
	t.Cleanup(func() { dockerRun(t, env, "", "volume", "rm", "sv", "sw") })
	if l := docker(t, env, "volume", "inspect", "-f", "{{json .Labels}}", "sv"); l != "null" {
		t.Errorf("volume made without labels: Labels %s", l)
	}
	if l, ok := get("/v1.56/volumes/sw")["Labels"].(map[string]any); !ok || len(l) != 0 {
		t.Errorf("volume made with empty labels: Labels %v", l)
	}
	if vl := get("/v1.56/volumes"); vl["Warnings"] != nil {
		t.Errorf("volume list Warnings: %v", vl["Warnings"])
	}

	// /info: CDISpecDirs from 1.44; before 1.25 the execution driver and
	// the security options' names.
	for v, want := range map[string]bool{"1.43": false, "1.44": true} {
		if got := has(get("/v"+v+"/info"), "CDISpecDirs"); got != want {
			t.Errorf("/v%s/info CDISpecDirs %v, want %v", v, got, want)
		}
	}
	old := get("/v1.24/info")
	sec, _ := old["SecurityOptions"].([]any)
	if old["ExecutionDriver"] != "<not supported>" || !slices.Contains(sec, any("seccomp")) || strings.Contains(fmt.Sprint(sec), "=") {
		t.Errorf("/v1.24/info: ExecutionDriver %v, SecurityOptions %v", old["ExecutionDriver"], sec)
	}
}
