package daemon

// The docker CLI against a daemon running its Windows flow on recording
// fakes of hcsshim (layers, HNS, HCS): the calls `docker run -id --network
// examplenetwork --name example IMAGE powershell` makes, in order, and what
// a daemon restart does. This runs on Linux; no Windows host has run it.

import (
	"archive/tar"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/image"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/server"
)

func oneFileTar(t *testing.T, name, content string) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	return &b
}

// serveDaemon starts a daemon on the fakes and serves its API on a unix
// socket; stop closes both (containers stay, live-restore).
func serveDaemon(t *testing.T, dir string, r *hcsRecorder) (d *Daemon, env []string, stop func()) {
	t.Helper()
	d, err := New(context.Background(), Config{Root: filepath.Join(dir, "root"), ExecRoot: filepath.Join(dir, "run"), LiveRestore: true,
		Windows: &WindowsServices{Layers: fakeLayers{r}, Compute: fakeHCS{r}, HNS: fakeHNS{r}}})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: server.New(d)}
	go srv.Serve(l)
	return d, append(os.Environ(), "DOCKER_HOST=unix://"+sock), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		d.Close()
	}
}

func dockerCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestWindowsDaemonWithDockerCLI: issue 7's call order through the API.
func TestWindowsDaemonWithDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed: skipping the test with the real client")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (the daemon's stores)")
	}
	dir, err := os.MkdirTemp("/var/tmp", "hullwin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &hcsRecorder{containers: map[string]*fakeSystem{}}
	d, env, stop := serveDaemon(t, dir, r)
	running := true
	t.Cleanup(func() {
		if running {
			stop()
		}
	})
	// A two-layer image in the daemon's image store (its layers are
	// where windowsfilter finds them).
	ctx := context.Background()
	base, err := d.images.Import(ctx, oneFileTar(t, "Windows/base.txt", "base"), image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.images.Commit(ctx, base, oneFileTar(t, "Windows/top.txt", "top"), image.CommitOptions{Ref: "example/win:1"}); err != nil {
		t.Fatal(err)
	}
	img, err := d.images.Get(ctx, "example/win:1")
	if err != nil {
		t.Fatal(err)
	}
	r.take()

	id := dockerCLI(t, env, "run", "-id", "--network", "examplenetwork", "--name", "example", "example/win:1", "powershell")
	if len(id) != 64 {
		t.Fatalf("docker run printed %q", id)
	}
	top, ctr := img.TopLayer[:4], id[:4]
	want := []string{
		"GetLayerMountPath " + top,
		"CreateScratchLayer " + ctr,
		"ActivateLayer " + ctr,
		"PrepareLayer " + ctr,
		"GetLayerMountPath " + ctr,
		"HNS CreateEndpoint net-examplenetwork",
		"HNS CreateNamespace",
		"HCS CreateContainer " + ctr + " endpoints=ep-1",
		"HCS Start " + ctr,
		"HCS CreateProcess powershell",
	}
	gotRun := r.take()
	t.Logf("docker run -id --network examplenetwork --name example example/win:1 powershell made:\n%s", strings.Join(gotRun, "\n"))
	if got := gotRun; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls of docker run:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if out := dockerCLI(t, env, "ps", "--format", "{{.Names}} {{.State}}"); out != "example running" {
		t.Errorf("docker ps: %q", out)
	}
	doc := r.doc(0)
	if len(doc.Layers) != 2 || doc.LayerFolderPath != filepath.Join(dir, "root", "layers", id) || len(doc.EndpointList) != 1 {
		t.Errorf("the compute system's document: %+v", doc)
	}

	// Windows networks through the API: an HNS network of the driver's
	// type, and removed again.
	dockerCLI(t, env, "network", "create", "-d", "nat", "--subnet", "172.30.0.0/16", "natnet")
	if out := dockerCLI(t, env, "network", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=natnet"); out != "natnet nat" {
		t.Errorf("docker network ls: %q", out)
	}
	dockerCLI(t, env, "network", "rm", "natnet")
	if got := strings.Join(r.take(), ","); got != "HNS CreateNetwork natnet NAT 172.30.0.0/16,HNS DeleteNetwork net-natnet" {
		t.Errorf("network create/rm: %s", got)
	}
	// hull diag's view of HNS: the compartment and its endpoint.
	comps, eps, err := network.HNSCompartments(fakeHNS{r})
	if err != nil || len(comps) != 1 || comps[0].Description != `\Container_3b5c3e8abdda` || len(eps["ns-1"]) != 1 || eps["ns-1"][0].IpConfigurations[0].IpAddress != "172.28.0.2" {
		t.Errorf("HNSCompartments: %+v %+v %v", comps, eps, err)
	}

	// docker exec: one more process in the compute system.
	if out := dockerCLI(t, env, "exec", "example", "cmd", "/c", "echo", "from", "exec"); out != "from exec\nto stderr" && out != "to stderr\nfrom exec" {
		t.Errorf("docker exec: %q", out)
	}
	cmd := exec.Command("docker", "exec", "example", "cmd", "/c", "exit", "4")
	cmd.Env = env
	if cmd.Run(); cmd.ProcessState.ExitCode() != 4 {
		t.Errorf("docker exec … exit 4: exit %d", cmd.ProcessState.ExitCode())
	}
	if got := strings.Join(r.take(), ","); got != "HCS CreateProcess cmd /c echo from exec,HCS CreateProcess cmd /c exit 4" {
		t.Errorf("exec calls: %s", got)
	}

	// top from HCS's process list, stats from its statistics.
	if out := dockerCLI(t, env, "top", "example"); !strings.Contains(out, "powershell.exe") || !strings.Contains(out, "4242") {
		t.Errorf("docker top:\n%s", out)
	}
	if out := dockerCLI(t, env, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "example"); !strings.HasPrefix(out, "example 64MiB") {
		t.Errorf("docker stats: %q", out)
	}

	// Foreground runs: output and stderr through attach, the exit code,
	// stdin, docker logs.
	cmd = exec.Command("docker", "run", "--rm", "--network", "examplenetwork", "example/win:1", "cmd", "/c", "echo", "hello", "from", "HCS")
	cmd.Env = env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil || so.String() != "hello from HCS\n" || se.String() != "to stderr\n" {
		t.Errorf("docker run … cmd /c echo: %v stdout %q stderr %q", err, so.String(), se.String())
	}
	cmd = exec.Command("docker", "run", "--rm", "--network", "examplenetwork", "example/win:1", "cmd", "/c", "exit", "3")
	cmd.Env = env
	if err := cmd.Run(); cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("docker run … cmd /c exit 3: %v (exit %d)", err, cmd.ProcessState.ExitCode())
	}
	cmd = exec.Command("docker", "run", "-i", "--rm", "--network", "examplenetwork", "example/win:1", "more")
	cmd.Env, cmd.Stdin = env, strings.NewReader("typed in\n")
	if out, err := cmd.Output(); err != nil || string(out) != "typed in\n" {
		t.Errorf("docker run -i … more: %v %q", err, out)
	}
	dockerCLI(t, env, "run", "--name", "logged", "--network", "examplenetwork", "example/win:1", "cmd", "/c", "echo", "kept", "in", "the", "log")
	// The two streams are read side by side: their lines may come in either order.
	if out := dockerCLI(t, env, "logs", "logged"); out != "kept in the log\nto stderr" && out != "to stderr\nkept in the log" {
		t.Errorf("docker logs: %q", out)
	}
	dockerCLI(t, env, "rm", "logged")
	r.take()

	// The daemon goes away and comes back: it reopens the compute system
	// and its process; nothing is terminated.
	stop()
	running = false
	_, env, stop = serveDaemon(t, dir, r)
	running = true
	got := r.take()
	if strings.Join(got, ",") != "HCS GetContainers owner=hull,HCS OpenContainer "+ctr+",HCS OpenProcess "+ctr {
		t.Errorf("calls of a daemon restart: %v", got)
	}
	if out := dockerCLI(t, env, "ps", "--format", "{{.Names}} {{.State}}"); out != "example running" {
		t.Errorf("docker ps after the restart: %q", out)
	}

	// docker rm -f: terminate, then the network, the layer and its folder.
	dockerCLI(t, env, "rm", "-f", "example")
	got = r.take()
	joined := strings.Join(got, ",")
	for _, w := range []string{"HCS Terminate " + ctr, "UnprepareLayer " + ctr, "DeactivateLayer " + ctr, "DestroyLayer " + ctr} {
		if !strings.Contains(joined, w) {
			t.Errorf("docker rm -f: no %s in %v", w, got)
		}
	}
	if strings.Index(joined, "HCS Terminate") > strings.Index(joined, "DestroyLayer") {
		t.Errorf("the layer was destroyed before the compute system: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "root", "layers", id)); !os.IsNotExist(err) {
		t.Errorf("the scratch layer's folder remains: %v", err)
	}
	if out := dockerCLI(t, env, "ps", "-aq"); out != "" {
		t.Errorf("containers left: %q", out)
	}
}
