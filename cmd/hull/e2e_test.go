package main

// End-to-end tests: they build the hull binary and drive it as a user
// would, with real overlayfs mounts and, where installed, a real dockerd.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var hullBin string

func TestMain(m *testing.M) {
	// Under Wine (hack/wine.sh) there is no go command: hull.exe is built
	// beforehand, cross-compiled, and named here.
	if exe := os.Getenv("HULL_TEST_HULL_EXE"); exe != "" {
		hullBin = exe
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "hull-e2e-bin")
	if err != nil {
		panic(err)
	}
	hullBin = filepath.Join(dir, "hull")
	if runtime.GOOS == "windows" {
		hullBin += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", hullBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hull: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (overlayfs mounts); run the tests as root")
	}
}

// run runs a command and returns its standard output; it fails the test
// unless the command exits with want.
func run(t *testing.T, want int, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if code != want {
		t.Fatalf("%s %s: exit %d, want %d\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func hull(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, 0, nil, hullBin, args...)
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	src := t.TempDir()
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []byte(run(t, 0, nil, "tar", "-C", src, "-cf", "-", "."))
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}

// leftMountsUnder is mountsUnder without the network service's
// compartments made ahead (<exec root>/netpool/), which a running daemon
// keeps by design: what a check made while the daemon runs calls left.
func leftMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, m := range mountsUnder(t, dir) {
		if !strings.Contains(m, "/netpool/") {
			out = append(out, m)
		}
	}
	return out
}

// TestLayerTool is acceptance 3 of the storage issue: a scratch layer over
// two read-only layers mounts as one root file system, a write lands in
// the scratch layer only, chain prints the parents nearest first, and
// unmount and remove leave nothing behind.
func TestLayerTool(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	l1, l2, bundle := filepath.Join(dir, "L1"), filepath.Join(dir, "L2"), filepath.Join(dir, "bundle")
	t.Cleanup(func() { exec.Command(hullBin, "layer", "remove", "--force", bundle).Run() })

	run(t, 0, tarOf(t, map[string]string{"etc/base": "base\n", "etc/shared": "one\n"}), hullBin, "layer", "import", l1)
	run(t, 0, tarOf(t, map[string]string{"etc/shared": "two\n"}), hullBin, "layer", "import", "--layer", l1, l2)
	hull(t, "layer", "create", "--layer", l2, "--layer", l1, bundle)
	if got, want := hull(t, "layer", "chain", bundle), l2+"\n"+l1+"\n"; got != want {
		t.Fatalf("chain = %q, want %q", got, want)
	}
	root := strings.TrimSpace(hull(t, "layer", "mount", bundle))
	for name, want := range map[string]string{"etc/base": "base\n", "etc/shared": "two\n"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != want {
			t.Errorf("%s in the mounted rootfs = %q, %v; want %q", name, b, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/new"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	found := run(t, 0, nil, "find", dir, "-name", "new", "-not", "-path", root+"/*")
	if want := filepath.Join(bundle, "diff/etc/new") + "\n"; found != want {
		t.Errorf("the write landed in %q, want only %q", found, want)
	}
	if got := hull(t, "layer", "changes", bundle); got != "C /etc\nA /etc/new\n" {
		t.Errorf("changes = %q", got)
	}
	run(t, 2, nil, hullBin, "layer", "remove", bundle) // mounted: refused
	hull(t, "layer", "unmount", bundle)
	hull(t, "layer", "remove", bundle)
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Errorf("bundle remains after remove: %v", err)
	}
	if m := mountsUnder(t, dir); len(m) > 0 {
		t.Errorf("mounts remain: %v", m)
	}
}

// dockerd starts a private dockerd for the test and returns the
// environment for the docker CLI to reach it; it skips when either is
// missing.
func dockerd(t *testing.T) []string {
	t.Helper()
	for _, b := range []string{"dockerd", "docker"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s is not installed (Debian's docker.io gives it): skipping the test against the real dockerd", b)
		}
	}
	// Short paths: containerd's socket lives under the exec root.
	dir, err := os.MkdirTemp("/var/tmp", "hulld")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "x"),
		"-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "pid"), "--bridge=none", "--iptables=false", "--ip-masq=false",
		"--storage-driver", "overlay2")
	logf, _ := os.Create(filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// dockerd makes its plugin folder /run/docker/plugins whatever its
	// roots: what it made there goes when the test ends.
	var made []string
	for _, p := range []string{"/run/docker/plugins", "/run/docker"} {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			made = append(made, p)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		for _, m := range mountsUnder(t, dir) {
			_ = exec.Command("umount", "-l", m).Run()
		}
		os.RemoveAll(dir)
		for _, p := range made { // deepest first; only if empty
			os.Remove(p)
		}
	})
	env := append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_API_VERSION=1.41", "DOCKER_BUILDKIT=0")
	for i := 0; i < 100; i++ {
		c := exec.Command("docker", "version")
		c.Env = env
		if c.Run() == nil {
			return env
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	t.Skipf("dockerd did not come up here:\n%s", b)
	return nil
}

func docker(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestImageRoundTripWithDockerd is acceptance 2: a docker save tarball
// written by the real dockerd loads into hull; hull's save of it loads
// again (into hull and into dockerd) with the identical image id; the OCI
// layout round-trips too.
func TestImageRoundTripWithDockerd(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox is missing: apt-get install busybox-static")
	}
	env := dockerd(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	run(t, 0, nil, "bash", "-c", ". ../../hack/lib.sh && make_busybox_rootfs_tar "+rootfs)
	docker(t, env, "import", "-c", `CMD ["/bin/sh"]`, rootfs, "e2e/busybox:base")
	ctxDir := filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "hello.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM e2e/busybox:base\nCOPY hello.txt /etc/hello.txt\nENV GREETING=hi\n"), 0o644)
	docker(t, env, "build", "-q", "-t", "e2e/busybox:two", ctxDir)
	want := docker(t, env, "image", "inspect", "--format", "{{.Id}}", "e2e/busybox:two")
	saved := filepath.Join(dir, "docker-saved.tar")
	docker(t, env, "save", "-o", saved, "e2e/busybox:two")

	r1, r2, r3 := filepath.Join(dir, "r1"), filepath.Join(dir, "r2"), filepath.Join(dir, "r3")
	hull(t, "--root", r1, "image", "load", "-q", "-i", saved)
	if got := strings.TrimSpace(hull(t, "--root", r1, "image", "inspect", "--format", "{{.Id}}", "e2e/busybox:two")); got != want {
		t.Fatalf("hull loaded %s, dockerd saved %s", got, want)
	}
	top := strings.TrimSpace(hull(t, "--root", r1, "image", "inspect", "--format", "{{.GraphDriver.Data.dir}}", "e2e/busybox:two"))
	if chain := hull(t, "layer", "chain", top); strings.Count(chain, "\n") != 1 {
		t.Errorf("the top layer's chain is %q, want the base layer", chain)
	}
	resaved := filepath.Join(dir, "hull-saved.tar")
	hull(t, "--root", r1, "image", "save", "-o", resaved, "e2e/busybox:two")
	hull(t, "--root", r2, "image", "load", "-q", "-i", resaved)
	if got := strings.TrimSpace(hull(t, "--root", r2, "image", "inspect", "--format", "{{.Id}}", "e2e/busybox:two")); got != want {
		t.Errorf("hull's save loaded back as %s, want %s", got, want)
	}
	docker(t, env, "rmi", "-f", "e2e/busybox:two", "e2e/busybox:base")
	docker(t, env, "load", "-i", resaved)
	if got := docker(t, env, "image", "inspect", "--format", "{{.Id}}", "e2e/busybox:two"); got != want {
		t.Errorf("dockerd loaded hull's save as %s, want %s", got, want)
	}
	oci := filepath.Join(dir, "oci.tar")
	hull(t, "--root", r1, "image", "save", "--format", "oci", "-o", oci, "e2e/busybox:two")
	hull(t, "--root", r3, "image", "load", "-q", "-i", oci)
	if got := strings.TrimSpace(hull(t, "--root", r3, "image", "inspect", "--format", "{{.Id}}", "e2e/busybox:two")); got != want {
		t.Errorf("the OCI layout loaded back as %s, want %s", got, want)
	}
}

// distributionRegistry starts Debian's docker-registry (the distribution
// registry) on a free loopback port and returns its host:port; it skips
// when the package is not installed.
func distributionRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed (apt-get install docker-registry): skipping the test against the distribution registry")
	}
	dir := t.TempDir()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("docker-registry did not listen on %s", addr)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPushPullDistributionRegistry pushes an image hull imported to the
// distribution registry on loopback and pulls it into a fresh root with the
// same id; where dockerd is installed, dockerd pulls it too.
func TestPushPullDistributionRegistry(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox is missing: apt-get install busybox-static")
	}
	reg := distributionRegistry(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	run(t, 0, nil, "bash", "-c", ". ../../hack/lib.sh && make_busybox_rootfs_tar "+rootfs)
	r1, r2 := filepath.Join(dir, "r1"), filepath.Join(dir, "r2")
	ref := reg + "/e2e/busybox:pushed"
	id := strings.TrimSpace(hull(t, "--root", r1, "image", "import", "--change", "ENV A=b", rootfs, ref))
	out := hull(t, "--root", r1, "image", "push", ref)
	if !strings.Contains(out, "pushed: digest: sha256:") {
		t.Errorf("push printed no digest line:\n%s", out)
	}
	out = hull(t, "--root", r2, "image", "pull", ref)
	if !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("pull printed no status line:\n%s", out)
	}
	if got := strings.TrimSpace(hull(t, "--root", r2, "image", "inspect", "--format", "{{.Id}}", ref)); got != id {
		t.Fatalf("pulled %s, pushed %s", got, id)
	}
	if _, err := exec.LookPath("dockerd"); err == nil {
		env := dockerd(t)
		docker(t, env, "pull", ref)
		if got := docker(t, env, "image", "inspect", "--format", "{{.Id}}", ref); got != id {
			t.Errorf("dockerd pulled %s, hull pushed %s", got, id)
		}
	}
}
