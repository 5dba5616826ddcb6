package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNetlifeConnectAfterNone: a container created on none, disconnected
// from it and connected to a user network starts on that network, as with
// dockerd — its eth0 has the range's first free address (the range's first
// went to the gateway, none being set) and reaches the gateway; a second
// connect to none is refused with dockerd's words.
func TestNetlifeConnectAfterNone(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	img := "e2e/busybox:1"

	docker(t, env, "network", "create", "--subnet", "10.78.0.0/24", "--ip-range", "10.78.0.128/25", "rng")
	t.Cleanup(func() { dockerRun(t, env, "", "rm", "-f", "lone"); dockerRun(t, env, "", "network", "rm", "rng") })
	if gw := docker(t, env, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "rng"); gw != "10.78.0.128" {
		t.Errorf("the gateway of a network with an IP range: %q, want the range's first address", gw)
	}
	docker(t, env, "create", "--name", "lone", "--network", "none", img, "sleep", "300")
	docker(t, env, "network", "disconnect", "none", "lone")
	docker(t, env, "network", "connect", "rng", "lone")
	if _, e, code := dockerRun(t, env, "", "network", "connect", "none", "lone"); code == 0 || !strings.Contains(e, "private (none) mode") {
		t.Errorf("connect to none beside another network: %d %s", code, e)
	}
	docker(t, env, "start", "lone")
	out, _, code := dockerRun(t, env, "", "exec", "lone", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
	if code != 0 || !strings.Contains(out, "10.78.0.129/24") {
		t.Errorf("eth0 of the container: %d %q, want 10.78.0.129/24", code, out)
	}
	if out, _, code := dockerRun(t, env, "", "exec", "lone", "busybox", "ip", "route"); code != 0 || !strings.Contains(out, "default via 10.78.0.128") {
		t.Errorf("routes of the container: %d %q", code, out)
	}
	if _, _, code := dockerRun(t, env, "", "exec", "lone", "busybox", "ping", "-c1", "-W2", "10.78.0.128"); code != 0 {
		t.Errorf("the container cannot reach its gateway")
	}
	if out := docker(t, env, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", "lone"); out != "rng=10.78.0.129" {
		t.Errorf("inspect's networks: %q", out)
	}
	docker(t, env, "rm", "-f", "lone")
	docker(t, env, "network", "rm", "rng")
	assertNoNetworkLeft(t, env, filepath.Join(dir, "run"), nil)
}
