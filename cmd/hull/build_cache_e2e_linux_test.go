package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBuildCacheOnHull is issue 14's cache and housekeeping, with the
// docker CLI and buildx: docker system df's build cache line and records,
// docker buildx du, docker builder prune (POST /build/prune: all, until,
// keep-storage) and docker buildx prune (the control API's Prune) on
// BuildKit's real cache, and nothing started for system df or POST
// /build/prune on a daemon that never built.
func TestBuildCacheOnHull(t *testing.T) {
	env, classic, dir, ctxDir := buildCacheDaemon(t)
	sock := filepath.Join(dir, "hull.sock")

	// A daemon that never built: an empty cache, and no builder started.
	if df := systemDFBuildCache(t, env); df["TotalCount"] != "0" || df["Size"] != "0B" {
		t.Errorf("docker system df before any build: %v, want an empty build cache", df)
	}
	if out := docker(t, classic, "builder", "prune", "-af"); reclaimed(out) != "0B" {
		t.Errorf("docker builder prune -af before any build:\n%s", out)
	}
	var legacy struct{ BuildCache []map[string]any }
	getJSON(t, dir, "/v1.41/system/df", &legacy)
	if legacy.BuildCache == nil || len(legacy.BuildCache) != 0 {
		t.Errorf("GET /v1.41/system/df before any build: BuildCache %v, want []", legacy.BuildCache)
	}
	if _, err := os.Stat(filepath.Join(dir, "root", "buildkit")); !os.IsNotExist(err) {
		t.Fatalf("system df or builder prune started BuildKit on a daemon that never built: %v", err)
	}

	// Two builds: the second is all CACHED, and the cache has records.
	build := func() string {
		return docker(t, env, "buildx", "build", "--progress=plain", "-t", "cache:1", ctxDir)
	}
	build()
	if again := build(); strings.Count(again, "CACHED") < 3 {
		t.Fatalf("an identical rebuild is not all CACHED:\n%s", again)
	}
	usage := buildCacheUsage(t, sock)
	if usage.TotalCount == 0 || usage.TotalSize <= 0 || len(usage.Items) != int(usage.TotalCount) {
		t.Fatalf("GET /v1.52/system/df?verbose=1 after two builds: %+v", usage)
	}
	if df := systemDFBuildCache(t, env); df["TotalCount"] != strconv.Itoa(int(usage.TotalCount)) || df["Size"] == "0B" {
		t.Errorf("docker system df after a build: build cache %v, want %d records and a size", df, usage.TotalCount)
	}
	verbose := docker(t, env, "system", "df", "-v")
	du := docker(t, env, "buildx", "du")
	for _, r := range usage.Items {
		if !strings.Contains(verbose, r.ID[:12]) {
			t.Errorf("docker system df -v does not list the record %s:\n%s", r.ID, verbose)
		}
		if !strings.Contains(du, r.ID) {
			t.Errorf("docker buildx du does not list the record %s:\n%s", r.ID, du)
		}
	}
	// API 1.41 has each record's Parent (no Parents yet) and BuilderSize,
	// as dockerd 20.10.
	var v141 struct {
		BuildCache  []map[string]any
		BuilderSize int64
	}
	getJSON(t, dir, "/v1.41/system/df", &v141)
	if len(v141.BuildCache) != int(usage.TotalCount) || v141.BuilderSize != usage.TotalSize {
		t.Errorf("GET /v1.41/system/df: %d records of %d bytes, want %d of %d", len(v141.BuildCache), v141.BuilderSize, usage.TotalCount, usage.TotalSize)
	}
	for _, r := range v141.BuildCache {
		_, parent := r["Parent"]
		_, parents := r[" Parents"]
		if !parent || parents || r["Type"] == nil || r["CreatedAt"] == nil {
			t.Errorf("a 1.41 build cache record: %v", r)
		}
	}

	// A builder with state that is not running is started for system df:
	// the same records.
	pid := hullBuildkitPID(dir)
	if pid == 0 {
		t.Fatal("no hull-buildkit runs after the builds")
	}
	syscall.Kill(pid, syscall.SIGTERM)
	waitFor(t, func() bool { return hullBuildkitPID(dir) == 0 }, "hull-buildkit to stop")
	if df := systemDFBuildCache(t, classic); df["TotalCount"] != strconv.Itoa(int(usage.TotalCount)) {
		t.Errorf("docker system df once hull-buildkit has stopped: build cache %v, want %d records", df, usage.TotalCount)
	}
	if hullBuildkitPID(dir) == 0 {
		t.Errorf("docker system df did not start hull-buildkit again to read the cache")
	}

	// until keeps what was used since; keep-storage keeps that much.
	if out := docker(t, classic, "builder", "prune", "-af", "--filter", "until=1h"); reclaimed(out) != "0B" {
		t.Errorf("docker builder prune --filter until=1h pruned records used a moment ago:\n%s", out)
	}
	if u := buildCacheUsage(t, sock); u.TotalCount != usage.TotalCount {
		t.Errorf("after a prune until=1h: %d records, want %d", u.TotalCount, usage.TotalCount)
	}
	docker(t, classic, "builder", "prune", "-af", "--keep-storage", strconv.FormatInt(10*usage.TotalSize, 10))
	if u := buildCacheUsage(t, sock); u.TotalCount != usage.TotalCount {
		t.Errorf("after a prune that keeps 10 times the cache's size: %d records, want %d", u.TotalCount, usage.TotalCount)
	}
	keep := usage.TotalSize / 2
	docker(t, classic, "builder", "prune", "-af", "--keep-storage", strconv.FormatInt(keep, 10))
	if u := buildCacheUsage(t, sock); u.TotalSize > keep || u.TotalCount >= usage.TotalCount {
		t.Errorf("after a prune keeping %d bytes: %d records of %d bytes (before: %d of %d)", keep, u.TotalCount, u.TotalSize, usage.TotalCount, usage.TotalSize)
	}

	// prune -af empties the cache: the next build runs every step.
	build()
	since := strconv.FormatInt(time.Now().Unix()-1, 10)
	out := docker(t, classic, "builder", "prune", "-af")
	if r := reclaimed(out); r == "" || r == "0B" {
		t.Errorf("docker builder prune -af reclaimed nothing:\n%s", out)
	}
	// As dockerd, a builder prune event with the bytes reclaimed.
	events := docker(t, env, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "type=builder", "--format", "{{.Action}} {{.Actor.Attributes.reclaimed}}")
	// (The earlier prunes of this test, within the same second, are there
	// too: one of the events is this prune's.)
	found := false
	for _, m := range regexp.MustCompile(`(?m)^prune ([0-9]+)$`).FindAllStringSubmatch(events, -1) {
		found = found || m[1] != "0"
	}
	if !found {
		t.Errorf("no builder prune event with the space reclaimed after docker builder prune -af:\n%s", events)
	}
	if u := buildCacheUsage(t, sock); u.TotalCount != 0 || u.TotalSize != 0 {
		t.Errorf("after docker builder prune -af: %+v, want an empty cache", u)
	}
	if du := docker(t, env, "buildx", "du"); regexp.MustCompile(`(?m)^[a-z0-9]{25}`).MatchString(du) {
		t.Errorf("docker buildx du after docker builder prune -af:\n%s", du)
	}
	if next := build(); strings.Contains(next, "CACHED") {
		t.Errorf("the build after docker builder prune -af has CACHED steps:\n%s", next)
	}
	// buildx's own prune (the control API's Prune over /grpc).
	docker(t, env, "buildx", "prune", "-af")
	if u := buildCacheUsage(t, sock); u.TotalCount != 0 {
		t.Errorf("after docker buildx prune -af: %+v, want an empty cache", u)
	}
}

// TestBuildCancelOnHull: a build whose client hangs up (the buildx CLI
// killed; a legacy POST /build's connection closed) or that POST
// /build/cancel names ends, and leaves no process, no container state and
// no mount behind.
func TestBuildCancelOnHull(t *testing.T) {
	env, _, dir, ctxDir := buildCacheDaemon(t)
	sock := filepath.Join(dir, "hull.sock")

	// /build/cancel checks its id, and starts nothing.
	resp, err := apiClient(sock).Post("http://hull/v1.41/build/cancel", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "build ID not provided") {
		t.Errorf("POST /build/cancel without an id: %d %s", resp.StatusCode, b)
	}
	resp, err = apiClient(sock).Post("http://hull/v1.41/build/cancel?id=none", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(resp); resp.StatusCode != http.StatusOK || b != "" {
		t.Errorf("POST /build/cancel of no build: %d %q, want 200 and no body", resp.StatusCode, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "root", "buildkit")); !os.IsNotExist(err) {
		t.Fatalf("POST /build/cancel started BuildKit: %v", err)
	}

	token := func(name string) string { return name + "-" + filepath.Base(dir) }

	t.Run("buildx", func(t *testing.T) {
		tok := token("buildx")
		cmd := exec.Command("docker", "buildx", "build", "--progress=plain", "--build-arg", "HULL_CACHE_TEST="+tok,
			"-f", filepath.Join(ctxDir, "Dockerfile.sleep"), ctxDir)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitForBuildStep(t, tok, func() string { return out.String() })
		cmd.Process.Kill()
		cmd.Wait()
		checkBuildGone(t, dir, tok)
	})

	t.Run("legacy-hangup", func(t *testing.T) {
		tok := token("hangup")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := legacySleepBuild(t, ctx, sock, ctxDir, tok, "")
		defer resp.Body.Close()
		waitForBuildStep(t, tok, func() string { return "" })
		cancel()
		resp.Body.Close()
		checkBuildGone(t, dir, tok)
	})

	t.Run("build-cancel", func(t *testing.T) {
		tok := token("cancel")
		resp := legacySleepBuild(t, context.Background(), sock, ctxDir, tok, tok)
		defer resp.Body.Close()
		waitForBuildStep(t, tok, func() string { return "" })
		c, err := apiClient(sock).Post("http://hull/v1.41/build/cancel?id="+tok, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(c); c.StatusCode != http.StatusOK {
			t.Errorf("POST /build/cancel: %d %s", c.StatusCode, b)
		}
		done := make(chan string, 1)
		go func() { done <- readAll(resp) }()
		select {
		case stream := <-done:
			if !strings.Contains(stream, `"error":"context canceled"`) {
				t.Errorf("the cancelled build's stream does not end with its cancel:\n%s", stream)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the build's stream does not end after POST /build/cancel")
		}
		checkBuildGone(t, dir, tok)
	})
}

// buildCacheDaemon is a hull daemon with hull-buildkit; env is a docker
// CLI with buildx, classic one without (whose docker builder prune is
// POST /build/prune: with buildx, the CLI hands docker builder to buildx,
// which prunes through the control API); and a build context: a busybox base (Dockerfile, with a
// RUN that writes some bytes) and Dockerfile.sleep, whose RUN sleeps
// with HULL_CACHE_TEST in its environment.
func buildCacheDaemon(t *testing.T) (env, classic []string, dir, ctxDir string) {
	t.Helper()
	requireDockerCLI(t)
	buildShim(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox here (Debian's busybox-static gives it)")
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-buildkit"), "../hull-buildkit").CombinedOutput(); err != nil {
		t.Fatalf("build hull-buildkit: %v\n%s", err, out)
	}
	classic, dir = hullDaemon(t)
	classic = append(classic, "DOCKER_CONFIG="+filepath.Join(dir, "classic-config"))
	cfg := buildxPlugin(t, dir)
	env = append(slices.Clip(classic), "DOCKER_CONFIG="+cfg, "BUILDX_NO_DEFAULT_ATTESTATIONS=1")
	ctxDir = filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "busybox"), bb, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY busybox /bin/busybox\n"+
		"RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN head -c 300000 /dev/urandom > /random\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile.sleep"), []byte("FROM scratch\nCOPY busybox /bin/busybox\nARG HULL_CACHE_TEST\n"+
		"RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo started; exec /bin/busybox sleep 300\"]\n"), 0o644)
	return env, classic, dir, ctxDir
}

// systemDFBuildCache is docker system df's build cache line.
func systemDFBuildCache(t *testing.T, env []string) map[string]string {
	t.Helper()
	for _, l := range strings.Split(docker(t, env, "system", "df", "--format", "{{json .}}"), "\n") {
		var m map[string]string
		if json.Unmarshal([]byte(l), &m) == nil && m["Type"] == "Build Cache" {
			return m
		}
	}
	t.Fatal("docker system df has no build cache line")
	return nil
}

// cacheUsage is API 1.52's BuildCacheUsage.
type cacheUsage struct {
	TotalCount, ActiveCount, TotalSize, Reclaimable int64
	Items                                           []struct {
		ID   string
		Size int64
	}
}

func buildCacheUsage(t *testing.T, sock string) cacheUsage {
	t.Helper()
	var df struct{ BuildCacheUsage cacheUsage }
	resp, err := apiClient(sock).Get("http://hull/v1.52/system/df?type=build-cache&verbose=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&df); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1.52/system/df: %d %v", resp.StatusCode, err)
	}
	return df.BuildCacheUsage
}

// legacySleepBuild starts POST /build of Dockerfile.sleep with tok as
// HULL_CACHE_TEST (and buildid, when given) and returns its answer, being
// streamed.
func legacySleepBuild(t *testing.T, ctx context.Context, sock, ctxDir, tok, buildid string) *http.Response {
	t.Helper()
	var body bytes.Buffer
	tw := tar.NewWriter(&body)
	for _, name := range []string{"Dockerfile.sleep", "busybox"} {
		b, err := os.ReadFile(filepath.Join(ctxDir, name))
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	args, _ := json.Marshal(map[string]string{"HULL_CACHE_TEST": tok})
	q := url.Values{"dockerfile": {"Dockerfile.sleep"}, "buildargs": {string(args)}}
	if buildid != "" {
		q.Set("buildid", buildid)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://hull/v1.41/build?"+q.Encode(), &body)
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := apiClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /build: %d %s", resp.StatusCode, readAll(resp))
	}
	return resp
}

// buildStepPIDs are the processes whose environment has tok as
// HULL_CACHE_TEST: the sleeping RUN step's.
func buildStepPIDs(tok string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(append([]byte{0}, b...), []byte("\x00HULL_CACHE_TEST="+tok+"\x00")) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// waitForBuildStep waits until the step runs; the test's end kills it if
// it still runs then.
func waitForBuildStep(t *testing.T, tok string, show func() string) {
	t.Helper()
	t.Cleanup(func() {
		for _, p := range buildStepPIDs(tok) {
			exec.Command("kill", "-9", p).Run()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for len(buildStepPIDs(tok)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the build's RUN step did not start within 60s\n%s", show())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBuildGone waits for the build step's processes to end, then checks
// that the build left no container state under <exec-root>/buildkit and
// no mount under BuildKit's folders.
func checkBuildGone(t *testing.T, dir, tok string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(buildStepPIDs(tok)) > 0 {
		if time.Now().After(deadline) {
			pids := buildStepPIDs(tok)
			for _, p := range pids {
				exec.Command("kill", "-9", p).Run()
			}
			t.Fatalf("the build's RUN step still runs 30s after its cancel: %v", pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The runtime's state and the bundle go just after the process: give
	// them a moment.
	run := filepath.Join(dir, "run", "buildkit")
	var left []string
	for i := 0; i < 50; i++ {
		left = left[:0]
		for _, d := range []string{"runtime/state", "runtime/shims", "executor"} {
			entries, _ := os.ReadDir(filepath.Join(run, d))
			for _, e := range entries {
				// executor/resolv.conf is BuildKit's, shared by every step.
				if d != "executor" || e.Name() != "resolv.conf" {
					left = append(left, filepath.Join(d, e.Name()))
				}
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("a cancelled build left under %s: %v", run, left)
	}
	for _, root := range []string{run, filepath.Join(dir, "root", "buildkit")} {
		if m := mountsUnder(t, root); len(m) > 0 {
			t.Errorf("a cancelled build left mounts: %v", m)
		}
	}
}

// hullBuildkitPID is the pid of the hull-buildkit of the daemon under
// dir, or 0.
func hullBuildkitPID(dir string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == "hull-buildkit" && slices.Contains(args, filepath.Join(dir, "root", "buildkit")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

// reclaimed is the space a docker builder prune says it reclaimed.
func reclaimed(out string) string {
	m := regexp.MustCompile(`Total reclaimed space:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(&b, sc.Text())
	}
	return strings.TrimSpace(b.String())
}
