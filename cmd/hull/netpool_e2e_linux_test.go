package main

// The default bridge network with compartments made ahead (the network
// service's pool): what a container sees is what it saw without the pool
// (and the shape dockerd gives), and a daemon, stopped or killed with a
// full pool, leaves nothing on the host after its next stop.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hullproject/hull/internal/hosttest"
)

// poolDaemon is a hull daemon on its own roots that the test stops with
// SIGINT or kills as a crash would.
type poolDaemon struct {
	t   *testing.T
	dir string
	env []string
	cmd *exec.Cmd
}

func newPoolDaemon(t *testing.T) *poolDaemon {
	t.Helper()
	requireRoot(t)
	requireDockerCLI(t)
	dir, err := os.MkdirTemp("/var/tmp", "hullnp")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o644)
	d := &poolDaemon{t: t, dir: dir, env: append(os.Environ(), "DOCKER_HOST=unix://"+filepath.Join(dir, "hull.sock"))}
	release := hosttest.Hold("/proc/sys/net/ipv4/ip_forward")
	t.Cleanup(func() {
		if d.cmd != nil {
			removeAllContainers(t, d.sock())
			d.stop()
		}
		removeDaemonNetwork(d.run())
		release()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
			t.Logf("daemon log:\n%s", b)
		}
		for _, m := range mountsUnder(t, dir) {
			exec.Command("umount", "-l", m).Run()
		}
		for _, l := range d.links() {
			netlink.LinkDel(l)
		}
		os.RemoveAll(dir)
	})
	return d
}

func (d *poolDaemon) sock() string { return filepath.Join(d.dir, "hull.sock") }
func (d *poolDaemon) run() string  { return filepath.Join(d.dir, "run") }

// start runs the daemon with the environment extra (HULL_COMPARTMENT_POOL).
func (d *poolDaemon) start(extra ...string) {
	t := d.t
	t.Helper()
	cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+d.sock(), "--data-root", filepath.Join(d.dir, "root"),
		"--exec-root", d.run(), "--config-file", filepath.Join(d.dir, "daemon.json"))
	cmd.Env = append(os.Environ(), extra...)
	logf, _ := os.OpenFile(filepath.Join(d.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.cmd = cmd
	waitFor(t, func() bool {
		c, err := net.Dial("unix", d.sock())
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the daemon's socket")
}

// stop stops the daemon with SIGINT.
func (d *poolDaemon) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
	d.cmd = nil
}

// kill kills the daemon as a crash would.
func (d *poolDaemon) kill() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
}

// pooled counts the compartments made ahead (<exec root>/netpool, each
// with a spare file).
func (d *poolDaemon) pooled() int {
	ents, _ := os.ReadDir(filepath.Join(d.run(), "netpool"))
	n := 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".spare") {
			n++
		}
	}
	return n
}

// links are the host's links this daemon made (their alias names it, the
// pool's with " pool" after).
func (d *poolDaemon) links() []netlink.Link {
	id, err := os.ReadFile(filepath.Join(d.dir, "root", "engine-id"))
	if err != nil || len(strings.TrimSpace(string(id))) == 0 {
		return nil
	}
	alias := "hull:" + strings.TrimSpace(string(id))
	ls, _ := netlink.LinkList()
	var out []netlink.Link
	for _, l := range ls {
		if a := l.Attrs().Alias; a == alias || a == alias+" pool" {
			out = append(out, l)
		}
	}
	return out
}

// leftovers says what a stopped daemon left on the host: compartments
// (files or mounts under its exec root), links it made, its bridge, its
// nftables table.
func (d *poolDaemon) leftovers() []string {
	var out []string
	for _, sub := range []string{"netns", "netpool"} {
		ents, _ := os.ReadDir(filepath.Join(d.run(), sub))
		for _, e := range ents {
			out = append(out, "compartment file "+sub+"/"+e.Name())
		}
	}
	for _, m := range mountsUnder(d.t, d.dir) {
		out = append(out, "mount "+m)
	}
	for _, l := range d.links() {
		out = append(out, "link "+l.Attrs().Name)
	}
	bridge, table := daemonNetworkNames(d.run())
	if _, err := netlink.LinkByName(bridge); err == nil {
		out = append(out, "bridge "+bridge)
	}
	if b, _ := exec.Command("nft", "list", "tables").Output(); strings.Contains(string(b), " "+table+"\n") {
		out = append(out, "nftables table "+table)
	}
	return out
}

// waitClean waits for the kernel to finish tearing down what the daemon
// removed (namespaces go asynchronously, their veths with them) and
// reports what is left.
func (d *poolDaemon) waitClean(when string) {
	t := d.t
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(d.leftovers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := d.leftovers(); len(left) > 0 {
		t.Errorf("%s, left on the host: %v", when, left)
	}
}

// isPoolMount: m is a compartment the network service made ahead (its
// pool, refilled with new names at any time while a daemon runs).
func isPoolMount(m string) bool { return strings.Contains(m, "/netpool/") }

// nicShape is what a container on the default bridge sees of its NIC and
// routes, its own address, gateway and subnet replaced by names, and
// whether its MAC is 02:42 and its IPv4 address (Docker's form).
func nicShape(t *testing.T, env []string, image string, extra ...string) string {
	t.Helper()
	args := append([]string{"run", "--rm"}, extra...)
	args = append(args, image, "sh", "-c", "ip -o addr show eth0; ip -o link show eth0; ip route; cat /sys/class/net/eth0/mtu /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ls /sys/class/net")
	out, errOut, code := dockerRun(t, env, "", args...)
	if code != 0 {
		t.Fatalf("docker %v: %d %s", args, code, errOut)
	}
	m := regexp.MustCompile(`inet (\d+)\.(\d+)\.(\d+)\.(\d+)/(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no IPv4 address on eth0:\n%s", out)
	}
	ip := strings.Join(m[1:5], ".")
	var b [4]int
	fmt.Sscanf(ip, "%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3])
	mac := fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
	if !strings.Contains(out, "link/ether "+mac+" ") {
		t.Errorf("eth0's MAC is not %s (02:42 and its address):\n%s", mac, out)
	}
	gw := regexp.MustCompile(`default via (\S+) dev eth0`).FindStringSubmatch(out)
	if gw == nil {
		t.Fatalf("no default route through eth0:\n%s", out)
	}
	out = strings.ReplaceAll(out, mac, "MAC")
	out = strings.ReplaceAll(out, "src "+ip, "src IP")
	out = strings.TrimSpace(out)
	out = strings.ReplaceAll(out, "inet "+ip+"/"+m[5], "inet IP/PFX")
	out = strings.ReplaceAll(out, "via "+gw[1]+" ", "via GW ")
	out = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+/\d+ dev eth0`).ReplaceAllString(out, "SUBNET/PFX dev eth0")
	out = regexp.MustCompile(`brd \d+\.\d+\.\d+\.\d+ `).ReplaceAllString(out, "brd BCAST ")
	out = regexp.MustCompile(`eth0@if\d+`).ReplaceAllString(out, "eth0@ifN")
	out = regexp.MustCompile(`(?m)^\d+: `).ReplaceAllString(out, "N: ")
	return out
}

// TestNetpoolBridgeShape: a container on the default bridge, its
// compartment taken from the pool, sees the NIC and routes a container saw
// without the pool (HULL_COMPARTMENT_POOL=0), of dockerd's shape (eth0,
// MTU 1500, 02:42 MAC from the address, the default route and the
// subnet's); containers reach each other and the host; a published port
// answers.
func TestNetpoolBridgeShape(t *testing.T) {
	buildShim(t)
	d := newPoolDaemon(t)
	d.start("HULL_COMPARTMENT_POOL=0")
	loadBusybox(t, d.env, d.dir)
	if n := d.pooled(); n != 0 {
		t.Errorf("HULL_COMPARTMENT_POOL=0: %d compartments made ahead", n)
	}
	fresh := nicShape(t, d.env, "e2e/busybox:1")
	d.stop()
	d.start()
	waitFor(t, func() bool { return d.pooled() == 4 }, "4 compartments made ahead")
	pooled := nicShape(t, d.env, "e2e/busybox:1")
	if pooled != fresh {
		t.Errorf("a compartment from the pool differs from one made at start:\n--- made at start\n%s\n--- from the pool\n%s", fresh, pooled)
	}
	if !strings.Contains(pooled, "eth0") || !strings.Contains(pooled, "mtu 1500") || !strings.Contains(pooled, "default via GW dev eth0") ||
		!strings.Contains(pooled, "SUBNET/PFX dev eth0 scope link  src IP") {
		t.Errorf("the container's network:\n%s", pooled)
	}
	t.Logf("from the pool:\n%s", pooled)

	// dockerd 20.10 on a bridge network of its own (it runs without a
	// default bridge here): the same shape.
	t.Run("dockerd", func(t *testing.T) {
		denv := dockerd(t)
		rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
		run(t, 0, nil, "bash", "-c", ". ../../hack/lib.sh && make_busybox_rootfs_tar "+rootfs)
		docker(t, denv, "import", "-c", `CMD ["/bin/sh"]`, rootfs, "e2e/busybox:1")
		docker(t, denv, "network", "create", "--subnet", "172.31.250.0/24", "npshape")
		want := nicShape(t, denv, "e2e/busybox:1", "--network", "npshape")
		docker(t, denv, "network", "rm", "npshape")
		if pooled != want {
			t.Errorf("hull's container differs from dockerd's:\n--- dockerd\n%s\n--- hull\n%s", want, pooled)
		}
	})

	// Two containers reach each other, and the host at the bridge's
	// address.
	docker(t, d.env, "run", "-d", "--name", "np-a", "e2e/busybox:1", "sleep", "60")
	docker(t, d.env, "run", "-d", "--name", "np-b", "e2e/busybox:1", "sh", "-c",
		"mkdir /www && echo from-b > /www/index.html && exec httpd -f -p 8080 -h /www")
	ipB := docker(t, d.env, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "np-b")
	gw := docker(t, d.env, "inspect", "-f", "{{.NetworkSettings.Gateway}}", "np-b")
	l, err := net.Listen("tcp", gw+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\n\r\nfrom-host\n")
			c.Close()
		}
	}()
	for to, want := range map[string]string{ipB + ":8080": "from-b", l.Addr().String(): "from-host"} {
		var out, errOut string
		waitFor(t, func() bool {
			out, errOut, _ = dockerRun(t, d.env, "", "exec", "np-a", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+strings.Replace(to, ":", " ", 1))
			return strings.Contains(out, want)
		}, "np-a reaching "+to, func() string { return out + errOut })
	}
	// container:np-a shares np-a's compartment (taken from the pool);
	// connect and disconnect work on it.
	shared := docker(t, d.env, "run", "--rm", "--network", "container:np-a", "e2e/busybox:1", "sh", "-c", "ip -o addr show eth0")
	ipA := docker(t, d.env, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "np-a")
	if !strings.Contains(shared, "inet "+ipA+"/") {
		t.Errorf("container:np-a does not see np-a's eth0 (%s):\n%s", ipA, shared)
	}
	docker(t, d.env, "network", "create", "np-net")
	defer dockerRun(t, d.env, "", "network", "rm", "np-net")
	docker(t, d.env, "network", "connect", "np-net", "np-a")
	docker(t, d.env, "network", "disconnect", "bridge", "np-a")
	if out := docker(t, d.env, "exec", "np-a", "sh", "-c", "ls /sys/class/net"); strings.Fields(out)[0] != "eth1" || strings.Contains(out, "eth0") {
		t.Errorf("np-a's NICs after connect np-net and disconnect bridge: %q", out)
	}
	docker(t, d.env, "rm", "-f", "np-a", "np-b")

	// A published port answers on the host.
	docker(t, d.env, "run", "-d", "--name", "np-web", "-p", "127.0.0.1::8080", "e2e/busybox:1", "sh", "-c",
		"mkdir /www && echo pooled > /www/index.html && exec httpd -f -p 8080 -h /www")
	hostPort := docker(t, d.env, "port", "np-web", "8080/tcp")
	var body string
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", hostPort, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(c)
		body = string(b)
		return strings.Contains(body, "pooled")
	}, "the published port", func() string { return body })
	docker(t, d.env, "rm", "-f", "np-web")
}

// TestNetpoolNothingLeft: many sequential and 10 parallel docker run --rm
// on the default bridge; then a stopped daemon leaves no compartment,
// veth, bridge, mount or firewall table; a daemon killed with a full pool
// leaves its compartments, which its next start removes (nothing left
// after that daemon's stop).
func TestNetpoolNothingLeft(t *testing.T) {
	buildShim(t)
	d := newPoolDaemon(t)
	d.start()
	loadBusybox(t, d.env, d.dir)
	for i := 0; i < 12; i++ {
		if out, errOut, code := dockerRun(t, d.env, "", "run", "--rm", "e2e/busybox:1", "sh", "-c", "true"); code != 0 {
			t.Fatalf("docker run --rm %d: %d %s %s", i, code, out, errOut)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(context.Background(), "docker", "run", "--rm", "e2e/busybox:1", "sh", "-c", "ip -o addr show eth0")
			cmd.Env = d.env
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "inet ") {
				errs <- fmt.Sprintf("%v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a parallel docker run --rm: %s", e)
	}
	if out := docker(t, d.env, "ps", "-aq"); out != "" {
		t.Errorf("containers left after --rm: %s", out)
	}
	waitFor(t, func() bool { return d.pooled() == 4 }, "the pool refilled")
	d.stop()
	d.waitClean("after the daemon's stop")

	// Killed with a full pool: the compartments made ahead stay (the
	// test would be empty otherwise), the next start removes them.
	d.start()
	waitFor(t, func() bool { return d.pooled() == 4 }, "4 compartments made ahead")
	d.kill()
	if d.pooled() != 4 || len(mountsUnder(t, d.dir)) == 0 {
		t.Fatalf("after a kill, the pool's compartments are gone already: %v", d.leftovers())
	}
	d.start()
	if out, errOut, code := dockerRun(t, d.env, "", "run", "--rm", "e2e/busybox:1", "sh", "-c", "true"); code != 0 {
		t.Errorf("docker run --rm after a crash: %d %s %s", code, out, errOut)
	}
	d.stop()
	d.waitClean("after a kill with a full pool, a start and a stop")
}
