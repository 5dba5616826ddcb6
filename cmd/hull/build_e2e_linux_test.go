package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildxPlugin returns a DOCKER_CONFIG directory whose cli-plugins hold a
// docker-buildx: HULL_TEST_BUILDX (hack/lib.sh install_buildx), else the
// one install_buildx keeps in the tools cache, else one built here from the
// Go module proxy; it skips the test when there is none to be had. Its
// version is stamped as buildx's release does (compose refuses v0.0.0).
func buildxPlugin(t *testing.T, dir string) string {
	t.Helper()
	const version = "v0.38.2"
	bin := os.Getenv("HULL_TEST_BUILDX")
	if bin == "" {
		if cached := "/var/cache/hull-tools/buildx-" + version + "/buildx"; exec.Command(cached, "version").Run() == nil {
			bin = cached
		}
	}
	if bin == "" {
		gobin := filepath.Join(dir, "gobin")
		cmd := exec.Command("go", "install", "-ldflags", "-X github.com/docker/buildx/version.Version="+version, "github.com/docker/buildx/cmd/buildx@"+version)
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("buildx could not be built here (go install github.com/docker/buildx/cmd/buildx@%s): %v\n%s", version, err, out)
		}
		bin = filepath.Join(gobin, "buildx")
	}
	cfg := filepath.Join(dir, "docker-config")
	if err := os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "cli-plugins", "docker-buildx"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBuildxOnHull is issue 14's first slice, as a new user sees it: the
// docker CLI with the buildx plugin finds hull's embedded BuildKit through
// the docker driver (POST /grpc, POST /session), shows it running with
// hull's worker, and builds FROM scratch + COPY to a local output, then
// RUN steps on hull's runtime.
func TestBuildxOnHull(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-buildkit"), "../hull-buildkit").CombinedOutput(); err != nil {
		t.Fatalf("build hull-buildkit: %v\n%s", err, out)
	}
	env, dir := hullDaemon(t)
	cfg := buildxPlugin(t, dir)
	env = append(env, "DOCKER_CONFIG="+cfg, "BUILDX_NO_DEFAULT_ATTESTATIONS=1")

	// A daemon that never built has not started BuildKit.
	if _, err := os.Stat(filepath.Join(dir, "root", "buildkit")); !os.IsNotExist(err) {
		t.Fatalf("BuildKit's state exists before any build: %v", err)
	}
	if out, _ := exec.Command("pgrep", "-f", "hull-buildkit --root "+filepath.Join(dir, "root")).Output(); len(out) > 0 {
		t.Fatalf("hull-buildkit runs before any build: %s", out)
	}

	ls := docker(t, env, "buildx", "ls")
	if !strings.Contains(ls, "running") || !strings.Contains(ls, "v0.34.2") {
		t.Fatalf("docker buildx ls does not show the docker driver's builder running BuildKit v0.34.2:\n%s", ls)
	}
	inspect := docker(t, env, "buildx", "inspect")
	if !strings.Contains(inspect, "org.mobyproject.buildkit.worker.executor:") || !strings.Contains(inspect, "hull") {
		t.Fatalf("docker buildx inspect does not show hull's worker:\n%s", inspect)
	}

	ctxDir := filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "hello.txt"), []byte("hello from hull\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /greeting/hello.txt\n"), 0o644)
	out := filepath.Join(dir, "out")
	docker(t, env, "buildx", "build", "--progress=plain", "--output", "type=local,dest="+out, ctxDir)
	got, err := os.ReadFile(filepath.Join(out, "greeting", "hello.txt"))
	if err != nil || string(got) != "hello from hull\n" {
		t.Fatalf("the local output holds %q, %v; want the copied file", got, err)
	}

	// RUN steps on hull's runtime (hull-shim): a busybox base, a step
	// that writes a file, an identical rebuild that is all CACHED.
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox here (Debian's busybox-static gives it)")
	}
	os.WriteFile(filepath.Join(ctxDir, "busybox"), bb, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile.run"), []byte("FROM scratch\nCOPY busybox /bin/busybox\n"+
		"RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN echo hi from RUN > /hi.txt\n"), 0o644)
	out2 := filepath.Join(dir, "out2")
	docker(t, env, "buildx", "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.run"), "--output", "type=local,dest="+out2, ctxDir)
	if got, err := os.ReadFile(filepath.Join(out2, "hi.txt")); err != nil || string(got) != "hi from RUN\n" {
		t.Fatalf("the RUN step's file: %q, %v", got, err)
	}
	again := docker(t, env, "buildx", "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.run"), "--output", "type=local,dest="+filepath.Join(dir, "out3"), ctxDir)
	if n := strings.Count(again, "CACHED"); n < 3 {
		t.Errorf("an identical rebuild has %d CACHED steps, want 3:\n%s", n, again)
	}

	// A failing RUN says its exit code.
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile.fail"), []byte("FROM scratch\nCOPY busybox /bin/busybox\n"+
		"RUN [\"/bin/busybox\", \"sh\", \"-c\", \"exit 3\"]\n"), 0o644)
	cmd := exec.Command("docker", "buildx", "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.fail"), "--output", "type=local,dest="+filepath.Join(dir, "out4"), ctxDir)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "exit code: 3") {
		t.Fatalf("a failing RUN: err %v, want exit code: 3 in:\n%s", err, b)
	}
	if out, _ := exec.Command("pgrep", "-f", "hull-buildkit --root "+filepath.Join(dir, "root")).Output(); len(out) == 0 {
		t.Errorf("no hull-buildkit runs after the builds")
	}
}
