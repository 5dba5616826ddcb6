package main

// Issue 13's low and medium items on the API's edges: a removed container
// stays removed across a restart (health probes in flight), health-check
// validation and timeouts, docker load without a recovered panic, docker
// cp of symbolic links, and bounds on held connections.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stopHullDaemon stops, with SIGINT, the hull daemon serving dir and waits
// until it has exited.
func stopHullDaemon(t *testing.T, dir string) {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", "hull -D daemon -H unix://"+dir).Output()
	pids := strings.Fields(string(out))
	if len(pids) == 0 {
		t.Fatal("no hull daemon to stop")
	}
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		syscall.Kill(pid, syscall.SIGINT)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range pids {
		for {
			// A daemon the test started stays a zombie until reaped.
			b, err := os.ReadFile("/proc/" + p + "/stat")
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hull daemon %s did not stop", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// startHullDaemon starts another hull daemon on dir's roots and socket,
// as hullDaemon made them; it is stopped, its containers removed first,
// when the test ends.
func startHullDaemon(t *testing.T, env []string, dir string) {
	t.Helper()
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
}

// dbContainerRecords reads the container records in hull.db (the daemon
// stopped): id -> name and status.
func dbContainerRecords(t *testing.T, db string) map[string]string {
	t.Helper()
	b, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := map[string]string{}
	b.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("containers"))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			var r struct {
				Name  string
				State struct{ Status string }
			}
			json.Unmarshal(v, &r)
			recs[string(k)] = r.Name + " " + r.State.Status
			return nil
		})
	})
	return recs
}

// TestLowmedRemovedContainerStaysRemoved: containers checked every 50 ms
// by a probe that takes 300 ms are removed with rm -f while a probe runs;
// after a daemon restart they are gone — hull.db holds no record of them
// while the daemon is down — and their names are free.
func TestLowmedRemovedContainerStaysRemoved(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	names := []string{"hc-a", "hc-b", "hc-c", "hc-d", "hc-e"}
	for _, n := range names {
		docker(t, env, "run", "-d", "--name", n, "--health-cmd", "sleep 0.3", "--health-interval", "50ms",
			"--health-start-interval", "50ms", "--health-timeout", "5s", "e2e/busybox:1", "sleep", "1000")
	}
	for _, n := range names {
		// A probe is an exec of sleep 0.3 in the container: docker top
		// shows it while it runs.
		waitFor(t, func() bool { return strings.Contains(docker(t, env, "top", n), "sleep 0.3") }, "a probe running in "+n)
		docker(t, env, "rm", "-f", n)
	}
	// Probes and exits that outlived the removals have had their time.
	time.Sleep(time.Second)
	stopHullDaemon(t, dir)
	if recs := dbContainerRecords(t, filepath.Join(dir, "root", "hull.db")); len(recs) > 0 {
		t.Errorf("hull.db holds records of removed containers: %v", recs)
	}
	startHullDaemon(t, env, dir)
	if out := docker(t, env, "ps", "-a", "--format", "{{.Names}} {{.Status}}"); out != "" {
		t.Errorf("removed containers came back after the restart:\n%s", out)
	}
	for _, n := range names {
		if _, stderr, code := dockerRun(t, env, "", "create", "--name", n, "e2e/busybox:1", "true"); code != 0 {
			t.Errorf("the name %s is not free: %s", n, stderr)
		}
	}
}

// TestLowmedHealthcheckLimits: durations under a millisecond and negative
// retries are refused as dockerd refuses them, word for word (through the
// docker CLI and raw requests); a probe that outlives its timeout records
// dockerd's "Health check exceeded timeout (…)".
func TestLowmedHealthcheckLimits(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	for _, tc := range []struct{ version, hc, want string }{
		{"1.41", `{"Test":["CMD","true"],"Interval":100}`, "Interval in Healthcheck cannot be less than 1ms"},
		{"1.41", `{"Test":["CMD","true"],"Interval":-1}`, "Interval in Healthcheck cannot be less than 1ms"},
		{"1.41", `{"Test":["CMD","true"],"Timeout":999999}`, "Timeout in Healthcheck cannot be less than 1ms"},
		{"1.41", `{"Test":["CMD","true"],"StartPeriod":100}`, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{"1.44", `{"Test":["CMD","true"],"StartInterval":100}`, "StartInterval in Healthcheck cannot be less than 1ms"},
		{"1.41", `{"Test":["CMD","true"],"Retries":-1}`, "Retries in Healthcheck cannot be negative"},
	} {
		resp, err := apiClient(sock).Post("http://hull/v"+tc.version+"/containers/create", "application/json",
			strings.NewReader(`{"Image":"e2e/busybox:1","Healthcheck":`+tc.hc+`}`))
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || m.Message != tc.want {
			t.Errorf("v%s create with %s: %d %q, want 400 %q", tc.version, tc.hc, resp.StatusCode, m.Message, tc.want)
		}
	}
	_, stderr, code := dockerRun(t, env, "", "run", "-d", "--health-cmd", "true", "--health-interval", "100us", "e2e/busybox:1", "sleep", "100")
	if code == 0 || !strings.Contains(stderr, "Interval in Healthcheck cannot be less than 1ms") {
		t.Errorf("docker run --health-interval 100us: exit %d, %s", code, stderr)
	}
	// At API 1.41 StartInterval did not exist: it is dropped, not refused.
	resp, err := apiClient(sock).Post("http://hull/v1.41/containers/create", "application/json",
		strings.NewReader(`{"Image":"e2e/busybox:1","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"StartInterval":100}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("v1.41 create with StartInterval 100ns: %d %s, want 201", resp.StatusCode, b)
	}

	docker(t, env, "run", "-d", "--name", "slowprobe", "--health-cmd", "sleep 5", "--health-interval", "200ms",
		"--health-timeout", "300ms", "--health-retries", "1", "e2e/busybox:1", "sleep", "100")
	var h struct {
		Status string
		Log    []struct {
			ExitCode int
			Output   string
		}
	}
	waitFor(t, func() bool {
		json.Unmarshal([]byte(docker(t, env, "inspect", "-f", "{{json .State.Health}}", "slowprobe")), &h)
		return len(h.Log) > 0
	}, "a probe result")
	if got := h.Log[0]; got.ExitCode != -1 || got.Output != "Health check exceeded timeout (300ms)" {
		t.Errorf("a probe that timed out recorded %d %q", got.ExitCode, got.Output)
	}
	waitFor(t, func() bool {
		return docker(t, env, "inspect", "-f", "{{.State.Health.Status}}", "slowprobe") == "unhealthy"
	}, "unhealthy after one timed-out probe")
}

// rawRequest sends one HTTP/1.1 request on conn and reads its answer
// whole, while the request is written (an answer may come, and the
// connection close, before the whole body is sent: the write's error is
// then not the test's).
func rawRequest(t *testing.T, conn net.Conn, br *bufio.Reader, method, path string, body io.Reader, size int64) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://hull"+path, body)
	req.ContentLength = size
	go req.Write(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	resp.Body.Close()
	return resp, b
}

// TestLowmedLoadConnection: docker load logs no recovered panic; a load's
// connection is reused for the next request, and one whose body has a
// long tail that the load does not read is closed after a whole answer.
func TestLowmedLoadConnection(t *testing.T) {
	requireDockerCLI(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	archive := filepath.Join(dir, "bb.tar")
	docker(t, env, "load", "-i", archive)
	tarBytes, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "hull.sock")
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	resp, b := rawRequest(t, conn, br, "POST", "/v1.41/images/load?quiet=1", bytes.NewReader(tarBytes), int64(len(tarBytes)))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("Loaded image")) {
		t.Fatalf("load: %d %s", resp.StatusCode, b)
	}
	if resp.Close {
		t.Errorf("the load's answer closes the connection")
	}
	resp, b = rawRequest(t, conn, br, "GET", "/_ping", nil, 0)
	if resp.StatusCode != http.StatusOK || string(b) != "OK" {
		t.Errorf("ping on the load's connection: %d %q", resp.StatusCode, b)
	}

	// A tail of 1 MiB after the archive's end: more than net/http drains,
	// so the connection closes once the answer is whole.
	conn2, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	br2 := bufio.NewReader(conn2)
	long := append(append([]byte{}, tarBytes...), make([]byte, 1<<20)...)
	resp, b = rawRequest(t, conn2, br2, "POST", "/v1.41/images/load?quiet=1", bytes.NewReader(long), int64(len(long)))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("Loaded image")) {
		t.Errorf("load with a long tail: %d %s", resp.StatusCode, b)
	}
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br2.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after a load with a long tail the connection gives %d bytes, %v; want EOF", n, err)
	}

	time.Sleep(200 * time.Millisecond)
	log, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "panic") {
			t.Errorf("the daemon logged a panic: %.300s", line)
		}
	}
}

// TestLowmedHeldConnections: with the API's timeouts at 2 s
// (HULL_TEST_HTTP_TIMEOUT), connections that never send a whole header,
// that idle after a request, or that stop sending a JSON body are closed
// after the timeout; streams that last longer (logs -f, events, wait,
// attach's stdin, exec's stdin) keep working, and so does a load whose
// body pauses for longer.
func TestLowmedHeldConnections(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	t.Setenv("HULL_TEST_HTTP_TIMEOUT", "2s")
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")

	const each = 100
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	kinds := map[string]string{
		"partial header": "GET /_ping HTTP/1.1\r\nHost: hull\r\n",
		"idle":           "GET /_ping HTTP/1.1\r\nHost: hull\r\n\r\n",
		"stalled body":   "POST /v1.41/containers/create HTTP/1.1\r\nHost: hull\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
	}
	byKind := map[string][]net.Conn{}
	for kind, send := range kinds {
		for i := 0; i < each; i++ {
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			byKind[kind] = append(byKind[kind], c)
			if _, err := c.Write([]byte(send)); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	type result struct {
		data   string
		closed bool
	}
	results := map[string]chan result{}
	for kind, cs := range byKind {
		results[kind] = make(chan result, len(cs))
		for _, c := range cs {
			go func() {
				c.SetReadDeadline(start.Add(6 * time.Second))
				b, err := io.ReadAll(c)
				results[kind] <- result{string(b), err == nil}
			}()
		}
	}
	// What each kind is answered before its connection closes.
	want := map[string]func(string) bool{
		"partial header": func(s string) bool { return s == "" },
		"idle":           func(s string) bool { return strings.HasPrefix(s, "HTTP/1.1 200 OK") },
		"stalled body": func(s string) bool {
			return strings.HasPrefix(s, "HTTP/1.1 400 Bad Request") && strings.Contains(s, `{"message":"read the request body: no data for 2s"}`)
		},
	}
	for kind, cs := range byKind {
		closed, answered := 0, 0
		var other string
		for range cs {
			r := <-results[kind]
			if r.closed {
				closed++
			}
			if want[kind](r.data) {
				answered++
			} else {
				other = r.data
			}
		}
		if closed != len(cs) || answered != len(cs) {
			t.Errorf("%s: %d of %d connections closed within 6 s, %d answered as expected; another answer: %q", kind, closed, len(cs), answered, other)
		}
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("connections closed after %v, before the 2 s timeout", took)
	}
	t.Logf("%d connections of each kind checked after %v", each, time.Since(start).Round(100*time.Millisecond))

	// Streams longer than the timeout.
	docker(t, env, "run", "-d", "--name", "ticker", "e2e/busybox:1", "sh", "-c", "for i in 1 2 3 4 5; do echo tick$i; sleep 1; done")
	events := exec.Command("docker", "events", "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}}")
	events.Env = env
	var evOut bytes.Buffer
	events.Stdout = &evOut
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { events.Process.Kill(); events.Wait() }()
	if out := docker(t, env, "logs", "-f", "ticker"); out != "tick1\ntick2\ntick3\ntick4\ntick5" {
		t.Errorf("docker logs -f over 5 s: %q", out)
	}
	docker(t, env, "volume", "create", "late-volume")
	waitFor(t, func() bool { return strings.Contains(evOut.String(), "create late-volume") }, "the event on a stream open for 5 s",
		func() string { return evOut.String() })

	docker(t, env, "run", "-d", "--name", "waited", "e2e/busybox:1", "sh", "-c", "sleep 3; exit 7")
	if out := docker(t, env, "wait", "waited"); out != "7" {
		t.Errorf("docker wait over 3 s: %q", out)
	}

	pr, pw := io.Pipe()
	go func() { time.Sleep(3 * time.Second); pw.Write([]byte("late-stdin\n")); pw.Close() }()
	cmd := exec.Command("docker", "run", "--rm", "-i", "e2e/busybox:1", "cat")
	cmd.Env, cmd.Stdin = env, pr
	if out, err := cmd.Output(); err != nil || string(out) != "late-stdin\n" {
		t.Errorf("docker run -i with stdin after 3 s: %q, %v", out, err)
	}
	id := docker(t, env, "run", "-d", "e2e/busybox:1", "sleep", "100")
	pr, pw = io.Pipe()
	go func() { time.Sleep(3 * time.Second); pw.Write([]byte("late-exec\n")); pw.Close() }()
	cmd = exec.Command("docker", "exec", "-i", id, "cat")
	cmd.Env, cmd.Stdin = env, pr
	if out, err := cmd.Output(); err != nil || string(out) != "late-exec\n" {
		t.Errorf("docker exec -i with stdin after 3 s: %q, %v", out, err)
	}

	// An upload that pauses longer than the timeout is not cut.
	tarBytes, err := os.ReadFile(filepath.Join(dir, "bb.tar"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw = io.Pipe()
	go func() {
		pw.Write(tarBytes[:len(tarBytes)/2])
		time.Sleep(3 * time.Second)
		pw.Write(tarBytes[len(tarBytes)/2:])
		pw.Close()
	}()
	cmd = exec.Command("docker", "load")
	cmd.Env, cmd.Stdin = env, pr
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Loaded image") {
		t.Errorf("docker load whose input pauses 3 s: %s, %v", out, err)
	}
}

// TestLowmedCopySymlinks: docker cp copies a symbolic link as a link (a
// dangling one too), follows it with -L, and copies a linked folder's
// content when the path ends in "/", as dockerd does; a dangling link with
// -L is dockerd's "Could not find the file".
func TestLowmedCopySymlinks(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "links", "e2e/busybox:1", "sh", "-c",
		"echo root:x:0:0:root:/:/bin/sh >/etc/passwd; busybox ln -s /nonexistent /dangling; busybox ln -s /etc/passwd /link; "+
			"busybox ln -s /etc /dirlink; busybox ln -s passwd /etc/rel; echo >/ready; sleep 1000")
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "exec", "links", "cat", "/ready"); return code == 0 }, "the links")
	out := filepath.Join(dir, "cpout")
	// describe tells what a copy made: l TARGET, f SIZE or d.
	describe := func(p string) string {
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
			return "missing"
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return "l " + target
		case fi.IsDir():
			return "d"
		}
		return fmt.Sprintf("f %d", fi.Size())
	}
	passwd := docker(t, env, "exec", "links", "cat", "/etc/passwd") + "\n"
	for _, tc := range []struct {
		follow   bool
		src      string
		want     string
		wantFile string // a file the copied folder holds
	}{
		{false, "/dangling", "l /nonexistent", ""},
		{false, "/link", "l /etc/passwd", ""},
		{true, "/link", fmt.Sprintf("f %d", len(passwd)), ""},
		{false, "/dirlink", "l /etc", ""},
		{true, "/dirlink", "d", "passwd"},
		{false, "/dirlink/", "d", "passwd"},
		{false, "/etc/rel", "l passwd", ""},
		{true, "/etc/rel", fmt.Sprintf("f %d", len(passwd)), ""},
	} {
		os.RemoveAll(out)
		args := []string{"cp"}
		if tc.follow {
			args = append(args, "-L")
		}
		args = append(args, "links:"+tc.src, out)
		if _, stderr, code := dockerRun(t, env, "", args...); code != 0 {
			t.Errorf("docker %s: exit %d: %s", strings.Join(args, " "), code, stderr)
			continue
		}
		if got := describe(out); got != tc.want {
			t.Errorf("docker %s made %q, want %q", strings.Join(args, " "), got, tc.want)
		}
		if tc.wantFile != "" {
			if got := describe(filepath.Join(out, tc.wantFile)); !strings.HasPrefix(got, "f ") {
				t.Errorf("docker %s: %s in the copy is %q", strings.Join(args, " "), tc.wantFile, got)
			}
		}
	}
	os.RemoveAll(out)
	if _, stderr, code := dockerRun(t, env, "", "cp", "-L", "links:/dangling", out); code == 0 ||
		!strings.Contains(stderr, "Could not find the file /nonexistent in container links") {
		t.Errorf("docker cp -L of a dangling link: exit %d, %s", code, stderr)
	}
	// The archive of a dangling link holds the link, not nothing.
	resp, err := apiClient(filepath.Join(dir, "hull.sock")).Get("http://hull/v1.41/containers/links/archive?path=/dangling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	listing := run(t, 0, b, "tar", "-tvf", "-")
	if resp.StatusCode != http.StatusOK || !strings.Contains(listing, "dangling -> /nonexistent") {
		t.Errorf("GET archive of a dangling link: %d, %q", resp.StatusCode, listing)
	}
}

// TestLowmedCopyFileMounts: docker cp reads what the container sees at
// the path of a one-file mount — its /etc/hostname, /etc/hosts and
// /etc/resolv.conf, running or stopped, and a bind of a host file — and,
// as dockerd, refuses an extraction onto one ("extraction point is not a
// directory"); the host's file stays as it was.
func TestLowmedCopyFileMounts(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	hostFile := filepath.Join(dir, "bound-file")
	if err := os.WriteFile(hostFile, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker(t, env, "run", "-d", "--name", "files", "--hostname", "cp-host", "-v", hostFile+":/bound", "e2e/busybox:1", "sleep", "1000")
	read := func(p string) string {
		t.Helper()
		out, stderr, code := dockerRun(t, env, "", "cp", "files:"+p, "-")
		if code != 0 {
			t.Errorf("docker cp files:%s -: exit %d: %s", p, code, stderr)
			return ""
		}
		return run(t, 0, []byte(out), "tar", "-xOf", "-")
	}
	check := func(when string) {
		t.Helper()
		if got := read("/etc/hostname"); got != "cp-host\n" {
			t.Errorf("%s: /etc/hostname copied out: %q", when, got)
		}
		if got := read("/bound"); got != "from the host\n" {
			t.Errorf("%s: /bound copied out: %q", when, got)
		}
		inside := docker(t, env, "exec", "files", "cat", "/etc/hosts")
		if got := read("/etc/hosts"); got != inside+"\n" || !strings.Contains(got, "localhost") {
			t.Errorf("%s: /etc/hosts copied out: %q, the container has %q", when, got, inside)
		}
		if got := read("/etc/resolv.conf"); got != docker(t, env, "exec", "files", "cat", "/etc/resolv.conf")+"\n" && got != "" {
			t.Errorf("%s: /etc/resolv.conf copied out: %q", when, got)
		}
	}
	check("running")
	// An extraction onto the mount itself (PUT archive?path=/etc/hostname)
	// is refused in dockerd's words. (The docker CLI's cp onto an existing
	// file extracts into its folder instead: see the report of issue 13.)
	tarball := tarOf(t, map[string]string{"newname": "changed\n"})
	for _, dst := range []string{"/etc/hostname", "/bound"} {
		req, _ := http.NewRequest("PUT", "http://hull/v1.41/containers/files/archive?path="+dst, bytes.NewReader(tarball))
		req.Header.Set("Content-Type", "application/x-tar")
		resp, err := apiClient(filepath.Join(dir, "hull.sock")).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 || !strings.Contains(string(b), "extraction point is not a directory") {
			t.Errorf("PUT archive onto %s: %d %s", dst, resp.StatusCode, b)
		}
	}
	if b, _ := os.ReadFile(hostFile); string(b) != "from the host\n" {
		t.Errorf("the bound host file became %q", b)
	}
	if out := docker(t, env, "exec", "files", "cat", "/etc/hostname"); out != "cp-host" {
		t.Errorf("the container's hostname became %q", out)
	}
	resp, err := apiClient(filepath.Join(dir, "hull.sock")).Get("http://hull/v1.41/containers/files/archive?path=/bound/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 4 || !strings.Contains(string(b), "not a directory") {
		t.Errorf("a path under a file mount: %d %s", resp.StatusCode, b)
	}
	docker(t, env, "stop", "-t", "0", "files")
	if got := read("/etc/hostname"); got != "cp-host\n" {
		t.Errorf("stopped: /etc/hostname copied out: %q", got)
	}
}

// TestLowmedNegativeCPUShares: negative CPU shares are refused at create
// and update with moby's words (dockerd 20.10 took them and failed at
// start with 500), and nothing is created.
func TestLowmedNegativeCPUShares(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	_, e, code := dockerRun(t, env, "", "create", "--name", "neg", "--cpu-shares", "-1", "e2e/busybox:1", "true")
	if code == 0 || !strings.Contains(e, "invalid CPU shares (-1): value must be a positive integer") {
		t.Errorf("create --cpu-shares -1: %d %s", code, e)
	}
	if _, _, code := dockerRun(t, env, "", "inspect", "neg"); code == 0 {
		t.Error("the refused container exists")
	}
	docker(t, env, "create", "--name", "pos", "e2e/busybox:1", "true")
	if _, e, code := dockerRun(t, env, "", "update", "--cpu-shares", "-3", "pos"); code == 0 || !strings.Contains(e, "invalid CPU shares (-3)") {
		t.Errorf("update --cpu-shares -3: %d %s", code, e)
	}
}
