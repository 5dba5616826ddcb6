package conformance

import (
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/hullproject/hull/internal/hosttest"
)

// createBridge makes the bridge dockerd is given (--bridge), with addr
// (10.203.N.1/24) on it, replacing one a killed run left behind.
func createBridge(name, cidr string) error {
	deleteLink(name)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge %s: %w", name, err)
	}
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return err
	}
	ipnet.IP = ip
	if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("address %s on %s: %w", cidr, name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("up %s: %w", name, err)
	}
	return nil
}

func deleteLink(name string) {
	if l, err := netlink.LinkByName(name); err == nil {
		netlink.LinkDel(l)
	}
}

// removeHullNetwork removes what a stopped hull daemon keeps for its next
// start, as Docker's do: the default bridge and the nftables table named
// after its exec root (internal/daemon networkNames).
func removeHullNetwork(execRoot string) {
	bridge := hullBridgeName(execRoot)
	deleteLink(bridge)
	// Its table ip, and the table ip6 of the same name while it had an
	// IPv6 network.
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
		if c, err := nftables.New(); err == nil {
			t := &nftables.Table{Name: "hull_" + bridge[len("hull"):], Family: fam}
			c.AddTable(t)
			c.DelTable(t)
			c.Flush()
		}
	}
}

// hullBridgeName is the default bridge a hull daemon with execRoot makes.
func hullBridgeName(execRoot string) string {
	h := fnv.New32a()
	h.Write([]byte(execRoot))
	return "hull" + fmt.Sprintf("%08x", h.Sum32())[:6]
}

// removeStaleRuns removes what a harness run killed before its cleanup
// (a timeout's panic) left: its folder under /var/tmp (hconf*, with the
// pid of its test binary in owner, no longer alive), the mounts under it
// and hull's bridge and table. The daemons themselves died with the test
// binary (dieWithTest).
func removeStaleRuns(cleanup func(dir string)) {
	dirs, _ := filepath.Glob("/var/tmp/hconf*")
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue // alive: another run of the harness
		}
		removeHullNetwork(filepath.Join(dir, "hull", "exec"))
		if br, err := os.ReadFile(filepath.Join(dir, "bridge")); err == nil {
			deleteLink(strings.TrimSpace(string(br)))
		}
		cleanup(dir)
	}
}

// dieWithTest makes a daemon get SIGTERM if the test binary dies (a
// timeout's panic runs no cleanup).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// forwardingSysctls are the host's forwarding switches that dockerd's and
// hull's bridge networks turn on (IPv4 always, IPv6 with an IPv6 network).
var forwardingSysctls = []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"}

// keepForwarding holds the host's forwarding switches for the run and
// answers the function that lets go: the last test binary holding them
// (cmd/hull's tests run at the same time) puts back what the host had.
func keepForwarding() func() {
	return hosttest.Hold(forwardingSysctls...)
}
