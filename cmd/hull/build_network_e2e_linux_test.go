package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestBuildNetwork: a build's RUN steps on hull's network service, with
// buildx and with the classic CLI (DOCKER_BUILDKIT=0). The default
// network puts the step on the default bridge (eth0 in its subnet, the
// gateway reached and seeing that address, resolv.conf without a
// loopback nameserver, BuildKit's /etc/hosts, as dockerd's builder;
// host-gateway is that gateway);
// --network none leaves loopback only; --network host is the host's.
// After every build — a failing one, a cancelled one, one whose
// hull-buildkit is killed, one whose daemon is — no build sandbox,
// compartment, veth, endpoint or firewall change is left.
func TestBuildNetwork(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-buildkit"), "../hull-buildkit").CombinedOutput(); err != nil {
		t.Fatalf("build hull-buildkit: %v\n%s", err, out)
	}
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)
	benv := append(slices.Clone(env), "DOCKER_CONFIG="+buildxPlugin(t, dir), "BUILDX_NO_DEFAULT_ATTESTATIONS=1")
	legacy := append(slices.Clone(env), "DOCKER_BUILDKIT=0")
	execRoot := filepath.Join(dir, "run")
	bridge, table := daemonNetworkNames(execRoot)
	engineID, err := os.ReadFile(filepath.Join(dir, "root", "engine-id"))
	if err != nil {
		t.Fatal(err)
	}

	ipam := strings.Fields(docker(t, env, "network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}"))
	if len(ipam) != 2 {
		t.Fatalf("the default bridge's subnet and gateway: %q", ipam)
	}
	subnet, err1 := netip.ParsePrefix(ipam[0])
	gw, err2 := netip.ParseAddr(ipam[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("the default bridge's subnet and gateway: %v %v", err1, err2)
	}
	// A TCP server on the bridge's gateway address: it greets each
	// connection and records where it came from.
	l, err := net.Listen("tcp", net.JoinHostPort(gw.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	peers := make(chan string, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			select {
			case peers <- host:
			default:
			}
			fmt.Fprintln(c, "hello-from-the-gateway")
			c.Close()
		}
	}()

	firewall := nftTable(t, table)
	if firewall == "" {
		t.Fatalf("no nftables table %s", table)
	}
	// leftovers fails the test unless, within waitFor's time (sandboxes
	// are released in the background), nothing of a build sandbox is
	// left.
	leftovers := func(after string) {
		t.Helper()
		var left []string
		look := func() bool {
			left = nil
			ents, _ := os.ReadDir(filepath.Join(execRoot, "netns"))
			for _, e := range ents {
				left = append(left, "compartment "+e.Name())
			}
			for _, m := range mountsUnder(t, filepath.Join(execRoot, "netns")) {
				left = append(left, "mount "+m)
			}
			if n := docker(t, env, "network", "inspect", "bridge", "-f", "{{len .Containers}}"); n != "0" {
				left = append(left, n+" endpoints on the default bridge")
			}
			links, _ := netlink.LinkList()
			for _, l := range links {
				if l.Type() == "veth" && l.Attrs().Alias == "hull:"+strings.TrimSpace(string(engineID)) {
					left = append(left, "veth "+l.Attrs().Name)
				}
			}
			if got := nftTable(t, table); got != firewall {
				left = append(left, "firewall table changed:\n"+got)
			}
			return len(left) == 0
		}
		deadline := time.Now().Add(10 * time.Second)
		for !look() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		for _, s := range left {
			t.Errorf("after %s: left: %s", after, s)
		}
	}

	// The private route itself, on the daemon's builder socket.
	private := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://hull"+path, nil)
		resp, err := apiClient(filepath.Join(execRoot, "buildkit", "daemon.sock")).Do(req)
		if err != nil {
			t.Fatalf("%s %s on the builder's socket: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := private("POST", "/_hull/build/sandbox")
	var sb struct{ Id, Path, IPAddress, Gateway string }
	if err := json.Unmarshal([]byte(body), &sb); code != 201 || err != nil || sb.Gateway != gw.String() {
		t.Fatalf("POST /_hull/build/sandbox: %d %s", code, body)
	}
	if a, err := netip.ParsePrefix(sb.IPAddress); err != nil || !subnet.Contains(a.Addr()) {
		t.Errorf("the build sandbox's address %q is not in the default bridge's %s", sb.IPAddress, subnet)
	}
	if out, err := exec.Command("nsenter", "--net="+sb.Path, "ip", "-o", "-4", "addr", "show", "dev", "eth0").CombinedOutput(); err != nil || !strings.Contains(string(out), sb.IPAddress) {
		t.Errorf("the build sandbox's namespace %s: %v %s", sb.Path, err, out)
	}
	if code, body := private("DELETE", "/_hull/build/sandbox/"+sb.Id); code != 204 {
		t.Errorf("DELETE /_hull/build/sandbox/%s: %d %s", sb.Id, code, body)
	}
	if code, body := private("DELETE", "/_hull/build/sandbox/"+sb.Id); code != 404 || !strings.Contains(body, "no such build sandbox") {
		t.Errorf("DELETE of a released build sandbox: %d %s", code, body)
	}
	if code, body := private("DELETE", "/_hull/build/sandbox/"+docker(t, env, "network", "inspect", "-f", "{{.Id}}", "bridge")); code != 400 {
		t.Errorf("DELETE of an id that is no build sandbox's: %d %s", code, body)
	}
	leftovers("a build sandbox made and released through the private route")

	ctx := filepath.Join(dir, "netctx")
	os.MkdirAll(ctx, 0o755)
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM "+img+"\n"+
		`RUN echo "ETH0=$(ip -o -4 addr show dev eth0 2>/dev/null | awk '{print $4}')"; `+
		`echo "LINKS=$(ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ,)"; `+
		`echo "ANSWER=$(nc -w 3 `+gw.String()+` `+port+` </dev/null 2>/dev/null)"; `+
		`echo "NAMESERVERS=$(grep '^nameserver' /etc/resolv.conf | awk '{print $2}' | tr '\n' ,)"; `+
		`echo "SANDBOXHOST=$(grep -c 'buildkitsandbox' /etc/hosts)"; `+
		`echo "HOSTGW=$(awk '$2 == "hullgw" {print $1}' /etc/hosts)"`+"\n"), 0o644)
	// seen is what the step printed: KEY=value lines of BuildKit's plain
	// progress (#N 0.123 KEY=…) or of the classic stream (KEY=…).
	seen := func(out, key string) (string, bool) {
		m := regexp.MustCompile(`(?m)^(?:#\d+ [0-9.]+ )?` + key + `=(.*)$`).FindStringSubmatch(out)
		if m == nil {
			return "", false
		}
		return strings.TrimSpace(m[1]), true
	}
	build := func(how, network string) string {
		t.Helper()
		var out string
		if how == "buildx" {
			// host-gateway: buildx writes it as the worker's
			// host-gateway-ip label says, the default bridge's gateway.
			out = docker(t, benv, "buildx", "build", "--progress=plain", "--no-cache", "--network", network, "--add-host", "hullgw:host-gateway", ctx)
		} else {
			out = docker(t, legacy, "build", "--no-cache", "--network", network, "--add-host", "hullgw:host-gateway", ctx)
		}
		if _, ok := seen(out, "LINKS"); !ok {
			t.Fatalf("%s build --network %s: the step's output is not there:\n%s", how, network, out)
		}
		return out
	}
	for _, how := range []string{"buildx", "classic"} {
		for _, network := range []string{"default", "none", "host"} {
			what := how + " build --network " + network
			out := build(how, network)
			eth0, _ := seen(out, "ETH0")
			links, _ := seen(out, "LINKS")
			answer, _ := seen(out, "ANSWER")
			if hgw, _ := seen(out, "HOSTGW"); hgw != gw.String() {
				t.Errorf("%s --add-host hullgw:host-gateway: /etc/hosts has hullgw at %q, want the bridge's gateway %s", what, hgw, gw)
			}
			switch network {
			case "default":
				a, err := netip.ParsePrefix(eth0)
				if err != nil || !subnet.Contains(a.Addr()) || a.Bits() != subnet.Bits() {
					t.Errorf("%s: eth0 has %q, want an address of the default bridge's %s", what, eth0, subnet)
				}
				if links != "eth0,lo," {
					t.Errorf("%s: interfaces %q, want eth0 and lo", what, links)
				}
				if answer != "hello-from-the-gateway" {
					t.Errorf("%s: the server on the gateway %s answered %q", what, gw, answer)
				}
				select {
				case p := <-peers:
					if err == nil && p != a.Addr().String() {
						t.Errorf("%s: the gateway's server saw the request from %s, want eth0's %s", what, p, a.Addr())
					}
				default:
					t.Errorf("%s: the gateway's server saw no request", what)
				}
				ns, _ := seen(out, "NAMESERVERS")
				if ns == "" || strings.Contains(ns, "127.") {
					t.Errorf("%s: resolv.conf's nameservers %q: want some, none on loopback", what, ns)
				}
				if h, _ := seen(out, "SANDBOXHOST"); h != "1" {
					t.Errorf("%s: /etc/hosts does not name buildkitsandbox (%q)", what, h)
				}
			case "none":
				if links != "lo," || eth0 != "" {
					t.Errorf("%s: interfaces %q (eth0 %q), want lo only", what, links, eth0)
				}
				if answer != "" {
					t.Errorf("%s: the gateway answered %q", what, answer)
				}
			case "host":
				if !slices.Contains(strings.Split(links, ","), bridge) || !slices.Contains(strings.Split(links, ","), "lo") {
					t.Errorf("%s: interfaces %q, want the host's (lo, the daemon's bridge %s)", what, links, bridge)
				}
			}
			for len(peers) > 0 {
				<-peers
			}
			leftovers(what)
		}
	}

	// A failing step.
	os.WriteFile(filepath.Join(ctx, "Dockerfile.fail"), []byte("FROM "+img+"\nRUN ip link show eth0 && exit 3\n"), 0o644)
	for _, how := range []string{"buildx", "classic"} {
		args, e := []string{"buildx", "build", "--progress=plain", "--no-cache"}, benv
		if how == "classic" {
			args, e = []string{"build", "--no-cache"}, legacy
		}
		out, errOut, code := runEnv(t, e, "", "docker", append(args, "-f", filepath.Join(ctx, "Dockerfile.fail"), ctx)...)
		if code == 0 || !strings.Contains(out+errOut, "eth0@") || !strings.Contains(out+errOut, "exit code: 3") {
			t.Errorf("%s build of a step that fails on the bridge: exit %d\n%s%s", how, code, out, errOut)
		}
		leftovers(how + " build that failed")
	}

	// A step under way, then: the client hangs up; hull-buildkit is
	// killed; the daemon is.
	os.WriteFile(filepath.Join(ctx, "Dockerfile.slow"), []byte("FROM "+img+"\nRUN ip link show eth0 && sleep 4\n"), 0o644)
	slowBuild := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command("docker", "buildx", "build", "--progress=plain", "--no-cache", "-f", filepath.Join(ctx, "Dockerfile.slow"), ctx)
		cmd.Env = benv
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitFor(t, func() bool {
			ents, _ := os.ReadDir(filepath.Join(execRoot, "netns"))
			return len(ents) > 0
		}, "the slow step's compartment")
		return cmd
	}
	cmd := slowBuild()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	leftovers("a build whose client hung up")

	hullBuildKit := func() []string {
		out, _ := exec.Command("pgrep", "-f", "hull-buildkit --root "+filepath.Join(dir, "root", "buildkit")+" ").Output()
		return strings.Fields(string(out))
	}
	cmd = slowBuild()
	pids := hullBuildKit()
	if len(pids) != 1 {
		ps, _ := exec.Command("ps", "-o", "pid,ppid,args", "-p", strings.Join(pids, ",")).CombinedOutput()
		t.Fatalf("hull-buildkit processes: %v\n%s", pids, ps)
	}
	exec.Command("kill", "-9", pids[0]).Run()
	cmd.Wait()
	leftovers("a build whose hull-buildkit was killed")

	cmd = slowBuild()
	dk := &crashDaemon{t: t, env: env, dir: dir}
	dk.stop()
	cmd.Wait()
	waitFor(t, func() bool { return len(hullBuildKit()) == 0 }, "hull-buildkit to die with its daemon")
	dk.start("")
	t.Cleanup(dk.close)
	leftovers("a build whose daemon was killed, and the daemon's next start")

	// The builder works on after all that, on the bridge; the next
	// hull-buildkit removed what the killed ones left of their steps
	// (containers, their root file systems' mounts, bundles).
	out := build("buildx", "default")
	if eth0, _ := seen(out, "ETH0"); eth0 == "" {
		t.Errorf("a build after the daemon's restart has no eth0:\n%s", out)
	}
	if m := mountsUnder(t, filepath.Join(execRoot, "buildkit", "executor")); len(m) > 0 {
		t.Errorf("mounts of killed steps left after the next hull-buildkit started: %v", m)
	}
	stepDirs := func() (left []string) {
		for _, d := range []string{"executor", filepath.Join("runtime", "state"), filepath.Join("runtime", "shims")} {
			ents, _ := os.ReadDir(filepath.Join(execRoot, "buildkit", d))
			for _, e := range ents {
				if e.IsDir() {
					left = append(left, filepath.Join(d, e.Name()))
				}
			}
		}
		return left
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(stepDirs()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := stepDirs(); len(left) > 0 {
		t.Errorf("steps' bundles, container states or shims left under %s: %v", filepath.Join(execRoot, "buildkit"), left)
	}
	leftovers("a build after the restart")
}

// nftTable is the rules of the daemon's nftables table, without counters.
func nftTable(t *testing.T, table string) string {
	t.Helper()
	out, err := exec.Command("nft", "-s", "list", "table", "ip", table).Output()
	if err != nil {
		return ""
	}
	return string(out)
}
