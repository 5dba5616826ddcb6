package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBridgeNameOption: com.docker.network.bridge.name never takes over a
// host interface that is not a bridge (moby's "existing interface X is
// not a bridge"), and a bridge the user made is used but not deleted with
// the network, as moby keeps a bridge it did not create.
func TestBridgeNameOption(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, _ := hullDaemon(t)
	dummy, userBr := fmt.Sprintf("hdum%d", os.Getpid()%100000), fmt.Sprintf("hubr%d", os.Getpid()%100000)
	// A veth stands for any interface that is not a bridge (this kernel
	// has no dummy driver).
	for _, l := range [][]string{{dummy, "veth", "peer", "name", dummy + "p"}, {userBr, "bridge"}} {
		if out, err := exec.Command("ip", append([]string{"link", "add", l[0], "type"}, l[1:]...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip link add %s: %v %s", l[0], err, out)
		}
		name := l[0]
		t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	}
	exists := func(name string) bool { return exec.Command("ip", "link", "show", name).Run() == nil }

	_, e, code := dockerRun(t, env, "", "network", "create", "-o", "com.docker.network.bridge.name="+dummy, "takeover")
	if code == 0 || !strings.Contains(e, "existing interface "+dummy+" is not a bridge") {
		t.Errorf("network create on a veth: %d %s", code, e)
	}
	if _, _, code := dockerRun(t, env, "", "network", "inspect", "takeover"); code == 0 {
		t.Error("the refused network exists")
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", dummy).Output(); !strings.Contains(string(out), dummy) || strings.Contains(string(out), "master") {
		t.Errorf("the veth changed: %s", out)
	}

	docker(t, env, "network", "create", "-o", "com.docker.network.bridge.name="+userBr, "--subnet", "10.123.0.0/24", "usernet")
	if out, _ := exec.Command("ip", "-o", "addr", "show", userBr).Output(); !strings.Contains(string(out), "10.123.0.1/24") {
		t.Errorf("the user's bridge has no gateway address: %s", out)
	}
	docker(t, env, "network", "rm", "usernet")
	if !exists(userBr) {
		t.Error("network rm deleted the bridge the user made")
	}
	if !exists(dummy) {
		t.Error("the veth is gone")
	}

	// A bridge hull makes under a given name goes with its network.
	own := fmt.Sprintf("hown%d", os.Getpid()%100000)
	t.Cleanup(func() { exec.Command("ip", "link", "del", own).Run() })
	docker(t, env, "network", "create", "-o", "com.docker.network.bridge.name="+own, "ownnet")
	if !exists(own) {
		t.Fatal("the named bridge was not made")
	}
	docker(t, env, "network", "rm", "ownnet")
	if exists(own) {
		t.Error("network rm left the bridge hull made")
	}
}
