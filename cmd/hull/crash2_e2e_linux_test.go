package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	bolt "go.etcd.io/bbolt"
)

// crashCase is one crash point of TestCrashPointsMore: the daemon dies at
// point while it runs op (a docker command).
type crashCase struct {
	point string
	// setup makes what op needs (nil: nothing); teardown removes it.
	setup, teardown func()
	op              []string
	// done tells whether op took effect after the restart.
	done func() bool
	// check makes the case's own checks after the restart and says what
	// the restart left (the outcome printed).
	check func(done bool) string
	// undo undoes op when it took effect (docker command; nil when op is
	// a removal, whose effect is the state before setup).
	undo    []string
	removal bool
}

// TestCrashPointsMore kills the daemon at named points of stop, load,
// pull, import, commit, rmi, volume create and rm, network create and rm,
// and exec (HULL_TEST_CRASH_AT), starts it again on the same roots, and
// checks that what the records say (images, volumes, networks,
// containers) and what is on the disk (layers, blobs, volume and
// container folders, leftovers of ingests), in the kernel (mounts under
// the roots, network namespaces, cgroups, links this daemon made, the
// bridges its nftables table names) and among the processes (shims,
// monitors, helpers, the containers' own) is the state before the
// operation or after it, never a mix; that the
// operation can be retried and succeeds; and that hull.db checks clean
// after each crash. It prints "crash at <point>: <outcome>" per case.
func TestCrashPointsMore(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	if _, err := exec.LookPath("docker-registry"); err != nil {
		t.Skip("docker-registry is not installed (apt-get install docker-registry): the pull case needs a registry on loopback")
	}
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	const img = "e2e/busybox:1"
	root, run := filepath.Join(dir, "root"), filepath.Join(dir, "run")
	reg := distributionRegistry(t)
	engineID, err := os.ReadFile(filepath.Join(root, "engine-id"))
	if err != nil {
		t.Fatal(err)
	}
	alias := "hull:" + strings.TrimSpace(string(engineID))
	_, table := daemonNetworkNames(run)

	dk := &crashDaemon{t: t, env: env, dir: dir}
	t.Cleanup(dk.close)
	docker := func(args ...string) string { t.Helper(); return docker(t, env, args...) }
	exists := func(args ...string) bool {
		t.Helper()
		_, _, code := dockerRun(t, env, "", args...)
		return code == 0
	}

	// Images to load and pull, and a tar to import: each adds a layer of
	// its own over busybox's (or, imported, a base layer of its own).
	work := t.TempDir()
	docker("run", "--name", "mk", "--network", "none", img, "sh", "-c", "echo made > /made")
	docker("commit", "mk", "e2e/loaded:1")
	docker("save", "-o", filepath.Join(work, "loaded.tar"), "e2e/loaded:1")
	docker("rmi", "e2e/loaded:1")
	docker("commit", "mk", reg+"/e2e/pulled:1")
	docker("push", reg+"/e2e/pulled:1")
	docker("rmi", reg+"/e2e/pulled:1")
	docker("rm", "mk")
	if err := os.WriteFile(filepath.Join(work, "import.tar"), tarOf(t, map[string]string{"etc/imported": "yes\n"}), 0o644); err != nil {
		t.Fatal(err)
	}

	// snap is the state the checks compare: one sorted list per item.
	list := func(d string) []string {
		ents, _ := os.ReadDir(d)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	lines := func(s string) []string {
		out := strings.Split(strings.TrimSpace(s), "\n")
		if len(out) == 1 && out[0] == "" {
			return nil
		}
		slices.Sort(out)
		return out
	}
	seen := map[string]bool{}
	snap := func() map[string][]string {
		t.Helper()
		s := map[string][]string{
			"layer folders":           list(filepath.Join(root, "layers")),
			"blobs":                   list(filepath.Join(root, "content", "blobs", "sha256")),
			"ingests and spools":      append(list(filepath.Join(root, "content", "ingest")), list(filepath.Join(root, "tmp"))...),
			"volume folders":          list(filepath.Join(root, "volumes")),
			"container folders":       append(list(filepath.Join(root, "containers")), list(filepath.Join(run, "containers"))...),
			"network namespaces":      list(filepath.Join(run, "netns")),
			"mounts":                  slices.DeleteFunc(mountsUnder(t, dir), isPoolMount),
			"images":                  lines(docker("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")),
			"volumes":                 lines(docker("volume", "ls", "--format", "{{.Name}}")),
			"networks":                lines(docker("network", "ls", "--format", "{{.ID}} {{.Name}}")),
			"containers":              lines(docker("ps", "-a", "--format", "{{.Names}} {{.State}}")),
			"links":                   nil,
			"bridges in the firewall": nil,
			"processes":               nil,
		}
		slices.Sort(s["mounts"])
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().Alias == alias {
				name := l.Attrs().Name
				if l.Type() == "veth" {
					name = "a veth" // named by its endpoint, new at each start
				}
				s["links"] = append(s["links"], l.Type()+" "+name)
			}
		}
		slices.Sort(s["links"])
		s["bridges in the firewall"] = firewallInterfaces(table)
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
			if strings.Contains(cmd, dir) && !strings.Contains(cmd, " daemon -H ") {
				s["processes"] = append(s["processes"], procName(cmd))
			}
		}
		slices.Sort(s["processes"])
		// The containers' own processes (inits, execs) and cgroups, of
		// every container the test has made.
		for _, id := range lines(docker("ps", "-aq", "--no-trunc")) {
			seen[id] = true
		}
		cgs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
		for _, p := range cgs {
			b, _ := os.ReadFile(p)
			for id := range seen {
				if strings.Contains(string(b), id) {
					// Which containers have processes, not how many: a
					// shell forks its children at its own pace.
					s["container processes"] = append(s["container processes"], "processes of "+id[:12])
					break
				}
			}
		}
		s["container processes"] = slices.Compact(slices.Sorted(slices.Values(s["container processes"])))
		cgDirs, _ := filepath.Glob("/sys/fs/cgroup/*/*")
		more, _ := filepath.Glob("/sys/fs/cgroup/*/*/*")
		for _, c := range append(cgDirs, more...) {
			for id := range seen {
				if strings.Contains(filepath.Base(c), id) {
					s["cgroups"] = append(s["cgroups"], c)
				}
			}
		}
		slices.Sort(s["cgroups"])
		for k, v := range s {
			if len(v) == 0 {
				delete(s, k)
			}
		}
		return s
	}
	diff := func(what string, got, want map[string][]string) bool {
		t.Helper()
		same := true
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			seen := map[string]bool{}
			for k := range got {
				seen[k] = true
			}
			for k := range want {
				seen[k] = true
			}
			for k := range seen {
				if !yield(k) {
					return
				}
			}
		}) {
			if !slices.Equal(got[k], want[k]) {
				t.Errorf("%s: %s: %q, want %q", what, k, got[k], want[k])
				same = false
			}
		}
		return same
	}
	status := func(name string) string {
		return docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
	}
	hasImage := func(ref string) func() bool { return func() bool { return exists("image", "inspect", ref) } }
	// runSleeper runs a container that exits 3 on SIGTERM.
	runSleeper := func(name string) func() {
		return func() {
			docker("run", "-d", "--name", name, img, "sh", "-c", "trap 'exit 3' TERM; echo hi > /hi; sleep 1000 & wait")
		}
	}
	rmf := func(name string) func() { return func() { docker("rm", "-f", name) } }
	// bridgeOf is network n's bridge.
	bridgeOf := func(n string) string {
		return "hb-" + docker("network", "inspect", "-f", "{{.Id}}", n)[:10]
	}
	inFirewall := func(bridge string) bool { return slices.Contains(firewallInterfaces(table), bridge) }
	isBridge := func(bridge string) bool {
		l, err := netlink.LinkByName(bridge)
		return err == nil && l.Type() == "bridge"
	}
	networkWhole := func(n string) string {
		t.Helper()
		br := bridgeOf(n)
		if !isBridge(br) || !inFirewall(br) {
			t.Errorf("network %s after the restart: bridge %s exists %v, in the firewall %v", n, br, isBridge(br), inFirewall(br))
		}
		return "the network is whole (its bridge and firewall rules made again)"
	}

	var removedBridge string
	cases := []crashCase{{
		point: "stop: the signal is sent, the exit is not awaited",
		setup: runSleeper("c-stop0"), teardown: rmf("c-stop0"),
		op:   []string{"stop", "c-stop0"},
		done: func() bool { return !strings.HasPrefix(status("c-stop0"), "running") },
		check: func(done bool) string {
			// It exits (trap) while the daemon is away.
			if st := status("c-stop0"); st != "exited 3" {
				t.Errorf("stop cut short: %s after the restart, want exited 3 (its real status)", st)
			}
			return "exited while the daemon was away, with its real status (" + status("c-stop0") + "); starts again"
		},
		undo: []string{"start", "c-stop0"},
	}, {
		point: "stop: the process has exited, nothing is cleaned up or recorded",
		setup: runSleeper("c-stop1"), teardown: rmf("c-stop1"),
		op:   []string{"stop", "c-stop1"},
		done: func() bool { return !strings.HasPrefix(status("c-stop1"), "running") },
		check: func(done bool) string {
			if st := status("c-stop1"); st != "exited 3" {
				t.Errorf("stop cut short: %s after the restart, want exited 3 (its real status)", st)
			}
			return "exited with its real status (" + status("c-stop1") + "); starts again"
		},
		undo: []string{"start", "c-stop1"},
	}, {
		point: "stop: the container is cleaned up, its exit is not recorded",
		setup: runSleeper("c-stop2"), teardown: rmf("c-stop2"),
		op:   []string{"stop", "c-stop2"},
		done: func() bool { return !strings.HasPrefix(status("c-stop2"), "running") },
		check: func(done bool) string {
			// The status was recorded before the cleanup began.
			if st := status("c-stop2"); st != "exited 3" {
				t.Errorf("stop cut short: %s after the restart, want exited 3 (its real status)", st)
			}
			return "exited with its real status (" + status("c-stop2") + "); starts again"
		},
		undo: []string{"start", "c-stop2"},
	}, {
		point: "load: the layers are unpacked, the image is not recorded",
		op:    []string{"load", "-i", filepath.Join(work, "loaded.tar")},
		done:  hasImage("e2e/loaded:1"),
		undo:  []string{"rmi", "e2e/loaded:1"},
	}, {
		point: "image: the config and manifests are stored, the record is not",
		op:    []string{"load", "-i", filepath.Join(work, "loaded.tar")},
		done:  hasImage("e2e/loaded:1"),
		undo:  []string{"rmi", "e2e/loaded:1"},
	}, {
		point: "pull: the blobs are fetched and the layers unpacked, the image is not recorded",
		op:    []string{"pull", reg + "/e2e/pulled:1"},
		done:  hasImage(reg + "/e2e/pulled:1"),
		undo:  []string{"rmi", reg + "/e2e/pulled:1"},
	}, {
		point: "ingest: a blob is written, not stored",
		op:    []string{"pull", reg + "/e2e/pulled:1"},
		done:  hasImage(reg + "/e2e/pulled:1"),
		undo:  []string{"rmi", reg + "/e2e/pulled:1"},
	}, {
		point: "layer: the diff is applied in a temporary folder, not named",
		op:    []string{"import", filepath.Join(work, "import.tar"), "e2e/imported:1"},
		done:  hasImage("e2e/imported:1"),
		undo:  []string{"rmi", "e2e/imported:1"},
	}, {
		point: "import: the layer is made, the image is not recorded",
		op:    []string{"import", filepath.Join(work, "import.tar"), "e2e/imported:1"},
		done:  hasImage("e2e/imported:1"),
		undo:  []string{"rmi", "e2e/imported:1"},
	}, {
		point: "commit: the layer is made, the image is not recorded",
		setup: runSleeper("c-commit"), teardown: rmf("c-commit"),
		op:   []string{"commit", "c-commit", "e2e/committed:1"},
		done: hasImage("e2e/committed:1"),
		check: func(bool) string {
			st := status("c-commit")
			if st != "running 0" {
				t.Errorf("commit cut short: the container is %s after the restart, want running (the commit's pause undone)", st)
			}
			return "the container is " + st
		},
		undo: []string{"rmi", "e2e/committed:1"},
	}, {
		point: "rmi: the record is gone, the blobs and layers are not",
		setup: func() { docker("load", "-i", filepath.Join(work, "loaded.tar")) },
		op:    []string{"rmi", "e2e/loaded:1"}, removal: true,
		done: func() bool { return !hasImage("e2e/loaded:1")() },
	}, {
		point: "volume create: the folder is made, the record is not",
		op:    []string{"volume", "create", "v-create"},
		done:  func() bool { return exists("volume", "inspect", "v-create") },
		undo:  []string{"volume", "rm", "v-create"},
	}, {
		point: "volume rm: the folder is gone, the record is not",
		setup: func() { docker("volume", "create", "v-rm") },
		op:    []string{"volume", "rm", "v-rm"}, removal: true,
		done: func() bool { return !exists("volume", "inspect", "v-rm") },
	}, {
		point: "network create: the record is written, the bridge is not",
		op:    []string{"network", "create", "n-create1"},
		done:  func() bool { return exists("network", "inspect", "n-create1") },
		check: func(done bool) string {
			if !done {
				return "no network"
			}
			return networkWhole("n-create1")
		},
		undo: []string{"network", "rm", "n-create1"},
	}, {
		point: "network create: the bridge is made, the firewall is not",
		op:    []string{"network", "create", "n-create2"},
		done:  func() bool { return exists("network", "inspect", "n-create2") },
		check: func(done bool) string {
			if !done {
				return "no network"
			}
			return networkWhole("n-create2")
		},
		undo: []string{"network", "rm", "n-create2"},
	}, {
		point: "network rm: the bridge is gone, the record is not",
		setup: func() { docker("network", "create", "n-rm1"); removedBridge = bridgeOf("n-rm1") },
		op:    []string{"network", "rm", "n-rm1"}, removal: true,
		done: func() bool { return !exists("network", "inspect", "n-rm1") },
		check: func(done bool) string {
			if done {
				return "the network is gone"
			}
			return networkWhole("n-rm1")
		},
	}, {
		point: "network rm: the record is gone, the firewall is not",
		setup: func() { docker("network", "create", "n-rm2"); removedBridge = bridgeOf("n-rm2") },
		op:    []string{"network", "rm", "n-rm2"}, removal: true,
		done: func() bool { return !exists("network", "inspect", "n-rm2") },
		check: func(done bool) string {
			if !done {
				return networkWhole("n-rm2")
			}
			if isBridge(removedBridge) || inFirewall(removedBridge) {
				t.Errorf("network rm cut short: its bridge %s exists %v, in the firewall %v", removedBridge, isBridge(removedBridge), inFirewall(removedBridge))
			}
			return "the network is gone, with its bridge and firewall rules"
		},
	}, {
		point: "exec: the process runs, the exec does not know it",
		setup: runSleeper("c-exec"), teardown: rmf("c-exec"),
		op:   []string{"exec", "c-exec", "sh", "-c", "sleep 1; cat /hi"},
		done: func() bool { return false },
		check: func(bool) string {
			if st := status("c-exec"); st != "running 0" {
				t.Errorf("exec cut short: the container is %s after the restart, want running", st)
			}
			// The exec's process goes on in the container, as under
			// dockerd's live-restore, and its helper with it; both end
			// when it ends (its output has nowhere to go: cat dies of
			// SIGPIPE).
			waitFor(t, func() bool {
				out, _ := exec.Command("pgrep", "-f", "hull-shim helper --root "+run).Output()
				return len(out) == 0
			}, "the cut-short exec's helper to end")
			return "the container runs; the exec's process ends in it, and its helper with it"
		},
	}}

	for _, c := range cases {
		pre := snap()
		if c.setup != nil {
			c.setup()
		}
		base := snap()
		dk.crash(c.point, c.op...)
		done := c.done()
		outcome := "the operation did not happen"
		if done {
			outcome = "the operation happened"
		}
		if c.check != nil {
			outcome += "; " + c.check(done)
		}
		want := base
		if done && c.removal {
			want = pre
		}
		if done && c.undo != nil {
			docker(c.undo...)
		}
		clean := diff("after the restart", snap(), want)
		if !done || !c.removal {
			// The retry.
			docker(c.op...)
			if c.undo != nil {
				docker(c.undo...)
			}
			final := base
			if c.removal {
				final = pre
			}
			clean = diff("after the retry", snap(), final) && clean
			outcome += "; the retry succeeds"
		}
		if c.teardown != nil {
			c.teardown()
		}
		clean = diff("after the teardown", snap(), pre) && clean
		if clean {
			outcome += "; nothing left over"
		} else {
			outcome += "; LEFTOVERS (see the errors)"
		}
		t.Logf("crash at %s: %s", c.point, outcome)
		fmt.Printf("crash at %s: %s\n", c.point, outcome)
	}

	// A detached exec that runs on: the crash leaves its process in the
	// container (and the helper that waits for it); removing the container
	// takes both, and nothing is left.
	const execPoint = "exec: the process runs, the exec does not know it"
	pre := snap()
	runSleeper("c-exec-d")()
	dk.crash(execPoint, "exec", "-d", "c-exec-d", "sh", "-c", "exec sleep 999")
	helpers := func() bool {
		out, _ := exec.Command("pgrep", "-f", "hull-shim helper --root "+run).Output()
		return len(out) > 0
	}
	if !helpers() || !strings.Contains(docker("top", "c-exec-d"), "sleep 999") {
		t.Errorf("detached exec cut short: its process is not running in the container after the restart:\n%s", docker("top", "c-exec-d"))
	}
	docker("rm", "-f", "c-exec-d")
	for i := 0; i < 50 && helpers(); i++ {
		time.Sleep(100 * time.Millisecond) // the helper sees its process go
	}
	outcome := "the exec's process runs on in the container; rm -f takes it and its helper"
	if diff("after rm -f", snap(), pre) && !helpers() {
		outcome += "; nothing left over"
	} else {
		outcome += "; LEFTOVERS (see the errors)"
	}
	t.Logf("crash at %s (exec -d, long-running): %s", execPoint, outcome)
	fmt.Printf("crash at %s (exec -d, long-running): %s\n", execPoint, outcome)
}

// crashDaemon runs hullDaemon's daemon again on its roots, with or without
// a crash point.
type crashDaemon struct {
	t      *testing.T
	env    []string
	dir    string
	daemon *exec.Cmd
}

// stop kills the running daemon as a crash would.
func (d *crashDaemon) stop() {
	if d.daemon != nil {
		d.daemon.Process.Kill()
		d.daemon.Wait()
		d.daemon = nil
		return
	}
	// The first daemon is hullDaemon's.
	out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+d.dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	time.Sleep(200 * time.Millisecond)
}

func (d *crashDaemon) start(crashAt string) {
	t := d.t
	t.Helper()
	cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+filepath.Join(d.dir, "hull.sock"),
		"--data-root", filepath.Join(d.dir, "root"), "--exec-root", filepath.Join(d.dir, "run"),
		"--config-file", filepath.Join(d.dir, "daemon.json"))
	cmd.Env = os.Environ()
	if crashAt != "" {
		cmd.Env = append(cmd.Env, "HULL_TEST_CRASH_AT="+crashAt)
	}
	logf, _ := os.OpenFile(filepath.Join(d.dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.daemon = cmd
	waitFor(t, func() bool { _, _, code := dockerRun(t, d.env, "", "version"); return code == 0 }, "the daemon")
}

// crash runs op on a daemon that dies at point, checks hull.db, then
// starts a daemon that does not die.
func (d *crashDaemon) crash(point string, op ...string) {
	t := d.t
	t.Helper()
	d.stop()
	d.start(point)
	if out, e, code := dockerRun(t, d.env, "", op...); code == 0 {
		t.Fatalf("%v succeeded on a daemon that crashes at %q: %s %s", op, point, out, e)
	}
	if err := d.daemon.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 70") {
		t.Fatalf("the daemon did not crash at %q: %v", point, err)
	}
	d.daemon = nil
	db, err := bolt.Open(filepath.Join(d.dir, "root", "hull.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open hull.db after the crash at %q: %v", point, err)
	}
	db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("hull.db after the crash at %q: %v", point, err)
		}
		return nil
	})
	db.Close()
	d.start("")
}

// close stops the last daemon (SIGINT), for hullDaemon's cleanup.
func (d *crashDaemon) close() {
	if d.daemon != nil {
		removeAllContainers(d.t, filepath.Join(d.dir, "hull.sock"))
		if resp, err := apiClient(filepath.Join(d.dir, "hull.sock")).Post("http://hull/networks/prune", "application/json", nil); err == nil {
			resp.Body.Close()
		}
		d.daemon.Process.Signal(os.Interrupt)
		d.daemon.Wait()
	}
}

// procName is what the checks compare of a process of the daemon's: its
// command line, a monitor's by its container's id only (its config holds
// pids and times that change across restarts).
func procName(cmd string) string {
	if rest, ok := strings.CutPrefix(cmd, "hull-monitor --config "); ok {
		var cfg struct{ ID string }
		json.Unmarshal([]byte(rest), &cfg)
		return "hull-monitor of " + cfg.ID
	}
	return cmd
}

// firewallInterfaces are the interface names the rules of the daemon's
// nftables table compare with (its bridges), sorted, once each.
func firewallInterfaces(table string) []string {
	c, err := nftables.New()
	if err != nil {
		return nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name != table {
			continue
		}
		rules, _ := c.GetRules(ch.Table, ch)
		for _, r := range rules {
			for i, e := range r.Exprs {
				m, ok := e.(*expr.Meta)
				if !ok || (m.Key != expr.MetaKeyIIFNAME && m.Key != expr.MetaKeyOIFNAME) || i+1 >= len(r.Exprs) {
					continue
				}
				if cmp, ok := r.Exprs[i+1].(*expr.Cmp); ok {
					out = append(out, strings.TrimRight(string(cmp.Data), "\x00"))
				}
			}
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}
