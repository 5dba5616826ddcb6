package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/hosttest"
)

// hullDaemon starts `hull daemon` on a private socket and data root, and
// returns the environment that points the docker CLI at it.
func hullDaemon(t *testing.T, extra ...string) (env []string, dir string) {
	t.Helper()
	requireRoot(t)
	dir, err := os.MkdirTemp("/var/tmp", "hulld")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "hull.sock")
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"-D", "daemon", "-H", "unix://" + sock, "--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "run"), "--config-file", filepath.Join(dir, "daemon.json")}, extra...)
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o644)
	cmd := exec.CommandContext(ctx, hullBin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	logf, _ := os.Create(filepath.Join(dir, "daemon.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// The default bridge turns IPv4 forwarding on; the last test binary
	// holding it puts back what the host had (hosttest).
	releaseForwarding := hosttest.Hold("/proc/sys/net/ipv4/ip_forward")
	if err := cmd.Start(); err != nil {
		releaseForwarding()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Live-restore keeps containers running past the daemon: remove
		// them first, then the networks; the default bridge and the
		// firewall table stay with a daemon, as Docker's do, so remove
		// them after it, and let go of IPv4 forwarding.
		removeAllContainers(t, sock)
		if resp, err := apiClient(sock).Post("http://hull/networks/prune", "application/json", nil); err == nil {
			resp.Body.Close()
		}
		cancel()
		cmd.Wait()
		removeDaemonNetwork(filepath.Join(dir, "run"))
		releaseForwarding()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
			t.Logf("daemon log:\n%s", b)
		}
		for _, m := range mountsUnder(t, dir) {
			t.Errorf("mount left: %s", m)
			exec.Command("umount", "-l", m).Run()
		}
		os.RemoveAll(dir)
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return append(os.Environ(), "DOCKER_HOST=unix://"+sock), dir
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
	t.Fatalf("hull daemon did not come up:\n%s", b)
	return nil, ""
}

func requireDockerCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed (Debian's docker.io gives it): skipping the test with the real client")
	}
}

// TestDaemonImagesWithDockerCLI: the unmodified docker CLI against hull:
// version, info, load, images, tag, inspect, history, save, rmi.
func TestDaemonImagesWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	env, dir := hullDaemon(t)
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "e2e/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "e2e/busybox:1")
	id := strings.TrimSpace(hull(t, "--root", pre, "image", "inspect", "--format", "{{.Id}}", "e2e/busybox:1"))

	if v := docker(t, env, "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"); v != "1.56 linux" {
		t.Errorf("docker version: %q", v)
	}
	if info := docker(t, env, "info", "--format", "{{.ServerVersion}} {{.OSType}}"); !strings.HasSuffix(info, " linux") {
		t.Errorf("docker info: %q", info)
	}
	if out := docker(t, env, "load", "-i", archive); !strings.Contains(out, "Loaded image: e2e/busybox:1") {
		t.Errorf("docker load: %q", out)
	}
	docker(t, env, "tag", "e2e/busybox:1", "example.com/other/name:2")
	if out := docker(t, env, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); !strings.Contains(out, "e2e/busybox:1 "+id[7:19]) || !strings.Contains(out, "example.com/other/name:2 "+id[7:19]) {
		t.Errorf("docker images:\n%s", out)
	}
	if got := docker(t, env, "image", "inspect", "--format", "{{.Id}} {{.Os}} {{.GraphDriver.Name}}", "example.com/other/name:2"); got != id+" linux overlay2" {
		t.Errorf("docker image inspect: %q", got)
	}
	if out := docker(t, env, "history", "--no-trunc", "--format", "{{.ID}}", "e2e/busybox:1"); !strings.HasPrefix(out, id) {
		t.Errorf("docker history:\n%s", out)
	}
	saved := filepath.Join(dir, "saved.tar")
	docker(t, env, "save", "-o", saved, "e2e/busybox:1")
	if out := run(t, 0, nil, "tar", "-tf", saved); !strings.Contains(out, "manifest.json") {
		t.Errorf("docker save wrote:\n%s", out)
	}
	if out := docker(t, env, "rmi", "example.com/other/name:2"); !strings.Contains(out, "Untagged: example.com/other/name:2") {
		t.Errorf("docker rmi: %q", out)
	}
	cmd := exec.Command("docker", "rmi", "nothere")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "No such image: nothere:latest") {
		t.Errorf("docker rmi nothere: %v\n%s", err, out)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "daemon.log")); !strings.Contains(string(log), `Calling POST /v1.50/images/load`) {
		t.Errorf("debug mode did not log the API calls:\n%s", log)
	}
}

// TestDaemonAPIVersions: versioned and unversioned paths, too new and too
// old answered as dockerd does, the headers on every answer, bad input 4xx.
func TestDaemonAPIVersions(t *testing.T) {
	_, dir := hullDaemon(t)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", filepath.Join(dir, "hull.sock"))
	}}}
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://hull"+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, b.String()
	}
	for _, p := range []string{"/_ping", "/v1.24/_ping", "/v1.47/_ping", "/v1.56/_ping"} {
		resp, body := get("GET", p)
		if resp.StatusCode != 200 || body != "OK" || resp.Header.Get("Api-Version") != "1.56" || resp.Header.Get("Ostype") != "linux" || resp.Header.Get("Builder-Version") == "" {
			t.Errorf("GET %s: %d %q %v", p, resp.StatusCode, body, resp.Header)
		}
	}
	if resp, _ := get("HEAD", "/_ping"); resp.StatusCode != 200 || resp.Header.Get("Api-Version") != "1.56" {
		t.Errorf("HEAD /_ping: %d %v", resp.StatusCode, resp.Header)
	}
	for path, want := range map[string]string{
		"/v1.99/version": "client version 1.99 is too new. Maximum supported API version is 1.56",
		"/v1.12/version": "client version 1.12 is too old. Minimum supported API version is 1.24",
	} {
		resp, body := get("GET", path)
		var m struct{ Message string }
		json.Unmarshal([]byte(body), &m)
		if resp.StatusCode != 400 || !strings.HasPrefix(m.Message, want) || resp.Header.Get("Api-Version") == "" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	for _, p := range []string{"/images/nothere/json", "/v1.47/images/a/b/c:d/history", "/nothere"} {
		if resp, body := get("GET", p); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, body := get("POST", "/images/nothere/tag"); resp.StatusCode != 400 {
		t.Errorf("tag without repo: %d %s", resp.StatusCode, body)
	}
}

// TestDaemonConfigFile: a flag and daemon.json disagreeing is an error at
// start, as with dockerd; so is an unknown key.
func TestDaemonConfigFile(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	for conf, want := range map[string]string{
		`{"debug": false}`:   "specified both as a flag and in the configuration file: debug",
		`{"no-such-key": 1}`: "don't match any configuration option: no-such-key",
		`{not json`:          "invalid",
	} {
		f := filepath.Join(dir, "daemon.json")
		os.WriteFile(f, []byte(conf), 0o644)
		cmd := exec.Command(hullBin, "-D", "daemon", "--config-file", f, "-H", "unix://"+filepath.Join(dir, "s.sock"), "--data-root", filepath.Join(dir, "root"))
		b, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(b), want) {
			t.Errorf("daemon with %s: exit %d: %s", conf, cmd.ProcessState.ExitCode(), b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "root")); err == nil {
		t.Errorf("a refused start created the data root")
	}
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte("{}"), 0o644)
	cmd := exec.Command(hullBin, "daemon", "-H", "tcp://127.0.0.1:0", "--data-root", filepath.Join(dir, "root"), "--config-file", empty)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "needs --tlsverify") {
		t.Errorf("tcp without TLS: %v %s", err, b)
	}
}

// apiClient talks HTTP to a daemon's unix socket.
func apiClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
}

func removeAllContainers(t *testing.T, sock string) {
	c := apiClient(sock)
	resp, err := c.Get("http://hull/containers/json?all=1")
	if err != nil {
		return
	}
	var list []struct{ Id string }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	for _, x := range list {
		req, _ := http.NewRequest("DELETE", "http://hull/containers/"+x.Id+"?force=1", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// dockerRun runs the docker CLI with stdin and returns stdout, stderr and
// the exit code.
func dockerRun(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, env, stdin, "docker", args...)
}

// runEnv runs name with env and stdin and returns its stdout, stderr and
// exit code.
func runEnv(t *testing.T, env []string, stdin, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// loadBusybox loads a one-layer busybox image, e2e/busybox:1, into the
// daemon through docker load.
func loadBusybox(t *testing.T, env []string, dir string) {
	t.Helper()
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "e2e/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "e2e/busybox:1")
	docker(t, env, "load", "-i", archive)
}

// TestDaemonRunWithDockerCLI: docker run in the foreground (output, stderr,
// exit code, stdin), detached with ps, logs, stop, rm; names; bad input.
func TestDaemonRunWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)

	out, errOut, code := dockerRun(t, env, "", "run", "--rm", "e2e/busybox:1", "sh", "-c", "echo out-$(hostname | wc -c); echo err >&2; exit 3")
	if out != "out-13\n" || errOut != "err\n" || code != 3 {
		t.Errorf("docker run: %q %q %d", out, errOut, code)
	}
	if out, _, code := dockerRun(t, env, "from stdin\n", "run", "-i", "--rm", "e2e/busybox:1", "cat"); out != "from stdin\n" || code != 0 {
		t.Errorf("docker run -i: %q %d", out, code)
	}
	if out := docker(t, env, "ps", "-aq"); out != "" {
		t.Errorf("--rm left containers: %q", out)
	}

	docker(t, env, "run", "-d", "--name", "ticker", "-e", "GREETING=hi", "e2e/busybox:1", "sh", "-c", "trap 'exit 7' TERM; i=0; while :; do echo $GREETING $i; i=$((i+1)); sleep 0.1; done")
	if out := docker(t, env, "ps", "--format", "{{.Names}} {{.State}}"); out != "ticker running" {
		t.Errorf("docker ps: %q", out)
	}
	waitFor(t, func() bool { return strings.Contains(docker(t, env, "logs", "ticker"), "hi 3\n") }, "the container's log")
	trace := hull(t, "diag", "trace", "-H", "unix://"+filepath.Join(dir, "hull.sock"), "ticker")
	for _, step := range []string{"image resolved", "scratch layer created with the container's id", "layer chain read", "layer mounted", "spec written", "shim started", "container created (init waiting to start)", "process started"} {
		if !strings.Contains(trace, step) {
			t.Errorf("the creation trace lacks %q:\n%s", step, trace)
		}
	}
	if out := docker(t, env, "logs", "--tail", "1", "ticker"); !strings.HasPrefix(out, "hi ") || strings.Contains(out, "\n") {
		t.Errorf("docker logs --tail 1: %q", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "-d", "--name", "ticker", "e2e/busybox:1", "sh"); code == 0 || !strings.Contains(errOut, "is already in use") {
		t.Errorf("second container named ticker: %d %s", code, errOut)
	}
	if _, errOut, code := dockerRun(t, env, "", "rm", "ticker"); code == 0 || !strings.Contains(errOut, "Stop the container") {
		t.Errorf("rm of a running container: %d %s", code, errOut)
	}
	docker(t, env, "stop", "ticker")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Name}}", "ticker"); out != "exited 7 /ticker" {
		t.Errorf("inspect after stop: %q", out)
	}
	docker(t, env, "start", "ticker")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "ticker"); out != "running" {
		t.Errorf("after start: %q", out)
	}
	docker(t, env, "restart", "-t", "1", "ticker")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "ticker"); !strings.HasPrefix(out, "running") {
		t.Errorf("after restart: %q", out)
	}
	if out := docker(t, env, "exec", "ticker", "echo", "ok"); out != "ok" {
		t.Errorf("exec: %q", out)
	}
	// logs -f and attach follow the running container until it stops.
	follow := exec.Command("docker", "logs", "-f", "--since", "0", "ticker")
	follow.Env = env
	var followed strings.Builder
	follow.Stdout = &followed
	follow.Start()
	attach := exec.Command("docker", "attach", "--no-stdin", "ticker")
	attach.Env = env
	var attached strings.Builder
	attach.Stdout = &attached
	attach.Start()
	time.Sleep(500 * time.Millisecond)
	docker(t, env, "stop", "ticker")
	done := make(chan struct{})
	go func() { follow.Wait(); attach.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		follow.Process.Kill()
		attach.Process.Kill()
		t.Fatal("logs -f or attach did not end when the container stopped")
	}
	if !strings.Contains(followed.String(), "hi 0\n") || !strings.Contains(attached.String(), "hi ") {
		t.Errorf("logs -f gave %d bytes, attach %q", followed.Len(), attached.String())
	}
	docker(t, env, "rm", "ticker")
	if _, errOut, code := dockerRun(t, env, "", "run", "--pull", "never", "--rm", "no/such:image", "sh"); code == 0 || !strings.Contains(errOut, "No such image: no/such:image") {
		t.Errorf("run of a missing image: %d %s", code, errOut)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--name", "bad name", "e2e/busybox:1", "sh"); code == 0 || !strings.Contains(errOut, "Invalid container name") && !strings.Contains(errOut, "invalid container name") {
		t.Errorf("run with a bad name: %d %s", code, errOut)
	}
}

// TestDaemonLiveRestore: the daemon is killed (SIGKILL); its containers
// keep running; a new daemon reattaches: logs, stop and the exit code of
// one that exited while it was away.
func TestDaemonLiveRestore(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "long", "e2e/busybox:1", "sh", "-c", "trap 'exit 9' TERM; while :; do echo alive; sleep 0.1; done")
	docker(t, env, "run", "-d", "--name", "short", "e2e/busybox:1", "sh", "-c", "sleep 0.5; exit 5")
	out, _ := exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	time.Sleep(time.Second)
	// A second daemon on the same roots.
	sock := filepath.Join(dir, "hull.sock")
	cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+sock, "--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "run"), "--config-file", filepath.Join(dir, "daemon.json"))
	logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAllContainers(t, sock); cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the new daemon")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "long"); out != "running" {
		t.Fatalf("long after the restart: %s", out)
	}
	if out := docker(t, env, "wait", "short"); out != "5" {
		t.Errorf("docker wait short: %q", out)
	}
	if out := docker(t, env, "exec", "long", "echo", "exec-ok"); out != "exec-ok" {
		t.Errorf("exec in the restored container: %q", out)
	}
	if out := docker(t, env, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "long"); !strings.HasPrefix(out, "long ") || strings.HasSuffix(out, " 0") {
		t.Errorf("stats of the restored container: %q", out)
	}
	before := strings.Count(docker(t, env, "logs", "long"), "alive")
	waitFor(t, func() bool { return strings.Count(docker(t, env, "logs", "long"), "alive") > before }, "new log lines")
	docker(t, env, "stop", "long")
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "long"); out != "exited 9" {
		t.Errorf("long after stop: %q", out)
	}
}

// TestDaemonVolumesWithDockerCLI: named volumes persist across containers,
// binds (read-only refused writes), tmpfs, a used volume cannot be
// removed, --rm takes anonymous volumes with it.
func TestDaemonVolumesWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "volume", "create", "data")
	docker(t, env, "run", "--rm", "-v", "data:/data", "e2e/busybox:1", "sh", "-c", "echo persisted > /data/f")
	if out := docker(t, env, "run", "--rm", "-v", "data:/data", "e2e/busybox:1", "cat", "/data/f"); out != "persisted" {
		t.Errorf("named volume: %q", out)
	}
	host := filepath.Join(dir, "hostdir")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "h"), []byte("fromhost\n"), 0o644)
	out, errOut, code := dockerRun(t, env, "", "run", "--rm", "-v", host+":/h:ro", "e2e/busybox:1", "sh", "-c", "cat /h/h; echo x > /h/y")
	if out != "fromhost\n" || code == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("read-only bind: %q %q %d", out, errOut, code)
	}
	if out := docker(t, env, "run", "--rm", "--mount", "type=tmpfs,target=/scratch", "e2e/busybox:1", "sh", "-c", "mount | grep /scratch"); !strings.Contains(out, "tmpfs on /scratch type tmpfs") {
		t.Errorf("tmpfs mount: %q", out)
	}
	docker(t, env, "run", "-d", "--name", "user", "-v", "data:/data", "e2e/busybox:1", "sleep", "100")
	if _, errOut, code := dockerRun(t, env, "", "volume", "rm", "data"); code == 0 || !strings.Contains(errOut, "volume is in use") {
		t.Errorf("rm of a used volume: %d %s", code, errOut)
	}
	if got := docker(t, env, "inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}", "user"); got != "volume data /data true" {
		t.Errorf("inspect Mounts: %q", got)
	}
	docker(t, env, "rm", "-f", "user")
	docker(t, env, "volume", "rm", "data")
	docker(t, env, "run", "--rm", "-v", "/anon", "e2e/busybox:1", "sh", "-c", "exit 0")
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "e2e/busybox:1", "no-such-command"); code != 127 || !strings.Contains(errOut, "executable file not found") {
		t.Errorf("run of a missing command: %d %s", code, errOut)
	}
	if out := docker(t, env, "volume", "ls", "-q"); out != "" {
		t.Errorf("volumes left: %q", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "-v", "bad name:/x", "e2e/busybox:1", "sh"); code == 0 || errOut == "" {
		t.Errorf("a bad volume name: %d %s", code, errOut)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "-v", "/proc:/proc", "e2e/busybox:1", "sh"); code == 0 || !strings.Contains(errOut, "nothing may be mounted over it") {
		t.Errorf("a bind over /proc: %d %s", code, errOut)
	}
	if out := docker(t, env, "ps", "-aq"); out != "" {
		t.Errorf("refused creates left containers: %q", out)
	}
	if mounts := leftMountsUnder(t, dir); len(mounts) > 0 {
		t.Errorf("refused creates left mounts: %v", mounts)
	}
}

// TestDaemonImportPushPull: docker import (with --change), push to the
// distribution registry and pull back, through hull's API.
func TestDaemonImportPushPull(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	reg := distributionRegistry(t)
	env, dir := hullDaemon(t)
	rootfs := filepath.Join(dir, "rootfs.tar")
	os.WriteFile(rootfs, busyboxTar(t), 0o644)
	docker(t, env, "import", "--change", `CMD ["echo", "imported ok"]`, rootfs, "e2e/imported:1")
	if out := docker(t, env, "run", "--rm", "e2e/imported:1"); out != "imported ok" {
		t.Errorf("run of the imported image: %q", out)
	}
	remote := reg + "/e2e/imported:1"
	docker(t, env, "tag", "e2e/imported:1", remote)
	if out := docker(t, env, "push", remote); !strings.Contains(out, "digest: sha256:") {
		t.Errorf("docker push: %s", out)
	}
	id := docker(t, env, "image", "inspect", "-f", "{{.Id}}", remote)
	docker(t, env, "rmi", remote, "e2e/imported:1")
	if out := docker(t, env, "pull", remote); !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("docker pull: %s", out)
	}
	if got := docker(t, env, "image", "inspect", "-f", "{{.Id}}", remote); got != id {
		t.Errorf("pulled %s, pushed %s", got, id)
	}
	if _, errOut, code := dockerRun(t, env, "", "pull", reg+"/e2e/nothere:1"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("pull of a missing image: %d %s", code, errOut)
	}
}

// TestDaemonRunFlags: the docker run flags the daemon honours so far, ps
// filters, and restart policies.
func TestDaemonRunFlags(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t, "--default-ulimit", "nproc=300:400")
	loadBusybox(t, env, dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-w", "/tmp", "e2e/busybox:1", "sh", "-c", "pwd"}, "/tmp"},
		// As dockerd: the primary group is among the supplementary ones.
		{[]string{"-u", "1234:5678", "e2e/busybox:1", "sh", "-c", "id"}, "uid=1234 gid=5678 groups=5678"},
		{[]string{"--entrypoint", "echo", "e2e/busybox:1", "from", "entrypoint"}, "from entrypoint"},
		{[]string{"-e", "A=1", "--env", "B=2", "e2e/busybox:1", "sh", "-c", "echo $A$B"}, "12"},
		{[]string{"--hostname", "box", "e2e/busybox:1", "hostname"}, "box"},
		{[]string{"--read-only", "e2e/busybox:1", "sh", "-c", "touch /x 2>&1; true"}, "touch: /x: Read-only file system"},
		{[]string{"--memory", "64m", "e2e/busybox:1", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"}, "67108864"},
		{[]string{"--pids-limit", "42", "e2e/busybox:1", "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"}, "42"},
		{[]string{"--cap-drop", "ALL", "e2e/busybox:1", "sh", "-c", "grep CapEff /proc/self/status"}, "CapEff:\t0000000000000000"},
		{[]string{"--cap-add", "NET_ADMIN", "e2e/busybox:1", "sh", "-c", "grep -c . /proc/self/status >/dev/null; grep CapBnd /proc/self/status"}, "CapBnd:\t00000000a80435fb"},
		{[]string{"--add-host", "db:10.1.2.3", "e2e/busybox:1", "sh", "-c", "grep -E '[[:space:]]db$' /etc/hosts"}, "10.1.2.3\tdb"},
		{[]string{"--network", "none", "e2e/busybox:1", "sh", "-c", "ls /sys/class/net"}, "lo"},
		{[]string{"--ulimit", "nofile=512:1024", "e2e/busybox:1", "sh", "-c", "echo $(ulimit -n) $(ulimit -Hn) $(ulimit -u)"}, "512 1024 300"},
	} {
		out, errOut, code := dockerRun(t, env, "", append([]string{"run", "--rm"}, c.args...)...)
		if code != 0 || strings.TrimSpace(out) != c.want {
			t.Errorf("docker run %v: %d %q %s; want %q", c.args, code, out, errOut, c.want)
		}
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--cap-add", "NOT_A_CAP", "e2e/busybox:1", "sh"); code == 0 || !strings.Contains(errOut, "unknown capability") {
		t.Errorf("--cap-add NOT_A_CAP: %d %s", code, errOut)
	}

	docker(t, env, "run", "-d", "--name", "labelled", "-l", "team=blue", "e2e/busybox:1", "sleep", "100")
	if _, _, code := dockerRun(t, env, "", "run", "--name", "failed", "e2e/busybox:1", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3 gave %d", code)
	}
	for filter, want := range map[string]string{
		"label=team=blue": "labelled",
		"status=exited":   "failed",
		"exited=3":        "failed",
		"name=label":      "labelled",
	} {
		if out := docker(t, env, "ps", "-a", "--filter", filter, "--format", "{{.Names}}"); out != want {
			t.Errorf("ps --filter %s: %q, want %q", filter, out, want)
		}
	}

	docker(t, env, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "e2e/busybox:1", "sh", "-c", "exit 1")
	waitFor(t, func() bool {
		return docker(t, env, "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "flaky") == "exited 2"
	}, "two restarts of flaky, then exited")
}

// TestDaemonTLS: -H tcp:// with --tlsverify answers only clients with a
// certificate from the CA; the docker CLI with --tlsverify gets through.
func TestDaemonTLS(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "hull test CA", true)
	write := func(name string, der []byte, key *ecdsa.PrivateKey) {
		os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		kb, _ := x509.MarshalECPrivateKey(key)
		os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	}
	caCert, _ := x509.ParseCertificate(ca)
	write("ca", ca, caKey)
	srv, srvKey := newCert(t, caCert, caKey, "127.0.0.1", false)
	write("server", srv, srvKey)
	cli, cliKey := newCert(t, caCert, caKey, "client", false)
	write("cert", cli, cliKey)
	os.Rename(filepath.Join(dir, "cert-key.pem"), filepath.Join(dir, "key.pem"))
	port := freePort(t)
	conf := filepath.Join(dir, "daemon.json")
	os.WriteFile(conf, []byte("{}"), 0o644)
	cmd := exec.Command(hullBin, "daemon", "-H", fmt.Sprintf("tcp://127.0.0.1:%d", port), "--tlsverify",
		"--tlscacert", filepath.Join(dir, "ca.pem"), "--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem"),
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "run"), "--config-file", conf)
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the TLS listener")
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	// Without a client certificate the handshake fails.
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := noCert.Get("https://" + addr + "/_ping"); err == nil {
		resp.Body.Close()
		t.Errorf("a client without a certificate got %s", resp.Status)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	resp, err := withCert.Get("https://" + addr + "/_ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with a client certificate: %v %v\n%s", resp, err, log.String())
	}
	resp.Body.Close()
	if _, err := exec.LookPath("docker"); err == nil {
		c := exec.Command("docker", "--tlsverify", "-H", "tcp://"+addr, "version", "--format", "{{.Server.Platform.Name}}")
		c.Env = append(os.Environ(), "DOCKER_CERT_PATH="+dir)
		if out, err := c.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "hull" {
			t.Errorf("docker --tlsverify version: %v %s", err, out)
		}
	}
}

// newCert makes an ECDSA certificate signed by parent (self-signed when
// nil), for 127.0.0.1 when name is an address.
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, isCA bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// TestDaemonTerminalWithDockerCLI: docker run -it and docker exec -it
// through a terminal that tmux provides: the shell's prompt, the window
// size, the exit code.
func TestDaemonTerminalWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (apt-get install tmux); it provides the terminal")
	}
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "web", "e2e/busybox:1", "sleep", "1000")
	host := "DOCKER_HOST=unix://" + filepath.Join(dir, "hull.sock")
	for i, c := range []struct{ name, cmd string }{
		{"run -it", host + " docker run -it --rm e2e/busybox:1 sh"},
		{"exec -it", host + " docker exec -it web sh"},
	} {
		// A tmux server of its own for each terminal.
		sock := fmt.Sprintf("hull-e2e-%d-%d", time.Now().UnixNano(), i)
		tm := func(args ...string) string {
			t.Helper()
			return run(t, 0, nil, tmux, append([]string{"-L", sock}, args...)...)
		}
		t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
		screen := func() string { return tm("capture-pane", "-p") }
		tm("new-session", "-d", "-x", "91", "-y", "27", c.cmd+"; echo exit=$?; sleep 30")
		waitFor(t, func() bool { return strings.Contains(screen(), "/ #") }, c.name+": the shell's prompt", screen)
		tm("send-keys", "stty size; exit 6", "Enter")
		waitFor(t, func() bool { return strings.Contains(screen(), "exit=") }, c.name+": the end", screen)
		if s := screen(); !strings.Contains(s, "27 91") || !strings.Contains(s, "exit=6") {
			t.Errorf("%s:\n%s", c.name, s)
		}
	}
}

// TestDaemonStatsWithDockerCLI: docker stats shows a busy container's CPU
// and an idle one's ~0.
func TestDaemonStatsWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "busy", "e2e/busybox:1", "sh", "-c", "while :; do :; done")
	docker(t, env, "run", "-d", "--name", "idle", "e2e/busybox:1", "sleep", "100")
	out := docker(t, env, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}", "busy", "idle")
	var busy, idle float64
	for _, l := range strings.Split(out, "\n") {
		var name string
		var cpu float64
		fmt.Sscanf(l, "%s %f%%", &name, &cpu)
		switch name {
		case "busy":
			busy = cpu
		case "idle":
			idle = cpu
		}
	}
	if busy < 20 || idle > 5 {
		t.Errorf("docker stats:\n%s", out)
	}
}

// TestDaemonBadInput: each bad request is 4xx with a clear message, and
// nothing is left half-created.
func TestDaemonBadInput(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	c := apiClient(filepath.Join(dir, "hull.sock"))
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := c.Post("http://hull"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m.Message
	}
	for _, c := range []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"malformed JSON", "/containers/create", `{"Image": "e2e/busybox:1",`, 400, "invalid JSON: unexpected EOF"},
		{"a name with /", "/containers/create?name=a/b", `{"Image": "e2e/busybox:1", "Cmd": ["sh"]}`, 400, "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{"a missing image", "/containers/create", `{"Image": "no/such:image", "Cmd": ["sh"]}`, 404, "No such image: no/such:image"},
		{"a bind over /proc", "/containers/create", `{"Image": "e2e/busybox:1", "Cmd": ["sh"], "HostConfig": {"Binds": ["/proc:/proc"]}}`, 400, "nothing may be mounted over it"},
		{"an unknown restart policy", "/containers/create", `{"Image": "e2e/busybox:1", "Cmd": ["sh"], "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}`, 400, "invalid restart policy"},
		{"a wrong type", "/containers/create", `{"Image": 42}`, 400, "invalid JSON"},
		{"a body over the limit", "/containers/create", `{"Image": "` + strings.Repeat("x", 11<<20) + `"}`, 413, "over"},
		{"an unknown container", "/containers/nothere/start", ``, 404, "No such container: nothere"},
		{"wait on an unknown container", "/containers/nothere/wait?condition=next-exit", ``, 404, "No such container"},
	} {
		status, msg := post(c.path, c.body)
		if status != c.status || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, status, msg, c.status, c.msg)
		}
	}
	if out := docker(t, env, "ps", "-aq"); out != "" {
		t.Errorf("refused creates left containers: %q", out)
	}
	// A network may be made between create and start, as with dockerd: the
	// create takes a missing one, the start fails with 404.
	if status, msg := post("/containers/create?name=nonet", `{"Image": "e2e/busybox:1", "Cmd": ["sh"], "HostConfig": {"NetworkMode": "nowhere"}}`); status != 201 {
		t.Errorf("create on a missing network: %d %q", status, msg)
	}
	if status, msg := post("/containers/nonet/start", ``); status != 404 || msg != "network nowhere not found" {
		t.Errorf("start on a missing network: %d %q", status, msg)
	}
	docker(t, env, "rm", "nonet")
	if m := leftMountsUnder(t, dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "root", "containers"))
	if len(entries) > 0 {
		t.Errorf("container folders left: %v", entries)
	}
	if layers, _ := os.ReadDir(filepath.Join(dir, "root", "layers")); len(layers) != 3 {
		t.Errorf("layers: %v, want the image's one, its init layer and the trash (no scratch layer left)", layers)
	}
	// The acceptance's own command, through the docker CLI.
	if out := docker(t, env, "run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "1000", "e2e/busybox:1", "sh", "-c", "echo $A; pwd; id -u"); out != "1\n/tmp\n1000" {
		t.Errorf("run -e -w -u: %q", out)
	}
}

// TestDaemonPauseRenameTopDiff: docker pause stops a counter, unpause lets
// it go on; rename; top lists the container's processes; diff shows what a
// running container changed (and not the runtime's mount points).
func TestDaemonPauseRenameTopDiff(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "counter", "e2e/busybox:1", "sh", "-c",
		"i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.05; done")
	waitFor(t, func() bool {
		_, _, code := dockerRun(t, env, "", "exec", "counter", "cat", "/tmp/counter")
		return code == 0
	}, "the counter")
	docker(t, env, "pause", "counter")
	if out := docker(t, env, "ps", "--format", "{{.Status}}"); !strings.HasSuffix(out, "(Paused)") {
		t.Errorf("ps of a paused container: %q", out)
	}
	counter := func() int {
		b, err := os.ReadFile(filepath.Join(dir, "root", "layers", docker(t, env, "inspect", "-f", "{{.Id}}", "counter"), "diff", "tmp", "counter"))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		fmt.Sscan(string(b), &n)
		return n
	}
	a := counter()
	time.Sleep(300 * time.Millisecond)
	if b := counter(); b != a {
		t.Errorf("the counter went on while paused: %d -> %d", a, b)
	}
	docker(t, env, "unpause", "counter")
	waitFor(t, func() bool { return counter() > a }, "the counter to go on after unpause")
	docker(t, env, "rename", "counter", "renamed")
	if out := docker(t, env, "top", "renamed"); !strings.Contains(out, "while :; do") || !strings.Contains(out, "PID") {
		t.Errorf("top:\n%s", out)
	}
	if out := docker(t, env, "diff", "renamed"); out != "C /tmp\nA /tmp/counter" {
		t.Errorf("diff of the running container: %q", out)
	}
	docker(t, env, "rm", "-f", "renamed")
}

// TestDaemonEventsWithDockerCLI: docker events shows create, attach,
// start, die, destroy of a run --rm live (as dockerd), and image events with --since/--until.
func TestDaemonEventsWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	ev := exec.Command("docker", "events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", "--filter", "type=container")
	ev.Env = env
	var out strings.Builder
	ev.Stdout = &out
	if err := ev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ev.Process.Kill(); ev.Wait() }()
	time.Sleep(300 * time.Millisecond)
	docker(t, env, "run", "--rm", "--name", "evt", "e2e/busybox:1", "sh", "-c", "exit 0")
	want := "container create evt\ncontainer attach evt\ncontainer start evt\ncontainer die evt\ncontainer destroy evt\n"
	waitFor(t, func() bool { return strings.Contains(out.String(), want) }, "the events of run --rm", func() string { return out.String() })
	since := time.Now().Add(-time.Second).Unix()
	docker(t, env, "tag", "e2e/busybox:1", "e2e/tagged:1")
	docker(t, env, "rmi", "e2e/tagged:1")
	got := docker(t, env, "events", "--since", fmt.Sprint(since), "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "type=image", "--filter", "event=tag", "--filter", "event=untag", "--format", "{{.Action}}")
	if got != "tag\nuntag" {
		t.Errorf("image events: %q", got)
	}
}

// TestDaemonExportDfPrune: docker export of a running and a stopped
// container, system df, system prune, image prune -a.
func TestDaemonExportDfPrune(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "running", "e2e/busybox:1", "sh", "-c", "echo hi > /tmp/new; sleep 100")
	waitFor(t, func() bool { return strings.Contains(docker(t, env, "diff", "running"), "/tmp/new") }, "the file")
	exportList := func(name string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", "docker export "+name+" | tar -t")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("export %s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	if out := exportList("running"); !strings.Contains(out, "tmp/new\n") || !strings.Contains(out, "bin/busybox\n") {
		t.Errorf("export of the running container:\n%s", out)
	}
	if _, _, code := dockerRun(t, env, "", "run", "--name", "stopped", "e2e/busybox:1", "sh", "-c", "echo bye > /gone"); code != 0 {
		t.Fatal("run stopped")
	}
	if out := exportList("stopped"); !strings.Contains(out, "gone\n") {
		t.Errorf("export of the stopped container:\n%s", out)
	}
	if m := mountsUnder(t, filepath.Join(dir, "root", "layers", docker(t, env, "inspect", "-f", "{{.Id}}", "stopped"))); len(m) > 0 {
		t.Errorf("export left the stopped container mounted: %v", m)
	}
	df := docker(t, env, "system", "df")
	for _, want := range []string{"Images ", "Containers ", "Local Volumes ", "Build Cache "} {
		if !strings.Contains(df, want) {
			t.Errorf("system df lacks %q:\n%s", want, df)
		}
	}
	if out := docker(t, env, "system", "prune", "-f"); !strings.Contains(out, "Deleted Containers:") {
		t.Errorf("system prune -f: %s", out)
	}
	if out := docker(t, env, "ps", "-a", "--format", "{{.Names}}"); out != "running" {
		t.Errorf("after system prune: %q", out)
	}
	docker(t, env, "tag", "e2e/busybox:1", "e2e/extra:1")
	docker(t, env, "rm", "-f", "running")
	if out := docker(t, env, "image", "prune", "-af"); !strings.Contains(out, "untagged: e2e/extra:1") {
		t.Errorf("image prune -a: %s", out)
	}
	if out := docker(t, env, "images", "-q"); out != "" {
		t.Errorf("images after prune -a: %q", out)
	}
}

// TestDaemonCommitWithDockerCLI: docker commit of a running container
// (paused while its layer is read), then a run of the new image sees the
// change, the deletion and the new CMD.
func TestDaemonCommitWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "src", "e2e/busybox:1", "sh", "-c", "echo committed > /hello; rm /bin/hostname; sleep 100")
	waitFor(t, func() bool { return strings.Contains(docker(t, env, "diff", "src"), "/hello") }, "the change")
	docker(t, env, "commit", "--change", `CMD ["cat", "/hello"]`, "-m", "a commit", "src", "e2e/committed:1")
	if out := docker(t, env, "run", "--rm", "e2e/committed:1"); out != "committed" {
		t.Errorf("run of the committed image: %q", out)
	}
	if _, _, code := dockerRun(t, env, "", "run", "--rm", "e2e/committed:1", "sh", "-c", "test -e /bin/hostname"); code == 0 {
		t.Error("the deletion did not carry into the committed image")
	}
	if out := docker(t, env, "inspect", "-f", "{{.State.Status}}", "src"); out != "running" {
		t.Errorf("the source after commit: %q", out)
	}
	if out := docker(t, env, "history", "--format", "{{.Comment}}", "e2e/committed:1"); !strings.HasPrefix(out, "a commit") {
		t.Errorf("history: %q", out)
	}
}

// TestDaemonHealthWithDockerCLI: a failing health check turns the
// container unhealthy (inspect, ps, health_status events); a passing one
// healthy. docker update changes a running container's limits.
func TestDaemonHealthWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "sick", "--health-cmd", "exit 1", "--health-interval", "200ms", "--health-retries", "2", "e2e/busybox:1", "sleep", "100")
	docker(t, env, "run", "-d", "--name", "fine", "--health-cmd", "echo ok", "--health-interval", "200ms", "e2e/busybox:1", "sleep", "100")
	waitFor(t, func() bool {
		return docker(t, env, "inspect", "-f", "{{.State.Health.Status}}", "sick") == "unhealthy" &&
			docker(t, env, "inspect", "-f", "{{.State.Health.Status}}", "fine") == "healthy"
	}, "the health checks", func() string { return docker(t, env, "ps") })
	if out := docker(t, env, "ps", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(out, "(unhealthy)") || !strings.Contains(out, "(healthy)") {
		t.Errorf("ps:\n%s", out)
	}
	if out := docker(t, env, "inspect", "-f", "{{(index .State.Health.Log 0).Output}}", "fine"); out != "ok" {
		t.Errorf("the check's output: %q", out)
	}
	evs := docker(t, env, "events", "--since", "0", "--until", fmt.Sprint(time.Now().Unix()+1), "--filter", "event=health_status", "--format", "{{.Actor.Attributes.name}} {{.Action}}")
	if !strings.Contains(evs, "sick health_status: unhealthy") || !strings.Contains(evs, "fine health_status: healthy") {
		t.Errorf("health events:\n%s", evs)
	}
	// As dockerd: a memory limit on a container that had none comes with
	// its swap limit.
	docker(t, env, "update", "--memory", "32m", "--memory-swap", "64m", "--pids-limit", "17", "fine")
	if out := docker(t, env, "exec", "fine", "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"); out != "17" {
		t.Errorf("pids.max after update: %q", out)
	}
}

// TestDaemonCopyWithDockerCLI: docker cp both ways, running and stopped;
// ownership without and with -a; a read-only root refused.
func TestDaemonCopyWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "box", "e2e/busybox:1", "sh", "-c", "mkdir -p /data/sub; echo inside > /data/sub/f; sleep 100")
	waitFor(t, func() bool {
		_, _, code := dockerRun(t, env, "", "exec", "box", "cat", "/data/sub/f")
		return code == 0
	}, "the file")
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	docker(t, env, "cp", "box:/data", out)
	if b, err := os.ReadFile(filepath.Join(out, "data", "sub", "f")); err != nil || string(b) != "inside\n" {
		t.Errorf("cp out of a running container: %q %v", b, err)
	}
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("from the host\n"), 0o640)
	os.Chown(in, 1234, 1234)
	docker(t, env, "cp", in, "box:/data/")
	// The tar's owners stay, as with dockerd (docker cp sends the host's).
	if got := docker(t, env, "exec", "box", "sh", "-c", "cat /data/in.txt; stat -c '%u:%g %a' /data/in.txt"); got != "from the host\n1234:1234 640" {
		t.Errorf("cp into a running container: %q", got)
	}
	docker(t, env, "cp", "-a", in, "box:/data/kept.txt")
	if got := docker(t, env, "exec", "box", "sh", "-c", "stat -c %u:%g /data/kept.txt"); got != "1234:1234" {
		t.Errorf("cp -a ownership: %q", got)
	}
	docker(t, env, "stop", "-t", "0", "box")
	docker(t, env, "cp", in, "box:/")
	stopped := filepath.Join(dir, "stopped")
	os.MkdirAll(stopped, 0o755)
	docker(t, env, "cp", "box:/in.txt", stopped)
	if b, _ := os.ReadFile(filepath.Join(stopped, "in.txt")); string(b) != "from the host\n" {
		t.Errorf("cp in and out of a stopped container: %q", b)
	}
	if m := mountsUnder(t, filepath.Join(dir, "root", "layers")); len(m) > 0 {
		t.Errorf("cp left the stopped container mounted: %v", m)
	}
	// Into and out of a volume and a read-only bind: their own files.
	docker(t, env, "run", "-d", "--name", "vols", "-v", "cpvol:/vol", "-v", dir+":/hostro:ro", "e2e/busybox:1", "sleep", "100")
	docker(t, env, "cp", in, "vols:/vol/")
	if got := docker(t, env, "exec", "vols", "cat", "/vol/in.txt"); got != "from the host" {
		t.Errorf("cp into a volume: %q", got)
	}
	if _, errOut, code := dockerRun(t, env, "", "cp", in, "vols:/hostro/"); code == 0 || !strings.Contains(errOut, "read-only") {
		t.Errorf("cp into a read-only bind: %d %s", code, errOut)
	}
	fromVol := filepath.Join(dir, "fromvol")
	os.MkdirAll(fromVol, 0o755)
	docker(t, env, "cp", "vols:/vol/in.txt", fromVol)
	if b, _ := os.ReadFile(filepath.Join(fromVol, "in.txt")); string(b) != "from the host\n" {
		t.Errorf("cp out of a volume: %q", b)
	}
	docker(t, env, "run", "-d", "--name", "ro", "--read-only", "e2e/busybox:1", "sleep", "100")
	if _, errOut, code := dockerRun(t, env, "", "cp", in, "ro:/tmp/"); code == 0 || !strings.Contains(errOut, "read-only") {
		t.Errorf("cp into a read-only root: %d %s", code, errOut)
	}
	if _, errOut, code := dockerRun(t, env, "", "cp", "box:/nothere", dir); code == 0 || !strings.Contains(errOut, "Could not find the file") {
		t.Errorf("cp of a missing file: %d %s", code, errOut)
	}
}

// TestDaemonCopyEscapes: nothing outside the container's root is read or
// written by docker cp — through a symbolic link in the container that
// points at a host path, nor through one swapped in and out of place
// while copies run (CVE-2018-15664). hull never runs anything inside the
// container to copy (CVE-2019-14271 was docker-tar loading the container's
// libraries).
func TestDaemonCopyEscapes(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	host := filepath.Join(dir, "hostside")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "secret"), []byte("host secret\n"), 0o600)
	docker(t, env, "run", "-d", "--name", "evil", "e2e/busybox:1", "sh", "-c",
		"mkdir -p /x; ln -s "+host+" /x/link; mkdir -p /w; while :; do mkdir -p /w/d; rmdir /w/d; ln -s "+host+" /w/d; rm /w/d; done")
	waitFor(t, func() bool {
		_, _, code := dockerRun(t, env, "", "exec", "evil", "sh", "-c", "test -L /x/link")
		return code == 0
	}, "the links")
	payload := filepath.Join(dir, "payload")
	os.WriteFile(payload, []byte("planted\n"), 0o644)
	// Through a fixed link: the container's own path, which is empty.
	dockerRun(t, env, "", "cp", payload, "evil:/x/link/")
	got := filepath.Join(dir, "got")
	os.MkdirAll(got, 0o755)
	dockerRun(t, env, "", "cp", "evil:/x/link/secret", got)
	// Through a link swapped in and out while the copies run.
	for i := 0; i < 40; i++ {
		dockerRun(t, env, "", "cp", payload, "evil:/w/d/")
		dockerRun(t, env, "", "cp", "evil:/w/d/secret", got)
	}
	if _, err := os.Stat(filepath.Join(host, "payload")); err == nil {
		t.Error("docker cp wrote outside the container")
	}
	if b, err := os.ReadFile(filepath.Join(got, "secret")); err == nil {
		t.Errorf("docker cp read outside the container: %q", b)
	}
	entries, _ := os.ReadDir(host)
	if len(entries) != 1 {
		t.Errorf("the host folder changed: %v", entries)
	}
}

// TestDaemonReconcile: what a daemon killed in the middle of a create
// leaves (a scratch layer, mounted, and a container of the compute service
// with its bundle, but no record) is removed by the next start; a
// container that `hull runtime` made itself on the same root is left alone.
func TestDaemonReconcile(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "kept", "e2e/busybox:1", "sleep", "100")
	id := docker(t, env, "inspect", "-f", "{{.Id}}", "kept")
	// Kill the daemon, then remove the container's record by hand: what
	// remains is what a crash between the layer and the record leaves.
	out, _ := exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	time.Sleep(200 * time.Millisecond)
	dbDropContainer(t, filepath.Join(dir, "root", "hull.db"), id)
	// A container of hull runtime's own under the same runtime root.
	bundle := filepath.Join(dir, "ownbundle")
	os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755)
	run(t, 0, busyboxTar(t), "tar", "-C", filepath.Join(bundle, "rootfs"), "-xf", "-")
	hull(t, "runtime", "--root", filepath.Join(dir, "run", "runtime"), "spec", "-b", bundle, "--terminal=false", "--args", "sleep", "--args", "100")
	hull(t, "runtime", "--root", filepath.Join(dir, "run", "runtime"), "run", "-d", "-b", bundle, "own")
	t.Cleanup(func() {
		exec.Command(hullBin, "runtime", "--root", filepath.Join(dir, "run", "runtime"), "delete", "-f", "own").Run()
	})

	sock := filepath.Join(dir, "hull.sock")
	cmd := exec.Command(hullBin, "-D", "daemon", "-H", "unix://"+sock, "--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "run"), "--config-file", filepath.Join(dir, "daemon.json"))
	logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the new daemon")
	if _, err := os.Stat(filepath.Join(dir, "root", "layers", id)); !os.IsNotExist(err) {
		t.Errorf("the leftover scratch layer remains: %v", err)
	}
	if m := mountsUnder(t, filepath.Join(dir, "root")); len(m) > 0 {
		t.Errorf("mounts remain: %v", m)
	}
	for _, p := range []string{filepath.Join(dir, "run", "runtime", "shims", id), filepath.Join(dir, "run", "containers", id), filepath.Join(dir, "root", "containers", id)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s remains", p)
		}
	}
	if st := hull(t, "runtime", "--root", filepath.Join(dir, "run", "runtime"), "state", "own"); !strings.Contains(st, `"running"`) {
		t.Errorf("hull runtime's own container was touched: %s", st)
	}
}

// dbDropContainer removes a container's record from hull.db.
func dbDropContainer(t *testing.T, db, id string) {
	t.Helper()
	b, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("containers")).Delete([]byte(id)) }); err != nil {
		t.Fatal(err)
	}
}
