package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInputs13NetworkBesideNone: docker run --network none --network host
// (the CLI sends both endpoints at API 1.44 and later) is refused at
// create with moby's words, and nothing is left; so is host beside a
// user network. The old code ran the container on none alone.
func TestInputs13NetworkBesideNone(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "network", "create", "in13-net")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "none", "--network", "host"}, "container cannot be connected to multiple networks with one of the networks in private (none) mode"},
		{[]string{"--network", "host", "--network", "none"}, "container cannot be connected to multiple networks with one of the networks in private (none) mode"},
	} {
		args := append(append([]string{"run", "--rm", "--name", "in13-multi"}, c.args...), "e2e/busybox:1", "sh", "-c", ":")
		_, stderr, code := dockerRun(t, env, "", args...)
		if code != 125 || !strings.Contains(stderr, c.want) {
			t.Errorf("docker %s: exit %d, %q; want 125 and %q", strings.Join(args, " "), code, stderr, c.want)
		}
	}
	// Through the API: host beside a user network, and a container
	// sharing another's namespace beside a network.
	sock := filepath.Join(dir, "hull.sock")
	docker(t, env, "create", "--name", "in13-peer", "--network", "none", "e2e/busybox:1", "sh")
	for _, c := range []struct{ mode, other, want string }{
		{"host", "in13-net", "container sharing network namespace with another container or host cannot be connected to any other network"},
		{"container:in13-peer", "in13-net", "container sharing network namespace with another container or host cannot be connected to any other network"},
		{"in13-net", "none", "private (none) mode"},
	} {
		a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.44/containers/create?name=in13-api",
			body: `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":{"NetworkMode":"` + c.mode + `"},"NetworkingConfig":{"EndpointsConfig":{"` + c.mode + `":{},"` + c.other + `":{}}}}`})
		if a.code != 400 || !strings.Contains(a.message(), c.want) {
			t.Errorf("create on %s and %s: %d %s, want 400 %q", c.mode, c.other, a.code, a.body, c.want)
		}
	}
	if out := docker(t, env, "ps", "-a", "--format", "{{.Names}}"); out != "in13-peer" {
		t.Errorf("containers left: %q", out)
	}
	// Two user networks at once stay allowed.
	docker(t, env, "network", "create", "in13-net2")
	docker(t, env, "run", "--rm", "--network", "in13-net", "--network", "in13-net2", "e2e/busybox:1", "sh", "-c", ":")
}

// TestInputs13CopyThroughMounts: docker cp reads and writes what the
// container sees below a folder that holds a volume — the old code read
// the layer's empty mount point and wrote beneath the mount — and refuses
// to replace the files hull mounts at /etc (dockerd's "device or
// resource busy"), running or stopped, leaving them as they were.
func TestInputs13CopyThroughMounts(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "in13-cp", "--network", "none", "-v", "in13-vol:/d/vol", "e2e/busybox:1",
		"sh", "-c", "echo in-vol > /d/vol/f; echo top > /d/t; touch /tmp/ready; sleep 300")
	waitFor(t, func() bool {
		_, _, code := dockerRun(t, env, "", "exec", "in13-cp", "sh", "-c", "test -e /tmp/ready")
		return code == 0
	}, "the container's files")
	// Out: the volume's file is in the folder's archive.
	out := filepath.Join(dir, "out")
	docker(t, env, "cp", "in13-cp:/d", out)
	if b, err := os.ReadFile(filepath.Join(out, "vol", "f")); err != nil || string(b) != "in-vol\n" {
		t.Errorf("the volume's file copied out: %q, %v", b, err)
	}
	// In: a folder whose entries go below the volume's mount point.
	src := filepath.Join(dir, "src", "d")
	os.MkdirAll(filepath.Join(src, "vol"), 0o755)
	os.WriteFile(filepath.Join(src, "vol", "new"), []byte("new\n"), 0o644)
	os.WriteFile(filepath.Join(src, "top2"), []byte("top2\n"), 0o644)
	docker(t, env, "cp", src, "in13-cp:/")
	if got := docker(t, env, "exec", "in13-cp", "cat", "/d/vol/new", "/d/top2"); got != "new\ntop2" {
		t.Errorf("copied in, the container sees %q", got)
	}
	if got := docker(t, env, "run", "--rm", "--network", "none", "-v", "in13-vol:/x", "e2e/busybox:1", "cat", "/x/new"); got != "new" {
		t.Errorf("the volume holds %q", got)
	}
	// Onto the files of /etc hull mounts: refused, unchanged.
	hostname := docker(t, env, "exec", "in13-cp", "cat", "/etc/hostname")
	f := filepath.Join(dir, "hostname")
	os.WriteFile(f, []byte("in13-new\n"), 0o644)
	for _, target := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"} {
		_, stderr, code := dockerRun(t, env, "", "cp", f, "in13-cp:"+target)
		if code == 0 || !strings.Contains(stderr, "unlinkat "+target+": device or resource busy") {
			t.Errorf("docker cp onto %s: exit %d, %q", target, code, stderr)
		}
	}
	if got := docker(t, env, "exec", "in13-cp", "cat", "/etc/hostname"); got != hostname {
		t.Errorf("/etc/hostname became %q (was %q)", got, hostname)
	}
	docker(t, env, "stop", "-t", "0", "in13-cp")
	if _, stderr, code := dockerRun(t, env, "", "cp", f, "in13-cp:/etc/hostname"); code == 0 || !strings.Contains(stderr, "device or resource busy") {
		t.Errorf("docker cp onto /etc/hostname of a stopped container: exit %d, %q", code, stderr)
	}
	// Out of a stopped container too.
	out2 := filepath.Join(dir, "out2")
	docker(t, env, "cp", "in13-cp:/d", out2)
	if b, err := os.ReadFile(filepath.Join(out2, "vol", "new")); err != nil || string(b) != "new\n" {
		t.Errorf("the volume's file copied out of a stopped container: %q, %v", b, err)
	}
}

// TestInputs13CreateChecks: wrong inputs moby refuses at create that hull
// took (and, for a tmpfs of negative size, failed at the start with 500):
// each answers 400 with moby's words and makes nothing.
func TestInputs13CreateChecks(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	for _, c := range []struct{ version, body, want string }{
		{"1.52", `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":{"Annotations":{"":"x"}}}`, "invalid Annotations: the empty string is not permitted as an annotation key"},
		{"1.52", `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":{"PortBindings":{"0/tcp":[{"HostPort":"8080"}]}}}`, `invalid port specification: "0/tcp"`},
		{"1.52", `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"SizeBytes":-1}}]}}`, `invalid mount config for type "tmpfs": invalid size: -1`},
	} {
		a := call(t, rawCall{sock: sock, method: "POST", path: "/v" + c.version + "/containers/create?name=in13-bad", body: c.body})
		if a.code != 400 || !strings.Contains(a.message(), c.want) {
			t.Errorf("create %s: %d %s, want 400 %q", c.body, a.code, a.body, c.want)
		}
	}
	// An empty DNS server is no address (it was written to resolv.conf
	// as "nameserver invalid IP").
	if a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.52/containers/create?name=in13-bad",
		body: `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":{"Dns":[""]}}`}); a.code != 400 || a.message() != `invalid IP address in Dns: ""` {
		t.Errorf("create with an empty DNS server: %d %s", a.code, a.body)
	}
	// Annotations are API 1.43's: an older request's are ignored.
	if a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.41/containers/create?name=in13-old",
		body: `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":{"Annotations":{"":"x"}}}`}); a.code != 201 {
		t.Errorf("create at 1.41 with an empty annotation key: %d %s", a.code, a.body)
	}
	if out := docker(t, env, "ps", "-a", "--format", "{{.Names}}"); out != "in13-old" {
		t.Errorf("containers: %q", out)
	}
	// docker run --gpus: hull has no device driver to give them; the
	// container does not run without them.
	_, stderr, code := dockerRun(t, env, "", "run", "--rm", "--network", "none", "--gpus", "all", "e2e/busybox:1", "sh", "-c", ":")
	if code != 125 || !strings.Contains(stderr, `could not select device driver "" with capabilities: [[gpu]]`) {
		t.Errorf("docker run --gpus all: exit %d, %q", code, stderr)
	}
	// A negative soft ulimit is above any hard one, as the kernel sees it.
	docker(t, env, "create", "--name", "in13-ulimit", "--network", "none", "--ulimit", "nproc=-5:10", "e2e/busybox:1", "sh")
	a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.52/containers/in13-ulimit/start"})
	if a.code != 400 || a.message() != "ulimit nproc: soft limit -5 is above the hard limit 10" {
		t.Errorf("start with nproc=-5:10: %d %s", a.code, a.body)
	}
}

// TestInputs13ExecUserAndBuildPrune: docker exec -u with a user the
// container does not have fails at create (moby 28.2), leaving no exec;
// docker builder prune refuses the filters its builder would.
func TestInputs13ExecUserAndBuildPrune(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "in13-exec", "--network", "none", "e2e/busybox:1", "sleep", "300")
	_, stderr, code := dockerRun(t, env, "", "exec", "-u", "in13-nosuchuser", "in13-exec", "sh", "-c", ":")
	if code == 0 || !strings.Contains(stderr, "unable to find user in13-nosuchuser: no matching entries in passwd file") {
		t.Errorf("docker exec -u in13-nosuchuser: exit %d, %q", code, stderr)
	}
	if out := docker(t, env, "inspect", "-f", "{{len .ExecIDs}}", "in13-exec"); out != "0" {
		t.Errorf("execs left: %s", out)
	}
	if out := docker(t, env, "exec", "-u", "1:2", "in13-exec", "sh", "-c", "echo ok"); out != "ok" {
		t.Errorf("docker exec -u 1:2: %q", out)
	}
	for _, c := range []struct{ filter, want string }{
		{"bogus=1", "failed to prune build cache: invalid filter 'bogus'"},
		{"mutable=true", "failed to prune build cache: invalid filter 'mutable'"},
		{"until=soon", `failed to prune build cache: "until" filter expects a duration (e.g., '24h') or a timestamp`},
	} {
		_, stderr, code := dockerRun(t, env, "", "builder", "prune", "-f", "--filter", c.filter)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("docker builder prune --filter %s: exit %d, %q; want %q", c.filter, code, stderr, c.want)
		}
	}
	if out, stderr, code := dockerRun(t, env, "", "builder", "prune", "-f", "--filter", "until=24h"); code != 0 {
		t.Errorf("docker builder prune --filter until=24h: exit %d, %s %s", code, out, stderr)
	}
}

// TestInputs13HealthNoCommand: a CMD-SHELL health check without a command
// is "has no command" (exit -1), as moby's probe says, not "/bin/sh -c"
// run alone (dockerd 20.10 panicked on it).
func TestInputs13HealthNoCommand(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.52/containers/create?name=in13-health",
		body: `{"Image":"e2e/busybox:1","Cmd":["sleep","300"],"HostConfig":{"NetworkMode":"none"},"Healthcheck":{"Test":["CMD-SHELL"],"Interval":1000000000}}`})
	if a.code != 201 {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	docker(t, env, "start", "in13-health")
	var out string
	waitFor(t, func() bool {
		out = docker(t, env, "inspect", "-f", "{{with .State.Health}}{{range .Log}}{{.ExitCode}} {{.Output}}|{{end}}{{end}}", "in13-health")
		return out != ""
	}, "a health probe")
	first, _, _ := strings.Cut(out, "|")
	if !strings.HasPrefix(first, "-1 healthcheck for container ") || !strings.HasSuffix(first, " has no command") {
		t.Errorf("probe: %q", first)
	}
}
