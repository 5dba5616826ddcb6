package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// testPlugin is a network plugin written to Docker's legacy protocol: a
// NetworkDriver (and IpamDriver) on a unix socket that records every call
// with its JSON, makes a veth pair at Join and returns its peer, a gateway
// and static routes.
type testPlugin struct {
	mu    sync.Mutex
	calls []pluginCall
	// behave picks the plugin's manners: "good", "hang" (never answers)
	// or "garbage" (answers CreateNetwork, Join and RequestPool with
	// something that is not JSON).
	behave string
	veths  map[string]string // endpoint id -> host end
	next   int
}

type pluginCall struct {
	Method string
	Body   map[string]any
}

func (p *testPlugin) setBehave(b string) {
	p.mu.Lock()
	p.behave = b
	p.mu.Unlock()
}

func (p *testPlugin) called(method string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, c := range p.calls {
		if c.Method == method {
			out = append(out, c.Body)
		}
	}
	return out
}

func (p *testPlugin) methods() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		out = append(out, c.Method)
	}
	return out
}

func (p *testPlugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(b, &body)
	p.mu.Lock()
	p.calls = append(p.calls, pluginCall{method, body})
	behave := p.behave
	p.mu.Unlock()
	if behave == "hang" {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
	answer := func(v any) { json.NewEncoder(w).Encode(v) }
	if behave == "garbage" && (method == "NetworkDriver.CreateNetwork" || method == "NetworkDriver.Join") {
		io.WriteString(w, "<html>this is not JSON")
		return
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	switch method {
	case "Plugin.Activate":
		answer(map[string]any{"Implements": []string{"NetworkDriver", "IpamDriver"}})
	case "NetworkDriver.GetCapabilities":
		answer(map[string]string{"Scope": "local", "ConnectivityScope": "local"})
	case "NetworkDriver.CreateEndpoint":
		answer(map[string]any{"Interface": map[string]string{"MacAddress": "02:aa:bb:cc:dd:01"}})
	case "NetworkDriver.Join":
		p.mu.Lock()
		p.next++
		n := p.next
		p.mu.Unlock()
		host, peer := fmt.Sprintf("tph%d%d", n, rand.IntN(1000)), fmt.Sprintf("tpc%d%d", n, rand.IntN(1000))
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: peer}); err != nil {
			w.WriteHeader(500)
			answer(map[string]string{"Err": err.Error()})
			return
		}
		if l, err := netlink.LinkByName(host); err == nil {
			netlink.LinkSetUp(l)
		}
		p.mu.Lock()
		p.veths[str("EndpointID")] = host
		p.mu.Unlock()
		// The gateway and a next hop in the network's subnet, as
		// CreateNetwork gave it (x.y.z.1 and x.y.z.254).
		prefix := "10.88.0."
		for _, c := range p.called("NetworkDriver.CreateNetwork") {
			if c["NetworkID"] == body["NetworkID"] {
				if v4, _ := c["IPv4Data"].([]any); len(v4) > 0 {
					pool, _ := v4[0].(map[string]any)["Pool"].(string)
					prefix = pool[:strings.LastIndex(pool, ".")+1]
				}
			}
		}
		answer(map[string]any{
			"InterfaceName": map[string]string{"SrcName": peer, "DstPrefix": "net"},
			"Gateway":       prefix + "1",
			"StaticRoutes": []map[string]any{
				{"Destination": "10.99.99.0/24", "RouteType": 0, "NextHop": prefix + "254"},
				{"Destination": "10.98.0.0/24", "RouteType": 1},
			},
		})
	case "NetworkDriver.Leave":
		p.mu.Lock()
		host := p.veths[str("EndpointID")]
		delete(p.veths, str("EndpointID"))
		p.mu.Unlock()
		if l, err := netlink.LinkByName(host); err == nil {
			netlink.LinkDel(l)
		}
		answer(map[string]any{})
	case "IpamDriver.GetCapabilities":
		answer(map[string]bool{"RequiresMACAddress": false})
	case "IpamDriver.GetDefaultAddressSpaces":
		answer(map[string]string{"LocalDefaultAddressSpace": "testlocal", "GlobalDefaultAddressSpace": "testglobal"})
	case "IpamDriver.RequestPool":
		answer(map[string]any{"PoolID": "pool-1", "Pool": "10.66.0.0/24", "Data": map[string]string{"com.docker.network.gateway": "10.66.0.1/24"}})
	case "IpamDriver.RequestAddress":
		addr := "10.66.0.50/24"
		if a := str("Address"); a != "" {
			addr = a + "/24"
		}
		answer(map[string]string{"Address": addr})
	default:
		answer(map[string]any{})
	}
}

// startTestPlugin serves a plugin on a unix socket and writes the spec file
// that names it, NAME.spec, in specDir.
func startTestPlugin(t *testing.T, specDir, name, behave string) *testPlugin {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "hullplug")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, name+".sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPlugin{behave: behave, veths: map[string]string{}}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		os.RemoveAll(sockDir)
		p.mu.Lock()
		for _, h := range p.veths {
			if l, err := netlink.LinkByName(h); err == nil {
				netlink.LinkDel(l)
			}
		}
		p.mu.Unlock()
	})
	os.MkdirAll(specDir, 0o755)
	if err := os.WriteFile(filepath.Join(specDir, name+".spec"), []byte("unix://"+sock+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDaemonRemoteNetworkPlugin is issue 6's second acceptance: a plugin
// found through a spec file receives CreateNetwork, CreateEndpoint, Join,
// Leave, DeleteEndpoint (and DeleteNetwork) with Docker's JSON, and the
// interface, address, MAC, gateway and routes it returns are what the
// container gets; an IPAM plugin gives the pool and the addresses; a plugin
// that hangs or answers garbage gives a clear error within the timeout and
// leaves nothing half-made.
func TestDaemonRemoteNetworkPlugin(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t, "--plugin-timeout", "2s")
	loadBusybox(t, env, dir)
	execRoot := filepath.Join(dir, "run")
	specDir := filepath.Join(execRoot, "plugins")
	img := "e2e/busybox:1"

	p := startTestPlugin(t, specDir, "testnet", "good")
	netID := docker(t, env, "network", "create", "-d", "testnet", "--subnet", "10.88.0.0/24", "--gateway", "10.88.0.1", "tnet")
	cn := p.called("NetworkDriver.CreateNetwork")
	if len(cn) != 1 || cn[0]["NetworkID"] != netID {
		t.Fatalf("CreateNetwork: %v (network %s)", cn, netID)
	}
	if v4, _ := cn[0]["IPv4Data"].([]any); len(v4) != 1 || v4[0].(map[string]any)["Pool"] != "10.88.0.0/24" || v4[0].(map[string]any)["Gateway"] != "10.88.0.1/24" {
		t.Errorf("CreateNetwork IPv4Data: %v", cn[0]["IPv4Data"])
	}

	out := docker(t, env, "run", "--rm", "--network", "tnet", "--name", "pc", img, "sh", "-c", "busybox ip addr show net0; busybox ip route")
	for _, want := range []string{"net0", "inet 10.88.0.2/24", "link/ether 02:aa:bb:cc:dd:01", "default via 10.88.0.1 dev net0", "10.99.99.0/24 via 10.88.0.254 dev net0", "10.98.0.0/24 dev net0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the container's NIC and routes lack %q:\n%s", want, out)
		}
	}
	ce := p.called("NetworkDriver.CreateEndpoint")
	join := p.called("NetworkDriver.Join")
	if len(ce) != 1 || len(join) != 1 {
		t.Fatalf("CreateEndpoint %v, Join %v", ce, join)
	}
	epID, _ := ce[0]["EndpointID"].(string)
	if in, _ := ce[0]["Interface"].(map[string]any); in["Address"] != "10.88.0.2/24" || ce[0]["NetworkID"] != netID {
		t.Errorf("CreateEndpoint: %v", ce[0])
	}
	if join[0]["EndpointID"] != epID || !strings.HasPrefix(fmt.Sprint(join[0]["SandboxKey"]), filepath.Join(execRoot, "netns")+"/") {
		t.Errorf("Join: %v", join[0])
	}
	waitFor(t, func() bool { return len(p.called("NetworkDriver.DeleteEndpoint")) == 1 }, "DeleteEndpoint after the container exits", func() string { return fmt.Sprint(p.methods()) })
	if l := p.called("NetworkDriver.Leave"); len(l) != 1 || l[0]["EndpointID"] != epID {
		t.Errorf("Leave: %v", l)
	}
	if de := p.called("NetworkDriver.DeleteEndpoint"); de[0]["EndpointID"] != epID {
		t.Errorf("DeleteEndpoint: %v", de)
	}
	order := strings.Join(p.methods(), " ")
	for _, seq := range [][2]string{{"CreateEndpoint", "Join"}, {"Join", "Leave"}, {"Leave", "DeleteEndpoint"}} {
		if strings.Index(order, "NetworkDriver."+seq[0]) > strings.Index(order, "NetworkDriver."+seq[1]) {
			t.Errorf("%s came after %s: %s", seq[0], seq[1], order)
		}
	}
	docker(t, env, "network", "rm", "tnet")
	if dn := p.called("NetworkDriver.DeleteNetwork"); len(dn) != 1 || dn[0]["NetworkID"] != netID {
		t.Errorf("DeleteNetwork: %v", dn)
	}

	// The same plugin as IPAM driver: the pool, the gateway and the
	// container's address are its.
	docker(t, env, "network", "create", "-d", "testnet", "--ipam-driver", "testnet", "inet")
	if rp := p.called("IpamDriver.RequestPool"); len(rp) != 1 || rp[0]["AddressSpace"] != "testlocal" {
		t.Errorf("RequestPool: %v", rp)
	}
	if out := docker(t, env, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "inet"); out != "10.66.0.0/24 10.66.0.1" {
		t.Errorf("IPAM from the plugin: %q", out)
	}
	out = docker(t, env, "run", "--rm", "--network", "inet", img, "busybox", "ip", "addr", "show", "net0")
	if !strings.Contains(out, "inet 10.66.0.50/24") {
		t.Errorf("address from the IPAM plugin:\n%s", out)
	}
	waitFor(t, func() bool { return len(p.called("IpamDriver.ReleaseAddress")) >= 1 }, "ReleaseAddress")
	docker(t, env, "network", "rm", "inet")
	if rp := p.called("IpamDriver.ReleasePool"); len(rp) != 1 || rp[0]["PoolID"] != "pool-1" {
		t.Errorf("ReleasePool: %v", rp)
	}

	// A plugin that never answers: a clear error within the timeout.
	startTestPlugin(t, specDir, "hangnet", "hang")
	start := time.Now()
	_, e, code := dockerRun(t, env, "", "network", "create", "-d", "hangnet", "hnet")
	if took := time.Since(start); code == 0 || took > 10*time.Second || !strings.Contains(e, "hangnet") {
		t.Errorf("network create with a hung plugin: code %d after %s: %s", code, took, e)
	} else {
		t.Logf("hung plugin, after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(e))
	}
	// A plugin that answers garbage: refused, and nothing is left.
	g := startTestPlugin(t, specDir, "junknet", "garbage")
	_, e, code = dockerRun(t, env, "", "network", "create", "-d", "junknet", "jnet")
	if code == 0 || !strings.Contains(e, "not the protocol's JSON") {
		t.Errorf("network create with a plugin answering garbage: code %d: %s", code, e)
	} else {
		t.Logf("garbage plugin: %s", strings.TrimSpace(e))
	}
	if out := docker(t, env, "network", "ls", "--format", "{{.Name}}"); strings.Contains(out, "hnet") || strings.Contains(out, "jnet") {
		t.Errorf("a failed create left a network:\n%s", out)
	}
	// Garbage at Join: the container does not start, and its endpoint is
	// deleted in the plugin.
	g.setBehave("good")
	docker(t, env, "network", "create", "-d", "junknet", "--subnet", "10.89.0.0/24", "jnet")
	g.setBehave("garbage")
	_, e, code = dockerRun(t, env, "", "run", "--rm", "--network", "jnet", img, "true")
	if code == 0 || !strings.Contains(e, "Join") {
		t.Errorf("run with a plugin answering garbage at Join: code %d: %s", code, e)
	}
	if len(g.called("NetworkDriver.DeleteEndpoint")) != 1 {
		t.Errorf("the endpoint of the failed join was not deleted: %v", g.methods())
	}
	g.setBehave("good")
	docker(t, env, "container", "prune", "-f")
	docker(t, env, "network", "rm", "jnet")
	assertNoNetworkLeft(t, env, execRoot, nil)
	links, _ := netlink.LinkList()
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, "tph") || strings.HasPrefix(n, "tpc") {
			t.Errorf("a plugin veth was left: %s", n)
		}
	}
}
