package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// loggedRegistry is go-containerregistry's registry on addr (a free
// loopback port when empty), recording the requests it serves as
// "METHOD PATH".
type loggedRegistry struct {
	addr string
	mu   sync.Mutex
	log  []string
}

func newLoggedRegistry(t *testing.T, addr string) *loggedRegistry {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	lr := &loggedRegistry{addr: l.Addr().String()}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr.mu.Lock()
		lr.log = append(lr.log, r.Method+" "+r.URL.Path)
		lr.mu.Unlock()
		reg.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return lr
}

// asked reports whether the registry was asked for the manifest at path
// (repository/manifests/tag).
func (lr *loggedRegistry) asked(path string) bool {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return slices.ContainsFunc(lr.log, func(s string) bool { return strings.HasSuffix(s, " /v2/"+path) })
}

// reset forgets the requests served so far.
func (lr *loggedRegistry) reset() {
	lr.mu.Lock()
	lr.log = nil
	lr.mu.Unlock()
}

func (lr *loggedRegistry) requests() string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return strings.Join(lr.log, "\n")
}

// busyboxImage is the busybox image the tests import, as
// go-containerregistry's image, to push to registries.
func busyboxImage(t *testing.T) v1.Image {
	t.Helper()
	dir := t.TempDir()
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "e2e/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "e2e/busybox:1")
	tag, _ := name.NewTag("e2e/busybox:1")
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pushTo(t *testing.T, img v1.Image, refs ...string) {
	t.Helper()
	for _, r := range refs {
		dst, err := name.NewTag(r, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(dst, img); err != nil {
			t.Fatalf("push %s: %v", r, err)
		}
	}
}

// TestRegistryMirrors: daemon.json's registry-mirrors-per-registry serves
// registry.k8s.io's images from mirrors on loopback (no internet needed),
// each mirror tried in order (one out of reach, one refusing credentials,
// one with the image), the repository path kept, the image stored under
// its original name and repo digest, for docker pull by tag and digest
// and docker run's implicit pull; a registry's image no mirror has comes
// from the registry itself; registry-mirrors serves Docker Hub's names;
// docker info shows the configuration as dockerd does; a bad mirror stops
// the daemon with dockerd's words.
func TestRegistryMirrors(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	img := busyboxImage(t)
	digest, _ := img.Digest()
	cfgName, _ := img.ConfigName()

	good := newLoggedRegistry(t, "")
	hub := newLoggedRegistry(t, "")
	origin := newLoggedRegistry(t, "")
	refusing := authRegistry(t)
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pushTo(t, img, good.addr+"/e2e-test-images/busybox:1.29", good.addr+"/e2e-test-images/busybox:run", good.addr+"/e2e-test-images/busybox:build",
		good.addr+"/e2e/both:1", hub.addr+"/library/hubimg:1",
		origin.addr+"/e2e/both:1", origin.addr+"/e2e/only-origin:1")
	for _, r := range []*loggedRegistry{good, hub, origin} {
		r.reset()
	}

	cfgDir := t.TempDir()
	cfg := fmt.Sprintf(`{
	"registry-mirrors-per-registry": {"registry.k8s.io": ["http://%s", "http://%s", "http://%s/"], %q: ["http://%s"]},
	"registry-mirrors": ["http://%s"],
	"insecure-registries": ["myreg.example.com:5000", "10.99.0.0/16"]
}`, dead, refusing, good.addr, origin.addr, good.addr, hub.addr)
	cfgFile := filepath.Join(cfgDir, "daemon.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env, _ := hullDaemon(t, "--config-file", cfgFile)

	// By tag: the third mirror has it, at the same repository path.
	ref := "registry.k8s.io/e2e-test-images/busybox:1.29"
	out := docker(t, env, "pull", ref)
	if !strings.Contains(out, "Status: Downloaded newer image for "+ref) || !strings.Contains(out, "Digest: "+digest.String()) {
		t.Errorf("docker pull %s:\n%s", ref, out)
	}
	if !good.asked("e2e-test-images/busybox/manifests/1.29") {
		t.Errorf("the mirror was not asked for e2e-test-images/busybox/manifests/1.29:\n%s", good.requests())
	}
	images := docker(t, env, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	if !strings.Contains(images, ref+" "+cfgName.String()[len("sha256:"):19]) || strings.Contains(images, good.addr) {
		t.Errorf("docker images after the pull through the mirror:\n%s", images)
	}
	var inspect []struct {
		ID          string `json:"Id"`
		RepoTags    []string
		RepoDigests []string
	}
	if err := json.Unmarshal([]byte(docker(t, env, "image", "inspect", ref)), &inspect); err != nil {
		t.Fatal(err)
	}
	wantDigest := "registry.k8s.io/e2e-test-images/busybox@" + digest.String()
	if len(inspect) != 1 || inspect[0].ID != cfgName.String() || !slices.Equal(inspect[0].RepoTags, []string{ref}) || !slices.Equal(inspect[0].RepoDigests, []string{wantDigest}) {
		t.Errorf("docker image inspect %s: %+v, want id %s, tags [%s], digests [%s]", ref, inspect, cfgName, ref, wantDigest)
	}
	// By digest, after the image is gone.
	docker(t, env, "rmi", ref)
	if out := docker(t, env, "pull", wantDigest); !strings.Contains(out, "Digest: "+digest.String()) {
		t.Errorf("docker pull %s:\n%s", wantDigest, out)
	}
	if got := docker(t, env, "image", "inspect", "--format", "{{.Id}}", wantDigest); got != cfgName.String() {
		t.Errorf("pulled by digest: %s, want %s", got, cfgName)
	}
	// docker run's own pull.
	if stdout, stderr, code := dockerRun(t, env, "", "run", "--rm", "--network", "none", "registry.k8s.io/e2e-test-images/busybox:run", "echo", "ran"); code != 0 || stdout != "ran\n" {
		t.Errorf("docker run of an image only the mirror has: %d %q %q", code, stdout, stderr)
	}

	// A registry's own image when its mirror lacks it; the mirror's
	// when it has it (the registry is not asked).
	oref := origin.addr + "/e2e/only-origin:1"
	docker(t, env, "pull", oref)
	if !good.asked("e2e/only-origin/manifests/1") || !origin.asked("e2e/only-origin/manifests/1") {
		t.Errorf("pull of %s: the mirror then the registry should have been asked:\nmirror:\n%s\nregistry:\n%s", oref, good.requests(), origin.requests())
	}
	docker(t, env, "pull", origin.addr+"/e2e/both:1")
	if origin.asked("e2e/both/manifests/1") {
		t.Errorf("the registry was asked for an image its mirror has:\n%s", origin.requests())
	}
	got := docker(t, env, "image", "inspect", "--format", "{{.RepoTags}} {{.RepoDigests}}", origin.addr+"/e2e/both:1")
	if !strings.Contains(got, origin.addr+"/e2e/both:1") || !strings.Contains(got, origin.addr+"/e2e/both@"+digest.String()) {
		t.Errorf("the image from the registry's mirror: %s", got)
	}

	// Docker Hub's mirror (registry-mirrors): library/ kept.
	if out := docker(t, env, "pull", "hubimg:1"); !strings.Contains(out, "Status: Downloaded newer image for hubimg:1") {
		t.Errorf("docker pull hubimg:1:\n%s", out)
	}
	if !hub.asked("library/hubimg/manifests/1") {
		t.Errorf("Docker Hub's mirror was not asked for library/hubimg/manifests/1:\n%s", hub.requests())
	}
	if got := docker(t, env, "images", "--format", "{{.Repository}}:{{.Tag}}", "hubimg"); got != "hubimg:1" {
		t.Errorf("docker images hubimg: %q", got)
	}

	// The builder's pulls (FROM in BuildKit's resolver) follow the
	// mirrors too, in the same order.
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-buildkit"), "../hull-buildkit").CombinedOutput(); err != nil {
		t.Fatalf("build hull-buildkit: %v\n%s", err, out)
	}
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM registry.k8s.io/e2e-test-images/busybox:build\nLABEL built=yes\n"), 0o644)
	if stdout, stderr, code := dockerRun(t, append(env, "DOCKER_BUILDKIT=0"), "", "build", "-t", "e2e/built:1", ctxDir); code != 0 {
		t.Errorf("docker build FROM an image only the mirror has: %d\n%s\n%s", code, stdout, stderr)
	}
	if !good.asked("e2e-test-images/busybox/manifests/build") {
		t.Errorf("the builder did not ask the mirror for e2e-test-images/busybox/manifests/build:\n%s", good.requests())
	}
	if got := docker(t, env, "image", "inspect", "--format", "{{.Config.Labels.built}} {{len .RootFS.Layers}}", "e2e/built:1"); got != "yes 1" {
		t.Errorf("the built image: %q", got)
	}

	// An image no mirror has, of a registry out of reach: an error.
	if _, stderr, code := dockerRun(t, env, "", "pull", "registry.k8s.io/e2e-test-images/none:1"); code == 0 || !strings.Contains(stderr, "Error response from daemon") {
		t.Errorf("docker pull of an image no mirror has: %d %q", code, stderr)
	}

	// docker info, as dockerd's.
	info := docker(t, env, "info")
	for _, want := range []string{"Registry Mirrors:\n  http://" + hub.addr + "/\n", "Insecure Registries:\n", "  myreg.example.com:5000\n", "  10.99.0.0/16\n", "  127.0.0.0/8\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("docker info has no %q:\n%s", want, info)
		}
	}
	var raw struct {
		RegistryConfig struct {
			InsecureRegistryCIDRs []string
			IndexConfigs          map[string]struct {
				Name     string
				Mirrors  []string
				Secure   bool
				Official bool
			}
			Mirrors []string
		}
	}
	if err := json.Unmarshal([]byte(docker(t, env, "system", "info", "--format", "{{json .}}")), &raw); err != nil {
		t.Fatal(err)
	}
	rc := raw.RegistryConfig
	k8s := rc.IndexConfigs["registry.k8s.io"]
	if !slices.Equal(rc.Mirrors, []string{"http://" + hub.addr + "/"}) ||
		!slices.Equal(rc.IndexConfigs["docker.io"].Mirrors, rc.Mirrors) || !rc.IndexConfigs["docker.io"].Official ||
		!slices.Equal(k8s.Mirrors, []string{"http://" + dead + "/", "http://" + refusing + "/", "http://" + good.addr + "/"}) || !k8s.Secure ||
		rc.IndexConfigs["myreg.example.com:5000"].Secure || rc.IndexConfigs["myreg.example.com:5000"].Name != "myreg.example.com:5000" ||
		!slices.Contains(rc.InsecureRegistryCIDRs, "10.99.0.0/16") || !slices.Contains(rc.InsecureRegistryCIDRs, "127.0.0.0/8") {
		t.Errorf("info's RegistryConfig: %+v", rc)
	}

	// A bad mirror: the daemon does not start, with dockerd's words.
	for bad, want := range map[string]string{
		`{"registry-mirrors": ["ftp://m"]}`:                                       `invalid mirror: unsupported scheme "ftp" in "ftp://m"`,
		`{"registry-mirrors-per-registry": {"registry.k8s.io": ["https://m/p"]}}`: `invalid mirror: path, query, or fragment at end of the URI "https://m/p"`,
		`{"insecure-registries": ["m.example.com/x"]}`:                            `insecure registry m.example.com/x is not valid: invalid host "m.example.com/x"`,
	} {
		f := filepath.Join(cfgDir, "bad.json")
		os.WriteFile(f, []byte(bad), 0o644)
		d := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, hullBin, "daemon", "-H", "unix://"+filepath.Join(d, "h.sock"), "--data-root", filepath.Join(d, "root"), "--exec-root", filepath.Join(d, "run"), "--config-file", f)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("hull daemon with %s: %v\n%s\nwant %q", bad, err, out, want)
		}
	}
}

// testNetAddrs puts two addresses of TEST-NET-1 (192.0.2.0/24, neither
// loopback nor private) on a veth pair of the test's, removed after it.
func testNetAddrs(t *testing.T) (x, y string) {
	t.Helper()
	a := 100 + 2*(os.Getpid()%70)
	x, y = fmt.Sprintf("192.0.2.%d", a), fmt.Sprintf("192.0.2.%d", a+1)
	link := fmt.Sprintf("hmir%d", os.Getpid()%100000)
	t.Cleanup(func() { exec.Command("ip", "link", "del", link).Run() })
	for _, args := range [][]string{
		{"link", "add", link, "type", "veth", "peer", "name", link + "p"},
		{"addr", "add", x + "/32", "dev", link}, {"addr", "add", y + "/32", "dev", link},
		{"link", "set", link, "up"}, {"link", "set", link + "p", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return x, y
}

// tlsRegistry is go-containerregistry's registry over TLS with a
// certificate no one trusts, on an address of host.
func tlsRegistry(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return l.Addr().String()
}

// TestInsecureRegistries: registries away from loopback are spoken to
// with verified HTTPS unless insecure-registries names them, by host:port
// (unverified TLS) or by network (plain HTTP after TLS fails), with
// dockerd's errors otherwise.
func TestInsecureRegistries(t *testing.T) {
	requireDockerCLI(t)
	requireRoot(t)
	img := busyboxImage(t)
	x, y := testNetAddrs(t)
	plain := newLoggedRegistry(t, x+":0")  // insecure by CIDR
	plainY := newLoggedRegistry(t, y+":0") // secure: plain HTTP refused
	tlsOK := tlsRegistry(t, y)             // insecure by host:port
	tlsBad := tlsRegistry(t, y)            // secure: its certificate refused
	skip := remote.WithTransport(&http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}})
	pushTo(t, img, plain.addr+"/e2e/plain:1", plainY.addr+"/e2e/plain:1")
	for _, r := range []string{tlsOK + "/e2e/tls:1", tlsBad + "/e2e/tls:1"} {
		dst, _ := name.NewTag(r)
		if err := remote.Write(dst, img, skip); err != nil {
			t.Fatalf("push %s: %v", r, err)
		}
	}
	cfgFile := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{"insecure-registries": ["%s/32", %q]}`, x, tlsOK)), 0o644)
	env, _ := hullDaemon(t, "--config-file", cfgFile)

	for _, ref := range []string{plain.addr + "/e2e/plain:1", tlsOK + "/e2e/tls:1"} {
		if _, stderr, code := dockerRun(t, env, "", "pull", ref); code != 0 {
			t.Errorf("docker pull %s (an insecure registry): %d %s", ref, code, stderr)
		}
	}
	for ref, want := range map[string]string{
		plainY.addr + "/e2e/plain:1": "http: server gave HTTP response to HTTPS client",
		tlsBad + "/e2e/tls:1":        "x509: certificate",
	} {
		_, stderr, code := dockerRun(t, env, "", "pull", ref)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("docker pull %s (a secure registry): %d %q, want %q", ref, code, stderr, want)
		}
		t.Logf("docker pull %s: %s", ref, stderr)
	}

	// So do logins (the CLI keeps the credentials in a folder of the
	// test's).
	lenv := append(env, "DOCKER_CONFIG="+t.TempDir())
	if stdout, stderr, code := dockerRun(t, lenv, "", "login", "-u", "u", "-p", "p", tlsOK); code != 0 || !strings.Contains(stdout, "Login Succeeded") {
		t.Errorf("docker login %s (an insecure registry): %d %q %q", tlsOK, code, stdout, stderr)
	}
	if _, stderr, code := dockerRun(t, lenv, "", "login", "-u", "u", "-p", "p", tlsBad); code == 0 || !strings.Contains(stderr, "x509: certificate") {
		t.Errorf("docker login %s (a secure registry): %d %q", tlsBad, code, stderr)
	}

	// Pushes choose the same way.
	src := plain.addr + "/e2e/plain:1"
	for _, dst := range []string{plain.addr + "/e2e/pushed:1", tlsOK + "/e2e/pushed:1"} {
		docker(t, env, "tag", src, dst)
		if _, stderr, code := dockerRun(t, env, "", "push", dst); code != 0 {
			t.Errorf("docker push %s (an insecure registry): %d %s", dst, code, stderr)
		}
	}
	if !plain.asked("e2e/pushed/manifests/1") {
		t.Errorf("the push did not reach %s:\n%s", plain.addr, plain.requests())
	}
	for dst, want := range map[string]string{
		plainY.addr + "/e2e/pushed:1": "http: server gave HTTP response to HTTPS client",
		tlsBad + "/e2e/pushed:1":      "x509: certificate",
	} {
		docker(t, env, "tag", src, dst)
		if _, stderr, code := dockerRun(t, env, "", "push", dst); code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("docker push %s (a secure registry): %d %q, want %q", dst, code, stderr, want)
		}
	}
}
