package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// udpEchoSrc is a UDP echo server for the container (busybox's nc has no
// UDP): it answers each datagram with "echo " and the datagram.
const udpEchoSrc = `package main

import (
	"net"
	"os"
)

func main() {
	pc, err := net.ListenPacket("udp", ":"+os.Args[1])
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
	}
}
`

// buildUDPEcho builds udpEchoSrc as a static binary in dir.
func buildUDPEcho(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "udpecho")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(udpEchoSrc), 0o644)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module udpecho\n\ngo 1.22\n"), 0o644)
	bin := filepath.Join(dir, "udpecho.bin")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the UDP echo server: %v\n%s", err, out)
	}
	return bin
}

// hostAddress is the host's IPv4 address on its default route's interface:
// an address that is not loopback, which a container reaches through its
// gateway (hairpin).
func defaultRouteAddress(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 || fs[1] != "00000000" {
			continue
		}
		ifc, err := net.InterfaceByName(fs[0])
		if err != nil {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				return ipn.IP.String()
			}
		}
	}
	t.Skip("the host has no IPv4 default route: no non-loopback address to publish on")
	return ""
}

// publishedPorts reads `docker port NAME`: "80/tcp -> 0.0.0.0:32768"
// lines, as a map from "80/tcp 0.0.0.0" to the host port.
func publishedPorts(t *testing.T, env []string, name string) map[string]string {
	t.Helper()
	out := docker(t, env, "port", name)
	re := regexp.MustCompile(`^(\S+) -> (.*):(\d+)$`)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if g := re.FindStringSubmatch(strings.TrimSpace(l)); g != nil {
			m[g[1]+" "+g[2]] = g[3]
		}
	}
	return m
}

func httpGet(addr string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func udpAsk(addr, msg string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 2048)
	// A datagram may go before the relay's flow exists: ask a few times.
	for range 5 {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no answer from %s", addr)
}

// portFree says whether nothing holds a host port any more: this process
// can bind it itself.
func portFree(proto, addr string) error {
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return pc.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// TestPortsOutliveDaemon: published ports are held and relayed by the
// container's shim (hull-monitor), not the daemon: they answer from the
// host on 127.0.0.1 and on the host's own address, from another container
// through the host's address (hairpin), TCP and UDP, while the daemon is
// killed (-9) and after it is back (which does not publish them again, and
// still reports them); a daemon stopped cleanly with live-restore leaves
// them too. A port a running container holds is refused to another; docker
// restart publishes again; stop and rm free them (this process can bind
// them afterwards).
func TestPortsOutliveDaemon(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	hostIP := defaultRouteAddress(t)
	echo := buildUDPEcho(t, dir)

	docker(t, env, "run", "-d", "--name", "web", "-v", echo+":/udpecho:ro",
		"-p", "127.0.0.1::80", "-p", "80", "-p", "127.0.0.1::53/udp",
		"e2e/busybox:1", "sh", "-c", "/udpecho 53 & mkdir -p /www && echo hello-ports > /www/index.html && exec busybox httpd -f -p 80 -h /www")
	ports := func() (lo, all, udp string) {
		t.Helper()
		m := publishedPorts(t, env, "web")
		lo, all, udp = m["80/tcp 127.0.0.1"], m["80/tcp 0.0.0.0"], m["53/udp 127.0.0.1"]
		if lo == "" || all == "" || udp == "" || len(m) != 4 || m["80/tcp [::]"] != all {
			t.Fatalf("docker port web: %v", m)
		}
		return lo, all, udp
	}
	lo, all, udp := ports()
	inspect := docker(t, env, "inspect", "-f", "{{json .NetworkSettings.Ports}}", "web")
	t.Logf("published: 127.0.0.1:%s, *:%s, udp 127.0.0.1:%s; host address %s", lo, all, udp, hostIP)

	fromHost := func(when string) {
		t.Helper()
		for _, addr := range []string{"127.0.0.1:" + lo, "127.0.0.1:" + all, hostIP + ":" + all} {
			var got string
			var err error
			// The server in the container may still be starting.
			for range 50 {
				if got, err = httpGet(addr); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got != "hello-ports" {
				t.Errorf("%s: GET %s: %q, %v", when, addr, got, err)
			}
		}
		if got, err := udpAsk("127.0.0.1:"+udp, "ping-"+when); got != "echo ping-"+when {
			t.Errorf("%s: udp 127.0.0.1:%s: %q, %v", when, udp, got, err)
		}
		// Published on loopback only: not on the host's address.
		if _, err := httpGet(hostIP + ":" + lo); err == nil {
			t.Errorf("%s: the port published on 127.0.0.1 answers on %s", when, hostIP)
		}
	}
	hairpin := func(when string) {
		t.Helper()
		// busybox's nc: its wget crashes in a container (static glibc).
		out, errOut, code := dockerRun(t, env, "", "run", "--rm", "e2e/busybox:1", "sh", "-c",
			"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 "+hostIP+" "+all)
		if !strings.HasSuffix(strings.TrimSpace(out), "hello-ports") || code != 0 {
			t.Errorf("%s: from another container through %s:%s: %q %q %d", when, hostIP, all, out, errOut, code)
		}
	}
	// Held by the container's shim alone: the daemon keeps no copy.
	heldByShim := func(when string) {
		t.Helper()
		for _, p := range [][2]string{{"tcp", lo}, {"tcp", all}, {"udp", udp}} {
			if got := portHolders(t, p[0], p[1]); !slices.Equal(got, []string{"hull-monitor"}) {
				t.Errorf("%s: %s port %s is held by %v, want hull-monitor alone", when, p[0], p[1], got)
			}
		}
	}
	heldByShim("running")
	fromHost("running")
	hairpin("running")

	// The daemon killed: the ports still answer.
	out, _ := exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code != 0 }, "the daemon to die")
	fromHost("daemon killed")

	// Back: the same ports reported, not published a second time (the
	// shim holds them: the daemon could not bind them again), still
	// answering; another container cannot take them.
	startHullDaemon(t, env, dir)
	if l2, a2, u2 := ports(); l2 != lo || a2 != all || u2 != udp {
		t.Errorf("docker port after the restart: %s %s %s, want %s %s %s", l2, a2, u2, lo, all, udp)
	}
	if got := docker(t, env, "inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"); got != inspect {
		t.Errorf("inspect after the restart:\n%s\nwant\n%s", got, inspect)
	}
	if got := docker(t, env, "ps", "--filter", "name=web", "--format", "{{.Ports}}"); !strings.Contains(got, "127.0.0.1:"+lo+"->80/tcp") || !strings.Contains(got, "0.0.0.0:"+all+"->80/tcp") {
		t.Errorf("docker ps after the restart: %q", got)
	}
	heldByShim("daemon restarted")
	fromHost("daemon restarted")
	hairpin("daemon restarted")
	for _, p := range []string{"127.0.0.1:" + lo + ":80", all + ":80", "127.0.0.1:" + udp + ":53/udp"} {
		if _, errOut, code := dockerRun(t, env, "", "run", "-d", "--name", "thief", "-p", p, "e2e/busybox:1", "sleep", "60"); code == 0 || !strings.Contains(errOut, "port is already allocated") {
			t.Errorf("another container on %s: %d %q", p, code, errOut)
		}
		dockerRun(t, env, "", "rm", "-f", "thief")
	}

	// A clean stop with live-restore leaves them too.
	stopHullDaemon(t, dir)
	fromHost("daemon stopped")
	heldByShim("daemon stopped")
	startHullDaemon(t, env, dir)
	fromHost("daemon started again")

	// docker restart publishes again (the free ports chosen anew); the
	// old ones are let go.
	docker(t, env, "restart", "-t", "1", "web")
	oldLo := lo
	lo, all, udp = ports()
	fromHost("restarted container")
	hairpin("restarted container")
	if oldLo != lo {
		if err := portFree("tcp", "127.0.0.1:"+oldLo); err != nil {
			t.Errorf("the port of before the restart is still held: %v", err)
		}
	}

	// Stop frees them; start publishes again; rm frees them.
	free := func(when string) {
		t.Helper()
		for _, p := range [][2]string{{"tcp", "127.0.0.1:" + lo}, {"tcp", ":" + all}, {"udp", "127.0.0.1:" + udp}} {
			if err := portFree(p[0], p[1]); err != nil {
				t.Errorf("%s: %s %s still held: %v", when, p[0], p[1], err)
			}
		}
		if _, err := httpGet("127.0.0.1:" + lo); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s: GET 127.0.0.1:%s: %v, want connection refused", when, lo, err)
		}
	}
	docker(t, env, "stop", "-t", "1", "web")
	free("stopped")
	docker(t, env, "start", "web")
	lo, all, udp = ports()
	fromHost("started")
	docker(t, env, "rm", "-f", "web")
	free("removed")
}

// portHolders names the processes (comm) that hold a socket on a local
// port: TCP listening, or UDP bound, read from /proc/net and /proc/*/fd.
func portHolders(t *testing.T, proto, port string) []string {
	t.Helper()
	inodes := map[string]bool{}
	var want uint64
	fmt.Sscan(port, &want)
	for _, f := range []string{"/proc/net/" + proto, "/proc/net/" + proto + "6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			var p uint64
			fmt.Sscanf(hexPort, "%x", &p)
			if p == want && (proto == "udp" || fs[3] == "0A") {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, pd := range procs {
		fds, _ := os.ReadDir(filepath.Join(pd, "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(pd, "fd", fd.Name())); err == nil && inodes[l] {
				comm, _ := os.ReadFile(filepath.Join(pd, "comm"))
				out = append(out, strings.TrimSpace(string(comm)))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestPortsRestartPolicy: a container its restart policy starts again is
// published again (its shim of before let the port go when it exited).
func TestPortsRestartPolicy(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	// The first run fails (the marker in its own layer does not exist
	// yet); the restart serves.
	docker(t, env, "run", "-d", "--name", "flaky", "--restart", "on-failure:3", "-p", "127.0.0.1::80",
		"e2e/busybox:1", "sh", "-c", "[ -e /ran ] || { touch /ran; sleep 1; exit 1; }; mkdir -p /www && echo second-run > /www/index.html && exec busybox httpd -f -p 80 -h /www")
	first := publishedPorts(t, env, "flaky")["80/tcp 127.0.0.1"]
	if first == "" {
		t.Fatalf("docker port flaky: %v", publishedPorts(t, env, "flaky"))
	}
	waitFor(t, func() bool {
		return docker(t, env, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky") == "1 running"
	}, "the restart", func() string { return docker(t, env, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky") })
	port := publishedPorts(t, env, "flaky")["80/tcp 127.0.0.1"]
	var got string
	var err error
	for range 50 {
		if got, err = httpGet("127.0.0.1:" + port); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "second-run" {
		t.Errorf("after the restart, 127.0.0.1:%s: %q, %v", port, got, err)
	}
	if h := portHolders(t, "tcp", port); !slices.Equal(h, []string{"hull-monitor"}) {
		t.Errorf("after the restart, port %s is held by %v", port, h)
	}
	if port != first {
		if err := portFree("tcp", "127.0.0.1:"+first); err != nil {
			t.Errorf("the first run's port %s is still held: %v", first, err)
		}
	}
	docker(t, env, "rm", "-f", "flaky")
	if err := portFree("tcp", "127.0.0.1:"+port); err != nil {
		t.Errorf("after rm: %v", err)
	}
}

// TestPortsCrashMidStart: a daemon killed in the middle of a start, once
// the shim holds the container's published ports, leaves no port held
// after it is back: the container starts again on the same host port.
func TestPortsCrashMidStart(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	kill := func() {
		out, _ := exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Output()
		for _, pid := range strings.Fields(string(out)) {
			exec.Command("kill", "-9", pid).Run()
		}
		waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code != 0 }, "the daemon to die")
	}
	for i, point := range []string{"start: the init is created, not started", "start: the process runs, its state is not recorded"} {
		kill()
		cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+sock, "--data-root", filepath.Join(dir, "root"),
			"--exec-root", filepath.Join(dir, "run"), "--config-file", filepath.Join(dir, "daemon.json"))
		cmd.Env = append(os.Environ(), "HULL_TEST_CRASH_AT="+point)
		logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the crashing daemon")
		port := fmt.Sprint(freePort(t))
		name := fmt.Sprintf("cut%d", i)
		if _, _, code := dockerRun(t, env, "", "run", "-d", "--name", name, "-p", "127.0.0.1:"+port+":80", "e2e/busybox:1",
			"sh", "-c", "mkdir -p /www && echo after-crash > /www/index.html && exec busybox httpd -f -p 80 -h /www"); code == 0 {
			t.Fatalf("%s: the run succeeded on a daemon that crashes there", point)
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 70") {
			t.Fatalf("the daemon did not crash at %q: %v", point, err)
		}
		// Back: what the cut start left (its shim) is gone, and the port
		// with it; the container is not running.
		startHullDaemon(t, env, dir)
		if err := portFree("tcp", "127.0.0.1:"+port); err != nil {
			t.Errorf("%s: port %s still held after the daemon came back: %v (held by %v)", point, port, err, portHolders(t, "tcp", port))
		}
		if st := docker(t, env, "inspect", "-f", "{{.State.Status}}", name); st == "running" {
			t.Errorf("%s: the container is %s", point, st)
		}
		docker(t, env, "rm", "-f", name)
		// The same port for a new container.
		docker(t, env, "run", "-d", "--name", name, "-p", "127.0.0.1:"+port+":80", "e2e/busybox:1",
			"sh", "-c", "mkdir -p /www && echo after-crash > /www/index.html && exec busybox httpd -f -p 80 -h /www")
		var got string
		var err error
		for range 50 {
			if got, err = httpGet("127.0.0.1:" + port); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != "after-crash" {
			t.Errorf("%s: the port published again: %q, %v", point, got, err)
		}
		docker(t, env, "rm", "-f", name)
	}
}
