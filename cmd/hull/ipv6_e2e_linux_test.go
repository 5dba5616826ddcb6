package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"

	"github.com/hullproject/hull/internal/hosttest"
)

// requireIPv6 skips a test when the host's kernel has no IPv6 (booted with
// ipv6.disable=1) or has it turned off for every interface.
func requireIPv6(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	if err != nil {
		t.Skipf("the kernel has no IPv6 (%v): booted with ipv6.disable=1?", err)
	}
	if strings.TrimSpace(string(b)) != "0" {
		t.Skip("IPv6 is disabled on this host (sysctl net.ipv6.conf.all.disable_ipv6=1)")
	}
}

// keepIPv6Host holds the host's IPv6 forwarding for the test (the bridge
// driver turns it on, as dockerd's; the last test binary holding it puts
// back what the host had: hosttest) and removes the table
// ip6 a test daemon left (hullDaemon's cleanup removes its table ip only)
// once the caller has set the daemon's exec root in the string returned.
// Called before hullDaemon, its cleanup runs after the daemon's.
func keepIPv6Host(t *testing.T) *string {
	release := hosttest.Hold("/proc/sys/net/ipv6/conf/all/forwarding")
	execRoot := new(string)
	t.Cleanup(func() {
		release()
		if *execRoot == "" {
			return
		}
		_, table := daemonNetworkNames(*execRoot)
		if c, err := nftables.New(); err == nil {
			tb := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv6}
			c.AddTable(tb)
			c.DelTable(tb)
			c.Flush()
		}
	})
	return execRoot
}

// TestIPv6Networks: dual-stack bridge networks through the docker CLI.
// Two containers on one network reach each other over IPv6 by address and
// by name (the resolver's AAAA), inspect tells their IPv6 addresses and
// gateway, the NICs have IPv6 on only on IPv6 networks, two IPv6 networks
// stay isolated over IPv6, a network with --ipv6 and no IPv6 subnet takes a
// /64 of the daemon's ULA pool, wrong IPv6 input is refused with dockerd's
// words; and once all is removed no bridge, no veth and no firewall table
// (ip or ip6) is left.
func TestIPv6Networks(t *testing.T) {
	requireIPv6(t)
	requireDockerCLI(t)
	buildShim(t)
	host := keepIPv6Host(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	execRoot := filepath.Join(dir, "run")
	*host = execRoot
	img := "e2e/busybox:1"
	_, table := daemonNetworkNames(execRoot)

	docker(t, env, "network", "create", "--ipv6", "--subnet", "10.231.0.0/24", "--subnet", "fd00:231:1::/64", "v6a")
	docker(t, env, "network", "create", "--ipv6", "--subnet", "10.232.0.0/24", "--gateway", "10.232.0.1", "--subnet", "fd00:231:2::/64", "--gateway", "fd00:231:2::fe", "v6b")
	docker(t, env, "network", "create", "--subnet", "10.233.0.0/24", "v4")
	bridges := map[string]string{}
	for _, n := range []string{"v6a", "v6b", "v4"} {
		bridges[n] = "hb-" + docker(t, env, "network", "inspect", "-f", "{{.ID}}", n)[:10]
	}
	// dockerd shows the gateway only when it was given.
	if out := docker(t, env, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", "v6a"); out != "true 10.231.0.0/24= fd00:231:1::/64=" &&
		out != "true 10.231.0.0/24=10.231.0.1 fd00:231:1::/64=" {
		t.Errorf("v6a's inspect: %q", out)
	}
	if out := docker(t, env, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", "v6b"); out != "true 10.232.0.0/24=10.232.0.1 fd00:231:2::/64=fd00:231:2::fe" {
		t.Errorf("v6b's inspect: %q", out)
	}
	if out := docker(t, env, "network", "inspect", "-f", "{{.EnableIPv6}}", "v4"); out != "false" {
		t.Errorf("v4's EnableIPv6: %q", out)
	}
	// The bridge holds the IPv6 gateway.
	if br, err := netlink.LinkByName(bridges["v6a"]); err != nil {
		t.Errorf("v6a's bridge: %v", err)
	} else {
		addrs, _ := netlink.AddrList(br, netlink.FAMILY_V6)
		found := false
		for _, a := range addrs {
			found = found || a.IPNet.String() == "fd00:231:1::1/64"
		}
		if !found {
			t.Errorf("v6a's bridge %s has no fd00:231:1::1/64: %v", bridges["v6a"], addrs)
		}
	}

	docker(t, env, "run", "-d", "--name", "a1", "--network", "v6a", img, "sleep", "300")
	docker(t, env, "run", "-d", "--name", "a2", "--network", "v6a", "--ip6", "fd00:231:1::99", img, "sleep", "300")
	docker(t, env, "run", "-d", "--name", "b1", "--network", "v6b", img, "sleep", "300")
	docker(t, env, "run", "-d", "--name", "c1", "--network", "v4", img, "sleep", "300")

	f := "{{with .NetworkSettings.Networks.v6a}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} via {{.IPv6Gateway}}{{if .IPAMConfig}} asked {{.IPAMConfig.IPv6Address}}{{end}}{{end}}"
	if out := docker(t, env, "inspect", "-f", f, "a1"); out != "fd00:231:1::2/64 via fd00:231:1::1" {
		t.Errorf("a1's IPv6 endpoint: %q", out)
	}
	if out := docker(t, env, "inspect", "-f", f, "a2"); out != "fd00:231:1::99/64 via fd00:231:1::1 asked fd00:231:1::99" {
		t.Errorf("a2's IPv6 endpoint: %q", out)
	}
	if out := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.v6b.GlobalIPv6Address}} {{.NetworkSettings.Networks.v6b.IPv6Gateway}}", "b1"); out != "fd00:231:2::1 fd00:231:2::fe" {
		t.Errorf("b1's IPv6 endpoint: %q", out)
	}
	if out := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.v4.GlobalIPv6Address}}|{{.NetworkSettings.Networks.v4.IPv6Gateway}}", "c1"); out != "|" {
		t.Errorf("c1 has IPv6 on an IPv4 network: %q", out)
	}
	if out := docker(t, env, "network", "inspect", "-f", `{{range .Containers}}{{.Name}}={{.IPv6Address}} {{end}}`, "v6a"); !strings.Contains(out, "a1=fd00:231:1::2/64") || !strings.Contains(out, "a2=fd00:231:1::99/64") {
		t.Errorf("v6a's containers: %q", out)
	}

	ping := func(from, to string) bool {
		_, _, code := dockerRun(t, env, "", "exec", from, "busybox", "ping", "-6", "-c1", "-W2", to)
		return code == 0
	}
	for _, to := range []string{"fd00:231:1::99", "a2", "fd00:231:1::1"} {
		if !ping("a1", to) {
			t.Errorf("a1 cannot ping %s over IPv6", to)
		}
	}
	if !ping("a2", "a1") {
		t.Errorf("a2 cannot ping a1 by name over IPv6")
	}
	if out, _, code := dockerRun(t, env, "", "exec", "a1", "busybox", "nslookup", "-type=aaaa", "a2", "127.0.0.11"); code != 0 || !strings.Contains(out, "fd00:231:1::99") {
		t.Errorf("AAAA of a2 from a1 (%d):\n%s", code, out)
	}
	if out := docker(t, env, "exec", "a1", "cat", "/etc/hosts"); !strings.Contains(out, "\nfd00:231:1::2\t") {
		t.Errorf("a1's /etc/hosts has no line of its IPv6 address:\n%s", out)
	}
	if out := docker(t, env, "exec", "a1", "busybox", "ip", "-6", "route"); !strings.Contains(out, "default via fd00:231:1::1 dev eth0") {
		t.Errorf("a1's IPv6 routes:\n%s", out)
	}
	// IPv6 is on for the NIC of an IPv6 network only (dockerd's rule).
	for c, want := range map[string]string{"a1": "0", "c1": "1"} {
		if out := docker(t, env, "exec", c, "cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"); out != want {
			t.Errorf("%s: net.ipv6.conf.eth0.disable_ipv6=%s, want %s", c, out, want)
		}
	}
	if out := docker(t, env, "exec", "c1", "busybox", "ip", "-6", "addr", "show", "dev", "eth0"); strings.Contains(out, "inet6") {
		t.Errorf("c1's eth0 on an IPv4 network has IPv6 addresses:\n%s", out)
	}

	// Isolation over IPv6: b1 reaches its own gateway (the host routes
	// IPv6), not a container of v6a; the ip6 table's drop says why.
	if !ping("b1", "fd00:231:2::fe") {
		t.Errorf("b1 cannot ping its gateway over IPv6")
	}
	if ping("b1", "fd00:231:1::2") {
		t.Errorf("b1 on v6b reaches a1 on v6a over IPv6")
	}
	if n := ip6Drops(t, table, bridges["v6b"], bridges["v6a"]); n == 0 {
		t.Errorf("no IPv6 packet dropped from %s to %s", bridges["v6b"], bridges["v6a"])
	}

	// Connected to an IPv6 network, an IPv4-only container gets IPv6 on
	// that NIC and its IPv6 default route there.
	docker(t, env, "network", "connect", "--ip6", "fd00:231:1::77", "v6a", "c1")
	if out := docker(t, env, "exec", "c1", "cat", "/proc/sys/net/ipv6/conf/eth1/disable_ipv6"); out != "0" {
		t.Errorf("c1's eth1 on v6a: disable_ipv6=%s", out)
	}
	if !ping("c1", "a2") {
		t.Errorf("c1 connected to v6a cannot ping a2 over IPv6")
	}
	if !ping("a1", "fd00:231:1::77") {
		t.Errorf("a1 cannot ping c1's static IPv6 address")
	}

	// --ipv6 and no IPv6 subnet: a /64 of the ULA pool (fd00::/8).
	docker(t, env, "network", "create", "--ipv6", "auto6")
	out := docker(t, env, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", "auto6")
	var sub6, gw6 string
	for _, c := range strings.Fields(out) {
		if s, g, _ := strings.Cut(c, "="); strings.Contains(s, ":") {
			sub6, gw6 = s, g
		}
	}
	if !strings.HasPrefix(sub6, "fd") || !strings.HasSuffix(sub6, "::/64") || gw6 != strings.TrimSuffix(sub6, "/64")+"1" {
		t.Errorf("auto6's IPAM config: %q", out)
	}
	docker(t, env, "run", "-d", "--name", "d1", "--network", "auto6", img, "sleep", "300")
	if out := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.auto6.IPv6Gateway}}", "d1"); out != gw6 {
		t.Errorf("d1's IPv6 gateway on auto6: %q, want %q", out, gw6)
	}
	if !ping("d1", gw6) {
		t.Errorf("d1 cannot ping its gateway %s", gw6)
	}

	// Wrong input, with dockerd's words.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--ipv6", "--subnet", "fd00:231:1::/80", "x"}, "Pool overlaps with other one on this address space"},
		{[]string{"network", "create", "--ipv6", "--subnet", "fd00:231:9::5/64", "x"}, "it should be fd00:231:9::/64"},
		{[]string{"run", "--rm", "--network", "v6a", "--ip6", "fd00:231:9::5", img, "true"}, "Invalid address fd00:231:9::5: It does not belong to any of this network's subnets"},
		{[]string{"run", "--rm", "--network", "v6a", "--ip6", "fd00:231:1::99", img, "true"}, "Address already in use"},
		{[]string{"run", "--rm", "--network", "v4", "--ip6", "fd00:231:1::5", img, "true"}, "user specified IP address is supported only when connecting to networks with user configured subnets"},
		{[]string{"run", "--rm", "--network", "auto6", "--ip6", strings.TrimSuffix(sub6, "/64") + "5", img, "true"}, "user specified IP address is supported only when connecting to networks with user configured subnets"},
		{[]string{"run", "--rm", "--network", "v6a", "--ip6", "10.231.0.50", img, "true"}, "invalid IPv6 address: 10.231.0.50"},
	} {
		if _, errOut, code := dockerRun(t, env, "", tc.args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("docker %s: %d %s, want an error with %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
	// The docker CLI checks a gateway against its subnet itself: the API
	// answers them.
	for body, want := range map[string]string{
		`{"Name":"x","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"fd00:231:9::/64","Gateway":"fd00:231:8::1"}]}}`: "invalid network config:\ninvalid gateway fd00:231:8::1: parent subnet fd00:231:9::/64 doesn't contain this address",
		`{"Name":"x","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"fd00:231:9::/64","Gateway":"10.9.9.1"}]}}`:      "invalid network config:\ninvalid gateway 10.9.9.1: parent subnet is an IPv6 block",
		`{"Name":"x","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"fd00:231:9::/64","IPRange":"10.9.9.0/24"}]}}`:   "invalid network config:\ninvalid ip-range 10.9.9.0/24: parent subnet is an IPv6 block",
	} {
		resp, err := apiClient(filepath.Join(dir, "hull.sock")).Post("http://hull/networks/create", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var msg struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&msg)
		resp.Body.Close()
		if resp.StatusCode != 400 || msg.Message != want {
			t.Errorf("create %s: %d %q, want 400 %q", body, resp.StatusCode, msg.Message, want)
		}
	}
	if out := docker(t, env, "network", "ls", "--format", "{{.Name}}", "--filter", "name=x"); out != "" {
		t.Errorf("a refused network exists: %s", out)
	}

	// Everything removed: no bridge, no veth, no rule; the ip6 table goes
	// with the last IPv6 network.
	docker(t, env, "rm", "-f", "a1", "a2", "b1", "c1", "d1")
	bridges["auto6"] = "hb-" + docker(t, env, "network", "inspect", "-f", "{{.ID}}", "auto6")[:10]
	docker(t, env, "network", "rm", "v6a", "v6b", "v4", "auto6")
	assertNoNetworkLeft(t, env, execRoot, bridges)
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv6)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == table {
			t.Errorf("table ip6 %s left with no IPv6 network", table)
		}
	}
}

// ip6Drops is the packet count of the rule of table ip6 <table>'s forward
// chain that drops from bridge from to bridge to.
func ip6Drops(t *testing.T, table, from, to string) uint64 {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tb := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv6}
	rules, err := c.GetRules(tb, &nftables.Chain{Name: "forward", Table: tb})
	if err != nil {
		t.Fatalf("table ip6 %s: %v", table, err)
	}
	for _, r := range rules {
		var names [][]byte
		var n uint64
		for _, e := range r.Exprs {
			switch x := e.(type) {
			case *expr.Cmp:
				names = append(names, bytes.TrimRight(x.Data, "\x00"))
			case *expr.Counter:
				n = x.Packets
			}
		}
		if len(names) == 2 && string(names[0]) == from && string(names[1]) == to {
			return n
		}
	}
	t.Fatalf("table ip6 %s has no drop from %s to %s", table, from, to)
	return 0
}

// TestIPv6RemoteDriver: a network of a remote driver (Docker's legacy
// plugin protocol) with IPv6: CreateNetwork carries IPv6Data and
// enable_ipv6, CreateEndpoint the endpoint's IPv6 address, and the NIC the
// plugin makes gets it in the container, with IPv6 on and the IPv6 default
// route.
func TestIPv6RemoteDriver(t *testing.T) {
	requireIPv6(t)
	requireDockerCLI(t)
	buildShim(t)
	host := keepIPv6Host(t)
	env, dir := hullDaemon(t, "--plugin-timeout", "2s")
	*host = filepath.Join(dir, "run")
	loadBusybox(t, env, dir)
	p := startTestPlugin(t, filepath.Join(dir, "run", "plugins"), "testnet6", "good")
	docker(t, env, "network", "create", "-d", "testnet6", "--ipv6", "--subnet", "10.88.0.0/24", "--subnet", "fd00:231:5::/64", "--gateway", "fd00:231:5::1", "tnet6")
	cn := p.called("NetworkDriver.CreateNetwork")
	if len(cn) != 1 {
		t.Fatalf("CreateNetwork: %v", cn)
	}
	if v6, _ := cn[0]["IPv6Data"].([]any); len(v6) != 1 || v6[0].(map[string]any)["Pool"] != "fd00:231:5::/64" || v6[0].(map[string]any)["Gateway"] != "fd00:231:5::1/64" {
		t.Errorf("CreateNetwork IPv6Data: %v", cn[0]["IPv6Data"])
	}
	if opts, _ := cn[0]["Options"].(map[string]any); opts["com.docker.network.enable_ipv6"] != true {
		t.Errorf("CreateNetwork options: %v", cn[0]["Options"])
	}
	out := docker(t, env, "run", "--rm", "--network", "tnet6", "--name", "pc", "e2e/busybox:1", "sh", "-c",
		"busybox ip addr show net0; busybox ip -6 route; cat /proc/sys/net/ipv6/conf/net0/disable_ipv6")
	for _, want := range []string{"inet6 fd00:231:5::2/64", "default via fd00:231:5::1 dev net0", "\n0\n"} {
		if !strings.Contains(out+"\n", want) {
			t.Errorf("the container's NIC lacks %q:\n%s", want, out)
		}
	}
	ce := p.called("NetworkDriver.CreateEndpoint")
	if in, _ := ce[0]["Interface"].(map[string]any); len(ce) != 1 || in["AddressIPv6"] != "fd00:231:5::2/64" {
		t.Errorf("CreateEndpoint: %v", ce)
	}
	waitFor(t, func() bool { return len(p.called("NetworkDriver.DeleteEndpoint")) == 1 }, "DeleteEndpoint after the container exits")
	docker(t, env, "network", "rm", "tnet6")
}

// TestIPv6DefaultBridge: a daemon started with --ipv6 --fixed-cidr-v6
// gives the default bridge network IPv6: inspect's legacy top-level fields
// (before API 1.52) tell the container's IPv6 address and gateway as
// dockerd tells them, and the container reaches its gateway over IPv6.
func TestIPv6DefaultBridge(t *testing.T) {
	requireIPv6(t)
	requireDockerCLI(t)
	buildShim(t)
	host := keepIPv6Host(t)
	env, dir := hullDaemon(t, "--ipv6", "--fixed-cidr-v6", "fd00:231:e::/64")
	*host = filepath.Join(dir, "run")
	loadBusybox(t, env, dir)
	if out := docker(t, env, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", "bridge"); !strings.HasPrefix(out, "true ") || !strings.HasSuffix(out, " fd00:231:e::/64=") {
		t.Errorf("the default bridge's inspect: %q", out)
	}
	docker(t, env, "run", "-d", "--name", "b1", "e2e/busybox:1", "sleep", "300")
	env141 := append(env, "DOCKER_API_VERSION=1.41")
	if out := docker(t, env141, "inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}} {{.NetworkSettings.Networks.bridge.GlobalIPv6Address}}", "b1"); out != "fd00:231:e::2/64 fd00:231:e::1 fd00:231:e::2" {
		t.Errorf("b1's IPv6 fields: %q", out)
	}
	if _, _, code := dockerRun(t, env, "", "exec", "b1", "busybox", "ping", "-6", "-c1", "-W2", "fd00:231:e::1"); code != 0 {
		t.Errorf("b1 cannot ping the default bridge's IPv6 gateway")
	}
	docker(t, env, "rm", "-f", "b1")
	assertNoNetworkLeft(t, env, filepath.Join(dir, "run"), nil)
}

// TestIPv6OnlyNetwork: docker network create --ipv4=false --ipv6 (API
// 1.48): containers have an IPv6 address only (and a MAC of their own),
// reach each other by name over IPv6, and a port published on the host
// reaches the container's IPv6 address. Without IPv6 too, or with an IPv4
// subnet, the network is refused.
func TestIPv6OnlyNetwork(t *testing.T) {
	requireIPv6(t)
	requireDockerCLI(t)
	buildShim(t)
	host := keepIPv6Host(t)
	env, dir := hullDaemon(t)
	*host = filepath.Join(dir, "run")
	loadBusybox(t, env, dir)
	img := "e2e/busybox:1"
	if _, e, code := dockerRun(t, env, "", "network", "create", "--ipv4=false", "x"); code == 0 || !strings.Contains(e, "IPv4 or IPv6 must be enabled") {
		t.Errorf("--ipv4=false alone: %d %s", code, e)
	}
	if _, e, code := dockerRun(t, env, "", "network", "create", "--ipv4=false", "--ipv6", "--subnet", "10.234.0.0/24", "x"); code == 0 || !strings.Contains(e, "IPv4 disabled") {
		t.Errorf("--ipv4=false with an IPv4 subnet: %d %s", code, e)
	}
	docker(t, env, "network", "create", "--ipv4=false", "--ipv6", "--subnet", "fd00:231:6::/64", "only6")
	if out := docker(t, env, "network", "inspect", "-f", "{{.EnableIPv4}} {{.EnableIPv6}} {{len .IPAM.Config}}", "only6"); out != "false true 1" {
		t.Errorf("only6's inspect: %q", out)
	}
	docker(t, env, "run", "-d", "--name", "srv", "--network", "only6", "-p", "127.0.0.1::80", img, "sh", "-c", "while true; do echo hello6 | busybox nc -l -p 80; done")
	docker(t, env, "run", "-d", "--name", "cli", "--network", "only6", img, "sleep", "300")
	if out := docker(t, env, "inspect", "-f", "{{with .NetworkSettings.Networks.only6}}{{.IPAddress}}|{{.GlobalIPv6Address}}|{{.MacAddress}}{{end}}", "srv"); !strings.HasPrefix(out, "|fd00:231:6::2|") || strings.HasSuffix(out, "|") {
		t.Errorf("srv's endpoint: %q", out)
	}
	if _, _, code := dockerRun(t, env, "", "exec", "cli", "busybox", "ping", "-c1", "-W2", "srv"); code != 0 {
		t.Errorf("cli cannot ping srv by name on an IPv6-only network")
	}
	port := docker(t, env, "port", "srv", "80/tcp")
	var got string
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", port, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		got = string(b)
		return strings.Contains(got, "hello6")
	}, "the published port reaching the container's IPv6 address", func() string { return got })
	docker(t, env, "rm", "-f", "srv", "cli")
	docker(t, env, "network", "rm", "only6")
	assertNoNetworkLeft(t, env, filepath.Join(dir, "run"), nil)
}

// TestIPv6DaemonRestart: a daemon stopped with no container left removes
// its bridges and tables (ip and ip6); started again it makes them again
// from its records, IPv6 gateway and isolation included, and a container
// of an IPv6 network has its IPv6 at once.
func TestIPv6DaemonRestart(t *testing.T) {
	requireIPv6(t)
	requireDockerCLI(t)
	buildShim(t)
	host := keepIPv6Host(t)
	env, dir := hullDaemon(t)
	execRoot := filepath.Join(dir, "run")
	*host = execRoot
	loadBusybox(t, env, dir)
	_, table := daemonNetworkNames(execRoot)
	docker(t, env, "network", "create", "--ipv6", "--subnet", "fd00:231:7::/64", "r6")
	docker(t, env, "network", "create", "--ipv6", "--subnet", "fd00:231:8::/64", "s6")
	bridge := "hb-" + docker(t, env, "network", "inspect", "-f", "{{.ID}}", "r6")[:10]
	other := "hb-" + docker(t, env, "network", "inspect", "-f", "{{.ID}}", "s6")[:10]

	// Stop the daemon (SIGINT, by the pid of the one listening on this
	// test's socket), then start it again.
	out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+filepath.Join(dir, "hull.sock")).Output()
	pids := strings.Fields(string(out))
	if len(pids) != 1 {
		t.Fatalf("the test's daemon: pids %v", pids)
	}
	exec.Command("kill", "-INT", pids[0]).Run()
	// It is hullDaemon's child: a zombie once it has exited.
	waitFor(t, func() bool {
		b, err := os.ReadFile("/proc/" + pids[0] + "/stat")
		_, rest, _ := strings.Cut(string(b), ") ")
		return err != nil || strings.HasPrefix(rest, "Z")
	}, "the daemon to stop")
	if _, err := netlink.LinkByName(bridge); err == nil {
		t.Errorf("r6's bridge %s left by a daemon stopped with nothing running", bridge)
	}
	if ip6Table(t, table) {
		t.Errorf("table ip6 %s left by a daemon stopped with nothing running", table)
	}
	cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+filepath.Join(dir, "hull.sock"), "--data-root", filepath.Join(dir, "root"),
		"--exec-root", execRoot, "--config-file", filepath.Join(dir, "daemon.json"))
	logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")

	if br, err := netlink.LinkByName(bridge); err != nil {
		t.Errorf("r6's bridge after the restart: %v", err)
	} else if addrs, _ := netlink.AddrList(br, netlink.FAMILY_V6); !strings.Contains(fmt.Sprint(addrs), "fd00:231:7::1/64") {
		t.Errorf("r6's bridge has no IPv6 gateway after the restart: %v", addrs)
	}
	if n := ip6Drops(t, table, bridge, other); n != 0 {
		t.Errorf("drops counted already: %d", n)
	}
	docker(t, env, "run", "-d", "--name", "r1", "--network", "r6", "e2e/busybox:1", "sleep", "300")
	docker(t, env, "run", "-d", "--name", "r2", "--network", "r6", "e2e/busybox:1", "sleep", "300")
	if _, _, code := dockerRun(t, env, "", "exec", "r1", "busybox", "ping", "-6", "-c1", "-W2", "r2"); code != 0 {
		t.Errorf("r1 cannot ping r2 over IPv6 after the restart")
	}
	if _, _, code := dockerRun(t, env, "", "exec", "r1", "busybox", "ping", "-6", "-c1", "-W2", "fd00:231:7::1"); code != 0 {
		t.Errorf("r1 cannot ping its IPv6 gateway after the restart")
	}
	docker(t, env, "rm", "-f", "r1", "r2")
	docker(t, env, "network", "rm", "r6", "s6")
	assertNoNetworkLeft(t, env, execRoot, map[string]string{"r6": bridge, "s6": other})
	if ip6Table(t, table) {
		t.Errorf("table ip6 %s left with no IPv6 network", table)
	}
}

// ip6Table reports whether table ip6 <name> exists.
func ip6Table(t *testing.T, name string) bool {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv6)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == name {
			return true
		}
	}
	return false
}
