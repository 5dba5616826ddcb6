package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubeletHostSysctls are the kernel settings kubelet changes on the node
// when protectKernelDefaults is off (its setupKernelTunables): global, not
// per namespace, so a test that runs kubelet puts them back.
var kubeletHostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// keepHostFromKubelet undoes, when the test ends, what kubelet changes on
// the host outside its own folders: the kernel settings above, and the
// iptables chains it makes (KUBE-FIREWALL, KUBE-KUBELET-CANARY,
// KUBE-IPTABLES-HINT) with the tables that held nothing before. Call it
// before kubelet starts: cleanups run last first, so this runs after
// kubelet is stopped.
func keepHostFromKubelet(t *testing.T) {
	saved := map[string]string{}
	for _, k := range kubeletHostSysctls {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			saved[k] = strings.TrimSpace(string(b))
		}
	}
	tablesBefore := nftTables()
	t.Cleanup(func() {
		for k, v := range saved {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				t.Errorf("put back %s=%s: %v", k, v, err)
			}
		}
		for _, fam := range []struct{ nft, tool string }{{"ip", "iptables"}, {"ip6", "ip6tables"}} {
			for _, table := range []string{"filter", "nat", "mangle"} {
				if !tablesBefore[fam.nft+" "+table] {
					exec.Command("nft", "delete", "table", fam.nft, table).Run()
					continue
				}
				dropKubeChains(fam.tool, table)
			}
		}
	})
}

// nftTables answers the set of "family name" of the host's nftables tables.
func nftTables() map[string]bool {
	out, _ := exec.Command("nft", "list", "tables").Output()
	set := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "table" {
			set[f[1]+" "+f[2]] = true
		}
	}
	return set
}

// dropKubeChains removes kubelet's KUBE-* chains from table, and the rules
// that jump to them.
func dropKubeChains(tool, table string) {
	out, err := exec.Command(tool, "-w", "-t", table, "-S").Output()
	if err != nil {
		return
	}
	var chains []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], "KUBE-"):
			chains = append(chains, f[1])
		case len(f) > 2 && f[0] == "-A" && !strings.HasPrefix(f[1], "KUBE-") && strings.Contains(l, " -j KUBE-"):
			exec.Command(tool, append([]string{"-w", "-t", table, "-D"}, f[1:]...)...).Run()
		}
	}
	for _, c := range chains {
		exec.Command(tool, "-w", "-t", table, "-F", c).Run()
	}
	for _, c := range chains {
		exec.Command(tool, "-w", "-t", table, "-X", c).Run()
	}
}
