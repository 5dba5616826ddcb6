package main

// Issue 12, the sharing part: --pid/--ipc/--uts and --network container:X
// and host, legacy links, per-endpoint MAC addresses, network events and
// legacy volume plugins, each checked through the docker CLI (and raw API
// calls where the status code matters) against a real hull daemon, with
// the texts and shapes dockerd 20.10 gives.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// apiDo sends a request to the daemon's socket and returns the status and
// the body.
func apiDo(t *testing.T, sock, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://hull"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// wantAPI checks a call's status and that its answer (an error's message)
// holds want.
func wantAPI(t *testing.T, sock, method, path, body string, status int, want string) string {
	t.Helper()
	code, got := apiDo(t, sock, method, path, body)
	var e struct{ Message string }
	if json.Unmarshal([]byte(got), &e) == nil && e.Message != "" {
		got = e.Message
	}
	if code != status || !strings.Contains(got, want) {
		t.Errorf("%s %s %s: %d %s, want %d and %q", method, path, body, code, got, status, want)
	}
	return got
}

// importFullBusybox imports a busybox root file system with every applet
// (hack/lib.sh's) as e2e/bbfull:1 and returns its name.
func importFullBusybox(t *testing.T, env []string, dir string) string {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox is missing: apt-get install busybox-static")
	}
	tar := filepath.Join(dir, "bbfull.tar")
	run(t, 0, nil, "bash", "-c", ". ../../hack/lib.sh && make_busybox_rootfs_tar "+tar)
	docker(t, env, "import", "-c", `CMD ["/bin/sh"]`, tar, "e2e/bbfull:1")
	return "e2e/bbfull:1"
}

// createdID is the Id of a create's answer.
func createdID(t *testing.T, answer string) string {
	t.Helper()
	var r struct{ Id string }
	if err := json.Unmarshal([]byte(answer), &r); err != nil || r.Id == "" {
		t.Fatalf("create answered %s", answer)
	}
	return r.Id
}

// TestSharingPidIpcUts: --pid and --ipc container:X join X's namespaces,
// as dockerd validates them at create (X must exist) and at start (X
// must run; its IPC must be shareable), with inspect showing
// container:<id>; the joiner of X's PID namespace dies with X; --ipc
// shareable/none/host, --pid host and --uts host.
func TestSharingPidIpcUts(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")

	for _, mode := range []string{"--pid", "--ipc"} {
		_, e, code := dockerRun(t, env, "", "create", mode, "container:nope", img)
		if code == 0 || !strings.Contains(e, "No such container: nope") {
			t.Errorf("create %s container:nope: %d %s", mode, code, e)
		}
	}
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"PidMode":"container:nope"}}`, 400, "No such container: nope")

	xID := docker(t, env, "create", "--name", "xx", img, "sleep", "1000")
	docker(t, env, "create", "--name", "pp", "--pid", "container:xx", img, "sleep", "1000")
	docker(t, env, "create", "--name", "ii", "--ipc", "container:xx", img, "sleep", "1000")
	if got := docker(t, env, "inspect", "-f", "{{.HostConfig.PidMode}}", "pp") + " " + docker(t, env, "inspect", "-f", "{{.HostConfig.IpcMode}}", "ii"); got != "container:"+xID+" container:"+xID {
		t.Errorf("inspect PidMode, IpcMode: %q", got)
	}
	// X is not running.
	wantAPI(t, sock, "POST", "/containers/pp/start", "", 409, "container "+xID+" is not running")
	wantAPI(t, sock, "POST", "/containers/ii/start", "", 409, "can't join IPC of container "+xID+": container "+xID+" is not running")
	docker(t, env, "start", "xx")
	// X's IPC is private (the default).
	wantAPI(t, sock, "POST", "/containers/ii/start", "", 400, "can't join IPC of container "+xID+": non-shareable IPC (hint: use IpcMode:shareable for the donor container)")
	docker(t, env, "start", "pp")
	// p sees x's process: it is in x's PID namespace.
	if out := docker(t, env, "exec", "pp", "ps", "-o", "pid,args"); !regexp.MustCompile(`(?m)^\s*1 sleep 1000$`).MatchString(out) || strings.Count(out, "sleep 1000") != 2 {
		t.Errorf("ps in p:\n%s", out)
	}
	nsOf := func(c, ns string) string { return docker(t, env, "exec", c, "readlink", "/proc/1/ns/"+ns) }
	if a, b := nsOf("pp", "pid"), nsOf("xx", "pid"); a != b {
		t.Errorf("p's PID namespace %s, x's %s", a, b)
	}

	// A shareable IPC: the joiner has its namespace and its /dev/shm.
	docker(t, env, "run", "-d", "--name", "ss", "--ipc", "shareable", img, "sleep", "1000")
	docker(t, env, "run", "-d", "--name", "jj", "--ipc", "container:ss", img, "sleep", "1000")
	docker(t, env, "exec", "ss", "sh", "-c", "echo shared > /dev/shm/f")
	if got := docker(t, env, "exec", "jj", "cat", "/dev/shm/f"); got != "shared" {
		t.Errorf("/dev/shm/f in the joiner: %q", got)
	}
	if a, b := nsOf("jj", "ipc"), nsOf("ss", "ipc"); a != b {
		t.Errorf("j's IPC namespace %s, s's %s", a, b)
	}
	if a, b := nsOf("jj", "ipc"), nsOf("xx", "ipc"); a == b {
		t.Errorf("j shares x's private IPC namespace %s", a)
	}
	if got := docker(t, env, "inspect", "-f", "{{.HostConfig.IpcMode}}", "ss"); got != "shareable" {
		t.Errorf("IpcMode of s: %q", got)
	}
	// The joiner keeps its /dev/shm when s stops; s's mount goes.
	docker(t, env, "stop", "-t", "0", "ss")
	if got := docker(t, env, "exec", "jj", "cat", "/dev/shm/f"); got != "shared" {
		t.Errorf("/dev/shm/f in the joiner after s stopped: %q", got)
	}
	for _, m := range mountsUnder(t, dir) {
		if strings.HasSuffix(m, "/mounts/shm") {
			t.Errorf("s's /dev/shm is still mounted on the host: %s", m)
		}
	}

	hostNS := func(ns string) string { l, _ := os.Readlink("/proc/self/ns/" + ns); return l }
	if out := docker(t, env, "run", "--rm", "--ipc", "none", img, "sh", "-c", "test -e /dev/shm && echo has-shm; grep -c ' /dev/shm ' /proc/mounts || true"); out != "0" {
		t.Errorf("--ipc none: %q", out)
	}
	if out := docker(t, env, "run", "--rm", "--ipc", "host", img, "readlink", "/proc/self/ns/ipc"); out != hostNS("ipc") {
		t.Errorf("--ipc host: %s, the host's %s", out, hostNS("ipc"))
	}
	if out := docker(t, env, "run", "--rm", "--pid", "host", img, "readlink", "/proc/self/ns/pid"); out != hostNS("pid") {
		t.Errorf("--pid host: %s, the host's %s", out, hostNS("pid"))
	}
	host, _ := os.Hostname()
	if out := docker(t, env, "run", "--rm", "--uts", "host", img, "hostname"); out != host {
		t.Errorf("--uts host: hostname %q, the host's %q", out, host)
	}
	id := createdID(t, wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"IpcMode":"bogus"}}`, 201, ""))
	wantAPI(t, sock, "POST", "/containers/"+id+"/start", "", 400, "Invalid IPC mode: bogus")

	// x stops: p, in its PID namespace, is killed with it.
	docker(t, env, "stop", "-t", "1", "xx")
	waitFor(t, func() bool {
		return docker(t, env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "pp") == "exited 137"
	}, "p to die with x", func() string { return docker(t, env, "ps", "-a") })
}

// TestSharingNetworkContainerMode: --network container:X shares X's
// network namespace: no endpoint of its own, X's address, host name and
// files, inspect's empty Networks; what cannot go with it is refused with
// dockerd's words at create, X missing or stopped at start; X stopping
// leaves the joiner with loopback only and takes X's NIC off the host.
func TestSharingNetworkContainerMode(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")

	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-p", "8080:80"}, "conflicting options: port publishing and the container type network mode"},
		{[]string{"-P", "--expose", "80"}, "conflicting options: port publishing and the container type network mode"},
		{[]string{"--expose", "80"}, "conflicting options: port exposing and the container type network mode"},
		{[]string{"--dns", "1.1.1.1"}, "conflicting options: dns and the network mode"},
		{[]string{"--hostname", "h"}, "conflicting options: hostname and the network mode"},
		{[]string{"--add-host", "a:1.2.3.4"}, "conflicting options: custom host-to-IP mapping and the network mode"},
		{[]string{"--link", "xx:db"}, "conflicting options: container type network can't be used with links. This would result in undefined behavior"},
	} {
		args := append(append([]string{"create", "--network", "container:xx"}, c.flags...), img)
		if _, e, code := dockerRun(t, env, "", args...); code == 0 || !strings.Contains(e, c.want) {
			t.Errorf("create %v: %d %s", c.flags, code, e)
		}
	}
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"NetworkMode":"container:"}}`, 400, "Invalid network mode: invalid container format container:<name|id>")
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","MacAddress":"02:42:ac:11:00:09","HostConfig":{"NetworkMode":"container:nope"}}`, 400, "conflicting options: mac-address and the network mode")
	// X missing: taken at create, refused at start, as dockerd.
	id := createdID(t, wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"NetworkMode":"container:nope"}}`, 201, ""))
	wantAPI(t, sock, "POST", "/containers/"+id+"/start", "", 404, "No such container: nope")

	xID := docker(t, env, "create", "--name", "xx", img, "sleep", "1000")
	docker(t, env, "create", "--name", "nn", "--network", "container:xx", img, "sleep", "1000")
	wantAPI(t, sock, "POST", "/containers/nn/start", "", 409, "cannot join network of a non running container: "+xID)
	docker(t, env, "start", "xx")
	docker(t, env, "start", "nn")

	if got := docker(t, env, "inspect", "-f", "{{.HostConfig.NetworkMode}}", "nn"); got != "container:"+xID {
		t.Errorf("inspect NetworkMode: %q", got)
	}
	var ins []struct {
		HostsPath, ResolvConfPath, HostnamePath string
		Config                                  struct{ Hostname string }
		NetworkSettings                         struct {
			SandboxKey string
			Networks   map[string]any
		}
	}
	if err := json.Unmarshal([]byte(docker(t, env, "inspect", "nn", "xx")), &ins); err != nil || len(ins) != 2 {
		t.Fatalf("inspect: %v", err)
	}
	n, x := ins[0], ins[1]
	if len(n.NetworkSettings.Networks) != 0 || n.NetworkSettings.SandboxKey != "" {
		t.Errorf("n's NetworkSettings: %+v", n.NetworkSettings)
	}
	if n.HostsPath != x.HostsPath || n.ResolvConfPath != x.ResolvConfPath || n.HostnamePath != x.HostnamePath || n.Config.Hostname != xID[:12] {
		t.Errorf("n's files and host name are not x's: %+v, x %+v", n, x)
	}
	if got := docker(t, env, "ps", "--format", "{{.Names}}|{{.Networks}}|{{.Ports}}"); !slices.Contains(strings.Split(got, "\n"), "nn||") {
		t.Errorf("ps, n without networks and ports:\n%s", got)
	}
	addrOf := func(c string) string {
		return docker(t, env, "exec", c, "sh", "-c", "ip -4 -o addr show eth0 2>/dev/null | awk '{print $4}'")
	}
	if a, b := addrOf("nn"), addrOf("xx"); a == "" || a != b {
		t.Errorf("n's eth0 %q, x's %q", a, b)
	}
	if a, b := docker(t, env, "exec", "nn", "hostname"), docker(t, env, "exec", "xx", "hostname"); a != b {
		t.Errorf("n's host name %q, x's %q", a, b)
	}
	if a, b := docker(t, env, "exec", "nn", "cat", "/etc/hosts"), docker(t, env, "exec", "xx", "cat", "/etc/hosts"); a != b {
		t.Errorf("n's /etc/hosts:\n%s\nx's:\n%s", a, b)
	}
	wantAPI(t, sock, "POST", "/networks/bridge/connect", `{"Container":"nn"}`, 400, "container sharing network namespace with another container or host cannot be connected to any other network")
	wantAPI(t, sock, "POST", "/networks/none/connect", `{"Container":"xx"}`, 400, "container cannot be connected to multiple networks with one of the networks in private (none) mode")
	wantAPI(t, sock, "POST", "/networks/host/connect", `{"Container":"xx"}`, 400, "container cannot be disconnected from host network or connected to host network")
	// x's NIC: its host end, found by the peer index eth0@ifN.
	link := docker(t, env, "exec", "xx", "ip", "-o", "link", "show", "eth0")
	m := regexp.MustCompile(`eth0@if(\d+)`).FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("x's eth0: %s", link)
	}
	var peer int
	fmt.Sscan(m[1], &peer)
	if _, err := netlink.LinkByIndex(peer); err != nil {
		t.Fatalf("x's veth on the host (index %d): %v", peer, err)
	}
	docker(t, env, "stop", "-t", "0", "xx")
	if st := docker(t, env, "inspect", "-f", "{{.State.Status}}", "nn"); st != "running" {
		t.Errorf("n after x stopped: %s", st)
	}
	if out := docker(t, env, "exec", "nn", "ip", "-o", "link"); strings.Contains(out, "eth0") || !strings.Contains(out, "lo:") {
		t.Errorf("n's links after x stopped:\n%s", out)
	}
	if l, err := netlink.LinkByIndex(peer); err == nil {
		t.Errorf("x's veth %s stayed on the host", l.Attrs().Name)
	}
	// x again, on a new namespace; n stays in the old one.
	docker(t, env, "start", "xx")
	docker(t, env, "restart", "-t", "0", "nn")
	if a, b := addrOf("nn"), addrOf("xx"); a == "" || a != b {
		t.Errorf("after restarts: n's eth0 %q, x's %q", a, b)
	}
}

// TestSharingLegacyLinks: --link on the default bridge as dockerd keeps
// it — names, /etc/hosts, environment, inspect, removal — and on a user
// network as an alias only the linking container resolves.
func TestSharingLegacyLinks(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")

	dbID := docker(t, env, "run", "-d", "--name", "db", "-e", "PASSWORD=secret", "--expose", "5432", "--expose", "53/udp", "--expose", "8000-8001", img, "sleep", "1000")
	docker(t, env, "run", "-d", "--name", "web", "--link", "db:dbalias", "--add-host", "foo:1.2.3.4", img, "sleep", "1000")
	dbIP := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "db")

	if got := docker(t, env, "inspect", "-f", "{{json .HostConfig.Links}}", "web", "db"); got != `["/db:/web/dbalias"]`+"\nnull" {
		t.Errorf("inspect Links: %s", got)
	}
	if got := docker(t, env, "ps", "--no-trunc", "--format", "{{.Names}}"); !slices.Contains(strings.Split(got, "\n"), "db,web/dbalias") {
		t.Errorf("ps NAMES:\n%s", got)
	}
	if got := docker(t, env, "inspect", "-f", "{{.Id}}", "/web/dbalias"); got != dbID {
		t.Errorf("inspect /web/dbalias: %s, want db %s", got, dbID)
	}
	hosts := docker(t, env, "exec", "web", "cat", "/etc/hosts")
	lines := strings.Split(hosts, "\n")
	if want := dbIP + "\tdbalias " + dbID[:12] + " db"; len(lines) < 3 || lines[len(lines)-3] != "1.2.3.4\tfoo" || lines[len(lines)-2] != want {
		t.Errorf("web's /etc/hosts, want %q after the --add-host line:\n%s", want, hosts)
	}
	envOut := docker(t, env, "exec", "web", "env")
	for _, want := range []string{
		"DBALIAS_NAME=/web/dbalias", "DBALIAS_ENV_PASSWORD=secret",
		"DBALIAS_PORT=udp://" + dbIP + ":53",
		"DBALIAS_PORT_53_UDP=udp://" + dbIP + ":53", "DBALIAS_PORT_53_UDP_ADDR=" + dbIP, "DBALIAS_PORT_53_UDP_PORT=53", "DBALIAS_PORT_53_UDP_PROTO=udp",
		"DBALIAS_PORT_5432_TCP=tcp://" + dbIP + ":5432", "DBALIAS_PORT_5432_TCP_PROTO=tcp",
		"DBALIAS_PORT_8000_TCP_START=tcp://" + dbIP + ":8000", "DBALIAS_PORT_8000_TCP_PORT_END=8001", "DBALIAS_PORT_8000_TCP_END=tcp://" + dbIP + ":8001",
	} {
		if !slices.Contains(strings.Split(envOut, "\n"), want) {
			t.Errorf("web's environment lacks %s:\n%s", want, envOut)
		}
	}
	if strings.Contains(envOut, "DBALIAS_ENV_PATH") || strings.Contains(envOut, "DBALIAS_ENV_HOME") {
		t.Errorf("PATH and HOME of db are not passed:\n%s", envOut)
	}

	// Wrong links, as dockerd answers them.
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"Links":["nope:al"]}}`, 400, "could not get container for nope: No such container: nope")
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"Links":["db:a:b"]}}`, 400, "bad format for links: db:a:b")
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","HostConfig":{"NetworkMode":"host","Links":["db:a"]}}`, 400, "conflicting options: host type networking can't be used with links. This would result in undefined behavior")
	docker(t, env, "create", "--name", "stopped", img, "sh", "-c", "exit 0")
	docker(t, env, "create", "--name", "w1", "--link", "stopped:s", img, "sleep", "100")
	wantAPI(t, sock, "POST", "/containers/w1/start", "", 409, "Cannot link to a non running container: /stopped AS /w1/s")
	docker(t, env, "network", "create", "un")
	docker(t, env, "run", "-d", "--name", "udb", "--network", "un", img, "sleep", "1000")
	docker(t, env, "create", "--name", "w2", "--link", "udb:u", img, "sleep", "100")
	wantAPI(t, sock, "POST", "/containers/w2/start", "", 400, "Cannot link to /udb, as it does not belong to the default network")

	// db renamed: web's link follows it; db started again on a new
	// address: web's hosts line follows it.
	docker(t, env, "rename", "db", "db2")
	if got := docker(t, env, "inspect", "-f", "{{json .HostConfig.Links}}", "web"); got != `["/db2:/web/dbalias"]` {
		t.Errorf("inspect Links after the rename: %s", got)
	}
	docker(t, env, "run", "-d", "--name", "spacer", img, "sleep", "1000")
	docker(t, env, "restart", "-t", "0", "db2")
	newIP := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "db2")
	if newIP == dbIP {
		t.Logf("db2 got its address %s back: the hosts update is not seen", newIP)
	}
	if h := docker(t, env, "exec", "web", "cat", "/etc/hosts"); !strings.Contains(h, newIP+"\tdbalias ") {
		t.Errorf("web's hosts after db2 restarted on %s:\n%s", newIP, h)
	}

	// docker rm --link.
	wantAPI(t, sock, "DELETE", "/containers/db2?link=1", "", 409, "Conflict, cannot remove the default link name of the container")
	docker(t, env, "rm", "--link", "/web/dbalias")
	if got := docker(t, env, "inspect", "-f", "{{json .HostConfig.Links}}", "web"); got != "null" {
		t.Errorf("inspect Links after rm --link: %s", got)
	}
	if h := docker(t, env, "exec", "web", "cat", "/etc/hosts"); strings.Contains(h, "dbalias") {
		t.Errorf("web's hosts after rm --link:\n%s", h)
	}
	if got := docker(t, env, "ps", "--no-trunc", "--format", "{{.Names}}"); strings.Contains(got, "web/dbalias") {
		t.Errorf("ps NAMES after rm --link:\n%s", got)
	}
	wantAPI(t, sock, "GET", "/containers/web/dbalias/json", "", 404, "No such container")

	// On a user network: an alias for the linking container only;
	// HostConfig.Links is dropped, the endpoint keeps them.
	docker(t, env, "run", "-d", "--name", "uweb", "--network", "un", "--link", "udb:ualias", img, "sleep", "1000")
	udbIP := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.un.IPAddress}}", "udb")
	if out, _, _ := dockerRun(t, env, "", "exec", "uweb", "nslookup", "ualias", "127.0.0.11"); !strings.Contains(out, "Address: "+udbIP) {
		t.Errorf("uweb resolves ualias:\n%s", out)
	}
	if out, _, _ := dockerRun(t, env, "", "exec", "udb", "nslookup", "ualias", "127.0.0.11"); strings.Contains(out, "Address: "+udbIP) {
		t.Errorf("udb resolves uweb's link alias:\n%s", out)
	}
	if got := docker(t, env, "inspect", "-f", "{{json .HostConfig.Links}} {{json .NetworkSettings.Networks.un.Links}}", "uweb"); got != `null ["udb:ualias"]` {
		t.Errorf("uweb's links: %s", got)
	}
}

// TestSharingMacAddress: a MAC address per endpoint (docker run
// --mac-address, --network name=…,mac-address=…, EndpointsConfig from API
// 1.44), the container-wide one by API version, and bad ones refused.
func TestSharingMacAddress(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")

	if out := docker(t, env, "run", "--rm", "--mac-address", "02:42:ac:11:00:99", img, "cat", "/sys/class/net/eth0/address"); out != "02:42:ac:11:00:99" {
		t.Errorf("--mac-address: eth0 has %s", out)
	}
	docker(t, env, "network", "create", "app")
	docker(t, env, "run", "-d", "--name", "mm", "--network", "name=app,mac-address=02:42:ac:11:00:98", img, "sleep", "1000")
	if out := docker(t, env, "exec", "mm", "cat", "/sys/class/net/eth0/address"); out != "02:42:ac:11:00:98" {
		t.Errorf("--network mac-address: eth0 has %s", out)
	}
	if out := docker(t, env, "inspect", "-f", "{{.NetworkSettings.Networks.app.MacAddress}}", "mm"); out != "02:42:ac:11:00:98" {
		t.Errorf("inspect MacAddress: %s", out)
	}
	// Connected with a MAC address: applied from API 1.54 (1.44 to 1.53
	// took the field and ignored it, as moby's changelog says).
	wantAPI(t, sock, "POST", "/v1.54/networks/bridge/connect", `{"Container":"mm","EndpointConfig":{"MacAddress":"02:42:ac:11:00:97"}}`, 200, "")
	if out := docker(t, env, "exec", "mm", "cat", "/sys/class/net/eth1/address"); out != "02:42:ac:11:00:97" {
		t.Errorf("connect with MacAddress: eth1 has %s", out)
	}
	// The container-wide MAC of API 1.41 goes to the main network's
	// endpoint; an endpoint's own, unknown to 1.41, is ignored.
	id := createdID(t, wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","Cmd":["cat","/sys/class/net/eth0/address"],"MacAddress":"02:42:ac:11:00:96"}`, 201, ""))
	if out := docker(t, env, "start", "-a", id); out != "02:42:ac:11:00:96" {
		t.Errorf("API 1.41 MacAddress: eth0 has %s", out)
	}
	id = createdID(t, wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","Cmd":["cat","/sys/class/net/eth0/address"],"NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"02:42:ac:11:00:95"}}}}`, 201, ""))
	if out := docker(t, env, "start", "-a", id); out == "02:42:ac:11:00:95" {
		t.Errorf("API 1.41 took an endpoint's MacAddress")
	}
	// From 1.44 the container-wide one is deprecated: a warning.
	wantAPI(t, sock, "POST", "/v1.44/containers/create", `{"Image":"`+img+`","MacAddress":"02:42:ac:11:00:94"}`, 201, "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.")
	wantAPI(t, sock, "POST", "/v1.44/containers/create", `{"Image":"`+img+`","MacAddress":"02:42:ac:11:00:94","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"02:42:ac:11:00:93"}}},"HostConfig":{"NetworkMode":"bridge"}}`, 400, "the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty")
	// Bad ones.
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","MacAddress":"zz"}`, 400, "address zz: invalid MAC address")
	wantAPI(t, sock, "POST", "/v1.41/containers/create", `{"Image":"`+img+`","MacAddress":"02:42:ac:11:00:99","HostConfig":{"NetworkMode":"host"}}`, 400, "conflicting options: mac-address and the network mode")
	wantAPI(t, sock, "POST", "/v1.44/containers/create", `{"Image":"`+img+`","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"zz"}}}}`, 400, "address zz: invalid MAC address")
	wantAPI(t, sock, "POST", "/v1.44/containers/create", `{"Image":"`+img+`","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"01:00:5e:00:00:01"}}}}`, 400, "invalid MAC address 01:00:5e:00:00:01")
	if _, e, code := dockerRun(t, env, "", "run", "--rm", "--mac-address", "zz", img, "sh", "-c", "exit 0"); code == 0 || !strings.Contains(e, "zz") {
		t.Errorf("--mac-address zz: %d %s", code, e)
	}
}

// TestSharingNetworkEvents: network events as dockerd sends them — create,
// connect at start (none and host too), disconnect at stop, connect and
// disconnect of a running container, destroy at rm and prune — with the
// network's name and type and the container, through docker events.
func TestSharingNetworkEvents(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)

	since := time.Now().Add(-time.Second).Unix()
	netID := docker(t, env, "network", "create", "evnet")
	e1 := docker(t, env, "run", "-d", "--name", "e1", img, "sleep", "100")
	docker(t, env, "network", "connect", "evnet", "e1")
	docker(t, env, "network", "disconnect", "evnet", "e1")
	docker(t, env, "stop", "-t", "0", "e1")
	e2 := docker(t, env, "create", "--name", "e2", img, "sh", "-c", "exit 0")
	docker(t, env, "network", "connect", "evnet", "e2") // not running: no event
	docker(t, env, "network", "rm", "evnet")
	e3 := docker(t, env, "run", "-d", "--network", "none", img, "sh", "-c", "exit 0")
	docker(t, env, "wait", e3)
	pruned := docker(t, env, "network", "create", "pruned")
	docker(t, env, "network", "prune", "-f")
	until := time.Now().Add(time.Second).Unix()
	bridgeID := docker(t, env, "network", "inspect", "-f", "{{.Id}}", "bridge")
	noneID := docker(t, env, "network", "inspect", "-f", "{{.Id}}", "none")

	out := docker(t, env, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(until), "--filter", "type=network",
		"--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}} {{.Actor.Attributes.container}} {{.Scope}}")
	want := []string{
		"create " + netID + " evnet bridge <no value> local",
		"connect " + bridgeID + " bridge bridge " + e1 + " local",
		"connect " + netID + " evnet bridge " + e1 + " local",
		"disconnect " + netID + " evnet bridge " + e1 + " local",
		"disconnect " + bridgeID + " bridge bridge " + e1 + " local",
		"destroy " + netID + " evnet bridge <no value> local",
		"connect " + noneID + " none null " + e3 + " local",
		"disconnect " + noneID + " none null " + e3 + " local",
		"create " + pruned + " pruned bridge <no value> local",
		"destroy " + pruned + " pruned bridge <no value> local",
	}
	if got := strings.Split(out, "\n"); !slices.Equal(got, want) {
		t.Errorf("network events:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	if strings.Contains(out, e2) {
		t.Errorf("a stopped container's connect was told")
	}
	if out := docker(t, env, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(until), "--filter", "network=none", "--format", "{{.Type}} {{.Action}}"); out != "network connect\nnetwork disconnect" {
		t.Errorf("events --filter network=none:\n%s", out)
	}
}

// volumePlugin is a legacy volume plugin written to Docker's protocol
// (VolumeDriver.*) on a unix socket: volumes are folders under root; it
// records every call with its JSON. A Create with the option fail fails
// with its value; a Mount of a name that starts with failmount fails.
type volumePlugin struct {
	root  string
	mu    sync.Mutex
	vols  map[string]string
	calls []pluginCall
}

func (p *volumePlugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/")
	b, _ := io.ReadAll(r.Body)
	var req struct {
		Name, ID string
		Opts     map[string]string
	}
	json.Unmarshal(b, &req)
	var body map[string]any
	json.Unmarshal(b, &body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, pluginCall{method, body})
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
	answer := func(v any) { json.NewEncoder(w).Encode(v) }
	fail := func(msg string) { w.WriteHeader(500); answer(map[string]string{"Err": msg}) }
	switch method {
	case "Plugin.Activate":
		answer(map[string]any{"Implements": []string{"VolumeDriver"}})
	case "VolumeDriver.Capabilities":
		answer(map[string]any{"Capabilities": map[string]string{"Scope": "local"}})
	case "VolumeDriver.Create":
		if msg := req.Opts["fail"]; msg != "" {
			fail(msg)
			return
		}
		dir := filepath.Join(p.root, req.Name)
		os.MkdirAll(dir, 0o755)
		p.vols[req.Name] = dir
		answer(map[string]string{})
	case "VolumeDriver.Remove":
		dir, ok := p.vols[req.Name]
		if !ok {
			fail("no such volume " + req.Name)
			return
		}
		os.RemoveAll(dir)
		delete(p.vols, req.Name)
		answer(map[string]string{})
	case "VolumeDriver.Get":
		dir, ok := p.vols[req.Name]
		if !ok {
			fail("no such volume")
			return
		}
		answer(map[string]any{"Volume": map[string]any{"Name": req.Name, "Mountpoint": dir, "Status": map[string]any{"hello": "world"}}})
	case "VolumeDriver.List":
		l := []map[string]string{}
		for n, dir := range p.vols {
			l = append(l, map[string]string{"Name": n, "Mountpoint": dir})
		}
		answer(map[string]any{"Volumes": l})
	case "VolumeDriver.Path", "VolumeDriver.Mount":
		if method == "VolumeDriver.Mount" && strings.HasPrefix(req.Name, "failmount") {
			fail("mount refused for " + req.Name)
			return
		}
		answer(map[string]string{"Mountpoint": p.vols[req.Name]})
	case "VolumeDriver.Unmount":
		answer(map[string]string{})
	default:
		w.WriteHeader(404)
	}
}

func (p *volumePlugin) called(method string) []map[string]any {
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

// add makes a volume in the plugin that hull was never told of.
func (p *volumePlugin) add(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	dir := filepath.Join(p.root, name)
	os.MkdirAll(dir, 0o755)
	p.vols[name] = dir
}

// startVolumePlugin serves a volume plugin at <dir>/NAME.sock, a socket
// folder the daemon searches.
func startVolumePlugin(t *testing.T, dir, name string) *volumePlugin {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	l, err := net.Listen("unix", filepath.Join(dir, name+".sock"))
	if err != nil {
		t.Fatal(err)
	}
	p := &volumePlugin{root: t.TempDir(), vols: map[string]string{}}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// TestSharingVolumePlugin: a legacy volume plugin found through the
// plugin folders serves docker volume create -d, inspect, ls, rm and the
// volumes of docker run (-v with --volume-driver, named and anonymous):
// Mount at start with a mount id, Unmount with it at the exit, and the
// plugin's errors as dockerd shows them.
func TestSharingVolumePlugin(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	img := importFullBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	p := startVolumePlugin(t, filepath.Join(dir, "run", "plugins"), "tvol")
	since := time.Now().Add(-time.Second).Unix()

	if out := docker(t, env, "volume", "create", "-d", "tvol", "--label", "a=b", "-o", "size=1", "pv1"); out != "pv1" {
		t.Errorf("volume create: %q", out)
	}
	if c := p.called("VolumeDriver.Create"); len(c) != 1 || c[0]["Name"] != "pv1" || fmt.Sprint(c[0]["Opts"]) != "map[size:1]" {
		t.Errorf("VolumeDriver.Create: %v", c)
	}
	var vols []struct {
		Name, Driver, Mountpoint, Scope, CreatedAt string
		Labels, Options                            map[string]string
		Status                                     map[string]any
	}
	if err := json.Unmarshal([]byte(docker(t, env, "volume", "inspect", "pv1")), &vols); err != nil || len(vols) != 1 {
		t.Fatalf("volume inspect: %v", err)
	}
	if v := vols[0]; v.Driver != "tvol" || v.Mountpoint != filepath.Join(p.root, "pv1") || v.Labels["a"] != "b" || v.Options["size"] != "1" || v.Scope != "local" || v.Status["hello"] != "world" || v.CreatedAt != "0001-01-01T00:00:00Z" {
		t.Errorf("volume inspect: %+v", v)
	}
	p.add("outside")
	if out := docker(t, env, "volume", "ls", "--format", "{{.Driver}} {{.Name}}"); !slices.Contains(strings.Split(out, "\n"), "tvol pv1") || !slices.Contains(strings.Split(out, "\n"), "tvol outside") {
		t.Errorf("volume ls:\n%s", out)
	}
	if out := docker(t, env, "volume", "inspect", "-f", "{{.Driver}} {{.Mountpoint}}", "outside"); out != "tvol "+filepath.Join(p.root, "outside") {
		t.Errorf("inspect of a volume only the plugin knows: %s", out)
	}

	// Errors, as dockerd words them.
	wantAPI(t, sock, "POST", "/volumes/create", `{"Name":"bad","Driver":"tvol","DriverOpts":{"fail":"boom"}}`, 500, "create bad: VolumeDriver.Create: boom")
	wantAPI(t, sock, "POST", "/volumes/create", `{"Name":"v3","Driver":"nope"}`, 404, `create v3: error looking up volume plugin nope: plugin "nope" not found`)
	wantAPI(t, sock, "POST", "/volumes/create", `{"Name":"pv1","Driver":"local"}`, 409, "create pv1: driver 'tvol' already has volume 'pv1': volume name must be unique")
	wantAPI(t, sock, "POST", "/volumes/create", `{"Name":"pv1"}`, 201, `"Driver":"tvol"`)
	docker(t, env, "volume", "create", "lv")
	wantAPI(t, sock, "POST", "/volumes/create", `{"Name":"lv","Driver":"tvol"}`, 409, "create lv: driver 'local' already has volume 'lv': volume name must be unique")

	// A container's volume: mounted by the plugin at start, unmounted at
	// the exit, with one mount id.
	if out := docker(t, env, "run", "--rm", "-v", "pv1:/data", img, "sh", "-c", "echo hi > /data/f; grep -c ' /data ' /proc/mounts"); out != "1" {
		t.Errorf("run -v pv1:/data: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(p.root, "pv1", "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("the container's write in the plugin's folder: %q %v", b, err)
	}
	mounts, unmounts := p.called("VolumeDriver.Mount"), p.called("VolumeDriver.Unmount")
	if len(mounts) != 1 || len(unmounts) != 1 || mounts[0]["Name"] != "pv1" || mounts[0]["ID"] == "" || mounts[0]["ID"] != unmounts[0]["ID"] {
		t.Errorf("Mount %v, Unmount %v", mounts, unmounts)
	}

	// docker run --volume-driver makes the volume with the plugin.
	docker(t, env, "run", "-d", "--name", "pr", "-v", "pv2:/data", "--volume-driver", "tvol", img, "sleep", "1000")
	if out := docker(t, env, "inspect", "-f", "{{range .Mounts}}{{.Name}} {{.Driver}} {{.Source}}{{end}}", "pr"); out != "pv2 tvol "+filepath.Join(p.root, "pv2") {
		t.Errorf("inspect Mounts of a running container: %q", out)
	}
	wantAPI(t, sock, "DELETE", "/volumes/pv2", "", 409, "remove pv2: volume is in use")
	docker(t, env, "stop", "-t", "0", "pr")
	if out := docker(t, env, "inspect", "-f", "{{range .Mounts}}{{.Name}} {{.Driver}} [{{.Source}}]{{end}}", "pr"); out != "pv2 tvol []" {
		t.Errorf("inspect Mounts of a stopped container: %q", out)
	}
	if n := len(p.called("VolumeDriver.Unmount")); n != 2 {
		t.Errorf("%d Unmount calls after pr stopped, want 2", n)
	}
	docker(t, env, "rm", "pr")
	docker(t, env, "volume", "rm", "pv2")
	if rm := p.called("VolumeDriver.Remove"); len(rm) != 1 || rm[0]["Name"] != "pv2" {
		t.Errorf("VolumeDriver.Remove: %v", rm)
	}
	// An anonymous volume of the plugin goes with its --rm container.
	docker(t, env, "run", "--rm", "--mount", "type=volume,target=/anon,volume-driver=tvol,volume-opt=o=1", img, "sh", "-c", "exit 0")
	cr := p.called("VolumeDriver.Create")
	anon, _ := cr[len(cr)-1]["Name"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon) || fmt.Sprint(cr[len(cr)-1]["Opts"]) != "map[o:1]" {
		t.Errorf("the anonymous volume's Create: %v", cr[len(cr)-1])
	}
	waitFor(t, func() bool {
		rm := p.called("VolumeDriver.Remove")
		return len(rm) == 2 && rm[1]["Name"] == anon
	}, "the anonymous volume's Remove", func() string { return fmt.Sprint(p.called("VolumeDriver.Remove")) })

	// A Mount the plugin refuses: the start fails with dockerd's text and
	// nothing is left mounted.
	docker(t, env, "volume", "create", "-d", "tvol", "failmount1")
	if _, e, code := dockerRun(t, env, "", "run", "--name", "fm", "-v", "failmount1:/data", img, "sh", "-c", "exit 0"); code == 0 || !strings.Contains(e, "error while mounting volume '': VolumeDriver.Mount: mount refused for failmount1") {
		t.Errorf("run with a refused Mount: %d %s", code, e)
	}
	if st := docker(t, env, "inspect", "-f", "{{.State.Status}}", "fm"); st != "created" {
		t.Errorf("the container with a refused Mount is %s", st)
	}
	docker(t, env, "rm", "fm")
	docker(t, env, "volume", "rm", "pv1", "failmount1")
	until := time.Now().Add(time.Second).Unix()
	out := docker(t, env, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(until), "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}")
	for _, want := range []string{"create pv1 tvol", "create pv2 tvol", "destroy pv2 tvol", "create " + anon + " tvol", "destroy " + anon + " tvol", "destroy pv1 tvol"} {
		if !slices.Contains(strings.Split(out, "\n"), want) {
			t.Errorf("volume events lack %q:\n%s", want, out)
		}
	}
	if out := docker(t, env, "volume", "ls", "-q"); strings.Contains(out, "pv1") || strings.Contains(out, "pv2") {
		t.Errorf("volumes left:\n%s", out)
	}
}
