package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// daemonNetworkNames mirrors the daemon's names for a test daemon's default
// bridge and firewall table (internal/daemon networkNames).
func daemonNetworkNames(execRoot string) (bridge, table string) {
	h := fnv.New32a()
	h.Write([]byte(execRoot))
	sum := fmt.Sprintf("%08x", h.Sum32())[:6]
	return "hull" + sum, "hull_" + sum
}

// removeDaemonNetwork removes what a stopped test daemon's network service
// keeps for the next start: its default bridge and its nftables tables.
func removeDaemonNetwork(execRoot string) {
	bridge, table := daemonNetworkNames(execRoot)
	if l, err := netlink.LinkByName(bridge); err == nil {
		netlink.LinkDel(l)
	}
	// Its table ip, and the table ip6 of the same name while it had an
	// IPv6 network.
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
		if c, err := nftables.New(); err == nil {
			t := &nftables.Table{Name: table, Family: fam}
			c.AddTable(t)
			c.DelTable(t)
			c.Flush()
		}
	}
}

// outsideHost is a network namespace standing for a host beyond the
// machine: a veth pair 10.<n>.0.1 (here) — 10.<n>.0.2 (there), with a TCP
// server there that records the address each connection comes from.
type outsideHost struct {
	addr  string
	peers chan string
}

func newOutsideHost(t *testing.T) *outsideHost {
	t.Helper()
	n := 100 + rand.IntN(100)
	here, there := fmt.Sprintf("hoh%d", n), fmt.Sprintf("hot%d", n)
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New() // this thread is now in it
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: here}, PeerName: there}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	hereLink, err := netlink.LinkByName(here)
	if err != nil {
		t.Fatal(err)
	}
	netlink.AddrAdd(hereLink, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, byte(n), 0, 1), Mask: net.CIDRMask(24, 32)}})
	netlink.LinkSetUp(hereLink)
	thereLink, err := netlink.LinkByName(there)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(thereLink, int(ns)); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	thereLink, err = h.LinkByName(there)
	if err != nil {
		t.Fatal(err)
	}
	h.AddrAdd(thereLink, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, byte(n), 0, 2), Mask: net.CIDRMask(24, 32)}})
	h.LinkSetUp(thereLink)
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
	o := &outsideHost{addr: fmt.Sprintf("10.%d.0.2", n), peers: make(chan string, 4)}
	// The listening socket belongs to the namespace it is made in.
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", o.addr+":9999")
	var pc net.PacketConn
	if err == nil {
		pc, err = net.ListenPacket("udp4", o.addr+":53")
	}
	if serr := netns.Set(orig); serr != nil {
		t.Fatal(serr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// A name server there: outside.test is 192.0.2.99.
	dnsSrv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || q.Question[0].Name != "outside.test.":
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "outside.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 99)})
		}
		w.WriteMsg(m)
	})}
	go dnsSrv.ActivateAndServe()
	t.Cleanup(func() { dnsSrv.Shutdown(); pc.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			o.peers <- host
			c.Close()
		}
	}()
	return o
}

// TestDaemonNetworks is issue 6's acceptance through the docker CLI: user
// networks with names and aliases, isolation between networks, -p from the
// host's loopback and addresses, connect/disconnect of a running container,
// network inspect, outbound NAT from the default bridge, per-interface stats,
// and afterwards nothing left: namespace, veth, bridge, rule, lease.
func TestDaemonNetworks(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	execRoot := filepath.Join(dir, "run")
	img := "e2e/busybox:1"

	docker(t, env, "network", "create", "app")
	docker(t, env, "network", "create", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.254", "other")
	if out := docker(t, env, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "app bridge") || !strings.Contains(out, "other bridge") || !strings.Contains(out, "bridge bridge") {
		t.Errorf("network ls:\n%s", out)
	}
	docker(t, env, "run", "-d", "--name", "web", "--network", "app", "--network-alias", "www", img, "sleep", "300")
	docker(t, env, "run", "-d", "--name", "peer", "--network", "app", img, "sleep", "300")
	docker(t, env, "run", "-d", "--name", "outsider", "--network", "other", "--ip", "10.77.0.9", img, "sleep", "300")

	ping := func(from, to string) bool {
		_, _, code := dockerRun(t, env, "", "exec", from, "busybox", "ping", "-c1", "-W2", to)
		return code == 0
	}
	for _, to := range []string{"web", "www"} {
		if !ping("peer", to) {
			t.Errorf("peer cannot ping %s on the same network", to)
		}
	}
	if !ping("web", "peer") {
		t.Errorf("web cannot ping peer")
	}
	webIP := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.app.IPAddress}}", "web")
	if !strings.HasPrefix(webIP, "172.") {
		t.Fatalf("web's address on app: %q", webIP)
	}
	if out := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.other.IPAddress}} {{.NetworkSettings.Networks.other.Gateway}}", "outsider"); out != "10.77.0.9 10.77.0.254" {
		t.Errorf("outsider's static address and gateway: %q", out)
	}
	if ping("outsider", webIP) {
		t.Errorf("a container on another network reaches web at %s", webIP)
	}
	if out, _, code := dockerRun(t, env, "", "exec", "outsider", "busybox", "nslookup", "web", "127.0.0.11"); code == 0 {
		t.Errorf("outsider resolves web across networks:\n%s", out)
	}

	// network inspect shows the containers and their addresses.
	var nets []struct {
		Containers map[string]struct{ Name, IPv4Address string }
		IPAM       struct {
			Config []struct{ Subnet, Gateway string }
		}
	}
	if err := json.Unmarshal([]byte(docker(t, env, "network", "inspect", "app")), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v", err)
	}
	seen := map[string]string{}
	for _, c := range nets[0].Containers {
		seen[c.Name] = c.IPv4Address
	}
	if seen["web"] != webIP+"/16" || seen["peer"] == "" || len(seen) != 2 {
		t.Errorf("network inspect app: containers %v", seen)
	}

	// connect and disconnect a running container.
	docker(t, env, "network", "connect", "--alias", "visitor", "app", "outsider")
	if !ping("outsider", "web") || !ping("web", "visitor") {
		t.Errorf("after connect: outsider and web do not reach each other")
	}
	docker(t, env, "network", "disconnect", "app", "outsider")
	if ping("outsider", webIP) {
		t.Errorf("after disconnect: outsider still reaches web")
	}

	// -p: reachable from the host's loopback and its other addresses.
	docker(t, env, "run", "-d", "--name", "pub", "-p", "18080:80", img, "sh", "-c", "mkdir -p /www && echo hello-published > /www/index.html && exec busybox httpd -f -p 80 -h /www")
	get := func(url string) string {
		var body string
		waitFor(t, func() bool {
			c := http.Client{Timeout: 2 * time.Second}
			resp, err := c.Get(url)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == 200
		}, "GET "+url)
		return body
	}
	if got := get("http://127.0.0.1:18080/"); got != "hello-published\n" {
		t.Errorf("GET 127.0.0.1:18080: %q", got)
	}
	if ip := hostAddress(t); ip != "" {
		if got := get("http://" + ip + ":18080/"); got != "hello-published\n" {
			t.Errorf("GET %s:18080: %q", ip, got)
		}
	}
	// Published on every address: IPv6's too when the host has it, and
	// told as dockerd tells it ([::]:port).
	wantPort := "80/tcp -> 0.0.0.0:18080"
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		wantPort += "\n80/tcp -> [::]:18080"
		if got := get("http://[::1]:18080/"); got != "hello-published\n" {
			t.Errorf("GET [::1]:18080: %q", got)
		}
	}
	if out := docker(t, env, "port", "pub"); out != wantPort {
		t.Errorf("docker port: %q, want %q", out, wantPort)
	}
	docker(t, env, "run", "-d", "--name", "pub2", "-P", "--expose", "80", img, "sleep", "300")
	if out := docker(t, env, "port", "pub2", "80"); !strings.HasPrefix(out, "0.0.0.0:") {
		t.Errorf("-P: docker port pub2 80 = %q", out)
	}
	docker(t, env, "stop", "-t", "1", "pub")
	if c, err := net.DialTimeout("tcp", "127.0.0.1:18080", time.Second); err == nil {
		c.Close()
		t.Errorf("port 18080 still published after the container stopped")
	}

	// Outbound NAT from the default bridge: a host beyond the machine sees
	// the machine's address, not the container's.
	out := newOutsideHost(t)
	if o, e, code := dockerRun(t, env, "", "run", "--rm", img, "busybox", "nc", "-w", "3", out.addr, "9999"); code != 0 {
		t.Errorf("connect to %s from the default bridge: %d %s %s", out.addr, code, o, e)
	}
	select {
	case peer := <-out.peers:
		want := strings.TrimSuffix(out.addr, "2") + "1"
		if peer != want {
			t.Errorf("the outside host saw %s, want the machine's %s (masqueraded)", peer, want)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the outside host saw no connection")
	}

	// Names the resolver does not know are forwarded: here to --dns, the
	// outside host's name server.
	if o, e, code := dockerRun(t, env, "", "run", "--rm", "--network", "app", "--dns", out.addr, img, "busybox", "nslookup", "outside.test"); code != 0 || !strings.Contains(o, "192.0.2.99") {
		t.Errorf("nslookup outside.test through the resolver to --dns %s: %d\n%s%s", out.addr, code, o, e)
	}

	// Per-interface counters in docker stats.
	if o := docker(t, env, "stats", "--no-stream", "--format", "{{.Name}} {{.NetIO}}", "web"); !strings.HasPrefix(o, "web ") || strings.HasPrefix(o, "web 0B / 0B") {
		t.Errorf("docker stats NetIO: %q", o)
	}

	// hull diag: the compartments, web's NIC and routes, from the kernel.
	webID := docker(t, env, "inspect", "-f", "{{.Id}}", "web")
	netnsDir := filepath.Join(execRoot, "netns")
	if out := hull(t, "diag", "compartments", "--netns-dir", netnsDir); !strings.Contains(out, `\Container_`+webID) || !strings.Contains(out, "lo,eth0") {
		t.Errorf("hull diag compartments:\n%s", out)
	}
	mac := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.app.MacAddress}}", "web")
	if out := hull(t, "diag", "interfaces", "--netns-dir", netnsDir, "--compartment", webID[:12]); !strings.Contains(out, "eth0") || !strings.Contains(out, webIP+"/16") || !strings.Contains(out, mac) || !strings.Contains(out, "1500") {
		t.Errorf("hull diag interfaces (want eth0 %s %s):\n%s", webIP, mac, out)
	}
	gw := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.app.Gateway}}", "web")
	if out := hull(t, "diag", "routes", "--netns-dir", netnsDir, "--compartment", webID[:12]); !strings.Contains(out, "0.0.0.0/0") || !strings.Contains(out, gw) {
		t.Errorf("hull diag routes (want the default route through %s):\n%s", gw, out)
	}

	// Removing a network in use is refused; with every container and
	// network removed nothing is left.
	if _, e, code := dockerRun(t, env, "", "network", "rm", "app"); code == 0 || !strings.Contains(e, "active endpoints") {
		t.Errorf("network rm of a network in use: %d %q", code, e)
	}
	bridges := map[string]string{}
	for _, n := range []string{"app", "other"} {
		id := docker(t, env, "network", "inspect", "-f", "{{.Id}}", n)
		bridges[n] = "hb-" + id[:10]
	}
	docker(t, env, "rm", "-f", "web", "peer", "outsider", "pub", "pub2")
	docker(t, env, "network", "rm", "app", "other")
	assertNoNetworkLeft(t, env, execRoot, bridges)
}

// hostAddress is one of the machine's non-loopback IPv4 addresses.
func hostAddress(t *testing.T) string {
	addrs, _ := netlink.AddrList(nil, netlink.FAMILY_V4)
	for _, a := range addrs {
		if !a.IP.IsLoopback() && !strings.HasPrefix(a.IP.String(), "172.") && !strings.HasPrefix(a.IP.String(), "10.") {
			return a.IP.String()
		}
	}
	return ""
}

// assertNoNetworkLeft: no compartment, no veth of an endpoint, no bridge of
// a removed network, no firewall rule naming one, no endpoint (lease) on
// the default network.
func assertNoNetworkLeft(t *testing.T, env []string, execRoot string, removedBridges map[string]string) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(execRoot, "netns")); len(ents) > 0 {
		t.Errorf("compartments left: %d", len(ents))
	}
	// A container's veth goes with its compartment's namespace, which the
	// kernel tears down in the background: give it a moment.
	// Only this daemon's links count: other daemons (other tests, other
	// packages) run beside it.
	alias := ownerAlias(filepath.Join(filepath.Dir(execRoot), "root"))
	deadline := time.Now().Add(5 * time.Second)
	var links []netlink.Link
	for {
		links, _ = netlink.LinkList()
		left := false
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "hv") && l.Attrs().Alias == alias {
				left = true
			}
		}
		if !left || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, l := range links {
		name := l.Attrs().Name
		if strings.HasPrefix(name, "hv") && l.Attrs().Alias == alias {
			t.Errorf("veth left: %s", name)
		}
		for _, b := range removedBridges {
			if name == b {
				t.Errorf("bridge of a removed network left: %s", name)
			}
		}
	}
	_, table := daemonNetworkNames(execRoot)
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	chains, _ := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	for _, ch := range chains {
		if ch.Table.Name != table {
			continue
		}
		rules, _ := c.GetRules(ch.Table, ch)
		for _, r := range rules {
			for _, b := range removedBridges {
				for _, e := range r.Exprs {
					if cmp, ok := e.(*expr.Cmp); ok && bytes.HasPrefix(cmp.Data, []byte(b)) {
						t.Errorf("firewall rule left in %s/%s for %s", table, ch.Name, b)
					}
				}
			}
		}
		if ch.Name == "forward" && len(rules) > 0 {
			t.Errorf("isolation rules left in %s/forward: %d", table, len(rules))
		}
	}
	if out := docker(t, env, "network", "inspect", "-f", "{{len .Containers}}", "bridge"); out != "0" {
		t.Errorf("endpoints left on the default bridge: %s", out)
	}
	if out := docker(t, env, "network", "ls", "-q", "--filter", "type=custom"); out != "" {
		t.Errorf("user networks left: %s", out)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil && strings.Contains(string(out), "hullout") {
		t.Logf("ip netns: %s", out)
	}
}

// TestDaemonNetworkCrashReconcile: a daemon killed in the middle of a
// connect (after the driver made the NIC, before it was in the
// compartment) leaves nothing its next start does not remove: no veth, no
// endpoint (lease), no compartment; the running container keeps its first
// network.
func TestDaemonNetworkCrashReconcile(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	execRoot := filepath.Join(dir, "run")
	docker(t, env, "network", "create", "app")
	docker(t, env, "network", "create", "app2")
	docker(t, env, "run", "-d", "--name", "ca", "--network", "app", "e2e/busybox:1", "sleep", "300")
	root := filepath.Join(dir, "root")
	linksBefore := daemonLinks(root)

	killDaemon := func() {
		out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output()
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
		time.Sleep(200 * time.Millisecond)
	}
	startDaemon := func(extraEnv ...string) *exec.Cmd {
		cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+filepath.Join(dir, "hull.sock"), "--data-root", filepath.Join(dir, "root"),
			"--exec-root", execRoot, "--config-file", filepath.Join(dir, "daemon.json"))
		cmd.Env = append(os.Environ(), extraEnv...)
		logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")
		return cmd
	}
	killDaemon()
	crashing := startDaemon("HULL_TEST_CRASH_AT=join: the driver joined, the NIC is not in the compartment")
	if _, _, code := dockerRun(t, env, "", "network", "connect", "app2", "ca"); code == 0 {
		t.Fatal("network connect succeeded on a daemon that crashes in it")
	}
	crashing.Wait()
	if extra := newOf(daemonLinks(root), linksBefore); len(extra) == 0 {
		t.Log("the crash left no link to clean (it came before the veth)")
	} else {
		t.Logf("left by the crash: %v", extra)
	}
	d := startDaemon()
	t.Cleanup(func() { d.Process.Signal(os.Interrupt); d.Wait() })
	if extra := newOf(daemonLinks(root), linksBefore); len(extra) > 0 {
		t.Errorf("links left after the restart: %v", extra)
	}
	if out := docker(t, env, "network", "inspect", "-f", "{{len .Containers}}", "app2"); out != "0" {
		t.Errorf("an endpoint (lease) on app2 is left: %s", out)
	}
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "ca"); out != "running" {
		t.Errorf("ca: %s", out)
	}
	if _, _, code := dockerRun(t, env, "", "exec", "ca", "busybox", "ip", "link", "show", "eth1"); code == 0 {
		t.Errorf("ca has a second NIC after the failed connect")
	}
	// The connect works now, and everything goes with the container.
	docker(t, env, "network", "connect", "app2", "ca")
	docker(t, env, "rm", "-f", "ca")
	docker(t, env, "network", "rm", "app", "app2")
	assertNoNetworkLeft(t, env, execRoot, nil)
}

// ownerAlias is the alias the daemon on the data root gives the links it
// makes (hull:<engine id>).
func ownerAlias(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "engine-id"))
	if err != nil {
		return "hull:?"
	}
	return "hull:" + strings.TrimSpace(string(b))
}

// daemonLinks are the host links the daemon on the data root made.
func daemonLinks(root string) map[string]bool {
	out := map[string]bool{}
	alias := ownerAlias(root)
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().Alias == alias {
			out[l.Attrs().Name] = true
		}
	}
	return out
}

func hostLinks() map[string]bool {
	out := map[string]bool{}
	links, _ := netlink.LinkList()
	for _, l := range links {
		out[l.Attrs().Name] = true
	}
	return out
}

func newLinks(before map[string]bool) []string { return newOf(hostLinks(), before) }

func newOf(now, before map[string]bool) []string {
	var out []string
	for name := range now {
		if !before[name] {
			out = append(out, name)
		}
	}
	return out
}

// TestDaemonNetworkBadInput: wrong network input answers 4xx with a message
// and leaves nothing; a renamed container answers to its new name.
func TestDaemonNetworkBadInput(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	c := apiClient(sock)
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://hull"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	docker(t, env, "network", "create", "--subnet", "10.91.0.0/24", "app")
	docker(t, env, "run", "-d", "--name", "idle", "e2e/busybox:1", "sleep", "300")
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		// As dockerd: any name but a blank one (a/b is a name).
		{"POST", "/networks/create", `{"Name":" "}`, 400},
		{"POST", "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.1.2.3/24"}]}}`, 400},
		{"POST", "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.92.0.0/24","Gateway":"10.93.0.1"}]}}`, 400},
		{"POST", "/networks/create", `{"Name":"x","IPAM":{"Config":[{"Subnet":"10.91.0.0/16"}]}}`, 403},
		{"POST", "/networks/create", `{"Name":"app"}`, 409},
		{"POST", "/networks/create", `{"Name":"x","Driver":"nosuchdriver"}`, 404},
		{"POST", "/networks/create", `{"Name":"x","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"fd00:91::5/64"}]}}`, 400},
		{"POST", "/networks/create", `{"Name":"x","Driver":"host"}`, 403},
		{"POST", "/networks/create", `{"Name":"bridge"}`, 403},
		{"POST", "/networks/create", `{"Name": 7}`, 400},
		{"DELETE", "/networks/bridge", ``, 403},
		{"DELETE", "/networks/nosuch", ``, 404},
		{"POST", "/networks/app/connect", `{"Container":"nosuch"}`, 404},
		{"POST", "/networks/app/disconnect", `{"Container":"idle"}`, 404},
		{"POST", "/networks/nosuch/connect", `{"Container":"idle"}`, 404},
		{"POST", "/networks/prune?filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D", ``, 400},
		{"GET", "/networks?filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D", ``, 400},
		// dockerd creates a container on a network that does not exist
		// (one may be made before it starts); its start fails.
		{"POST", "/containers/create", `{"Image":"e2e/busybox:1","Cmd":["true"],"HostConfig":{"NetworkMode":"nosuch"}}`, 0},
		{"POST", "/containers/create", `{"Image":"e2e/busybox:1","Cmd":["true"],"NetworkingConfig":{"EndpointsConfig":{"bridge":{"IPAMConfig":{"IPv4Address":"172.17.0.99"}}}}}`, 400},
		{"POST", "/containers/create", `{"Image":"e2e/busybox:1","Cmd":["true"],"HostConfig":{"NetworkMode":"app"},"NetworkingConfig":{"EndpointsConfig":{"app":{"IPAMConfig":{"IPv4Address":"10.99.0.5"}}}}}`, 0},
		{"POST", "/containers/create", `{"Image":"e2e/busybox:1","Cmd":["true"],"HostConfig":{"PortBindings":{"80/sctp":[{"HostPort":"8080"}]}}}`, 400},
	} {
		code, body := call(tc.method, tc.path, tc.body)
		if tc.want == 0 {
			// Created; the missing network or the bad static address is
			// refused at start.
			var r struct{ Id string }
			json.Unmarshal([]byte(body), &r)
			if code != 201 {
				t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
				continue
			}
			wantCode, wantText := 400, "10.99.0.5"
			if strings.Contains(tc.body, "nosuch") {
				wantCode, wantText = 404, "network nosuch not found"
			}
			if code, body := call("POST", "/containers/"+r.Id+"/start", ""); code != wantCode || !strings.Contains(body, wantText) {
				t.Errorf("start of %s: %d %s, want %d %q", tc.body, code, body, wantCode, wantText)
			}
			continue
		}
		if code != tc.want || !strings.Contains(body, `"message"`) {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	// A published port already taken: the second container does not start.
	docker(t, env, "run", "-d", "--name", "p1", "-p", "18091:80", "e2e/busybox:1", "sleep", "300")
	if _, e, code := dockerRun(t, env, "", "run", "-d", "--name", "p2", "-p", "18091:80", "e2e/busybox:1", "sleep", "300"); code == 0 || !strings.Contains(e, "18091") {
		t.Errorf("a port published twice: %d %s", code, e)
	}
	// A renamed container answers to its new name.
	docker(t, env, "run", "-d", "--name", "old-name", "--network", "app", "e2e/busybox:1", "sleep", "300")
	docker(t, env, "run", "-d", "--name", "asker", "--network", "app", "e2e/busybox:1", "sleep", "300")
	docker(t, env, "rename", "old-name", "new-name")
	if _, _, code := dockerRun(t, env, "", "exec", "asker", "busybox", "ping", "-c1", "-W2", "new-name"); code != 0 {
		t.Errorf("the renamed container does not answer to its new name")
	}
	docker(t, env, "rm", "-f", "idle", "p1", "p2", "old-name", "new-name", "asker")
	docker(t, env, "container", "prune", "-f")
	docker(t, env, "network", "rm", "app")
	if out := docker(t, env, "network", "ls", "--format", "{{.Name}}"); out != "bridge\nhost\nnone" {
		t.Errorf("networks left:\n%s", out)
	}
	assertNoNetworkLeft(t, env, filepath.Join(dir, "run"), nil)
}

// TestTwoDaemonsKeepTheirLinks: a second daemon on the same host (its own
// data and exec roots) leaves the first one's bridges and veths alone at
// its start, and the first one's container keeps its eth0; each daemon has
// its own engine id.
func TestTwoDaemonsKeepTheirLinks(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	envA, dirA := hullDaemon(t)
	loadBusybox(t, envA, dirA)
	docker(t, envA, "network", "create", "appa")
	docker(t, envA, "run", "-d", "--name", "ca", "--network", "appa", "e2e/busybox:1", "sleep", "300")
	linksA := daemonLinks(filepath.Join(dirA, "root"))
	if len(linksA) < 2 {
		t.Fatalf("daemon A's links (its bridge and ca's veth): %v", linksA)
	}
	envB, _ := hullDaemon(t)
	docker(t, envB, "network", "create", "appb")
	for l := range linksA {
		if strings.HasPrefix(l, "hb-") || strings.HasPrefix(l, "hv") {
			if _, err := netlink.LinkByName(l); err != nil {
				t.Errorf("daemon B's start removed daemon A's link %s", l)
			}
		}
	}
	if _, _, code := dockerRun(t, envA, "", "exec", "ca", "busybox", "ip", "link", "show", "eth0"); code != 0 {
		t.Errorf("ca lost its eth0 when a second daemon started")
	}
	idA := docker(t, envA, "info", "-f", "{{.ID}}")
	idB := docker(t, envB, "info", "-f", "{{.ID}}")
	if idA == idB || idA == "" {
		t.Errorf("engine ids: A %q, B %q; want two different ids", idA, idB)
	}
	docker(t, envA, "rm", "-f", "ca")
	docker(t, envA, "network", "rm", "appa")
	docker(t, envB, "network", "rm", "appb")
}
