package daemon

// The docker CLI for Windows (docker.exe) against the daemon's Windows flow
// on the recording fakes of hcsshim, over a named pipe, both as Windows
// programs: hack/wine.sh cross-builds docker.exe and runs this under Wine
// (HULL_TEST_DOCKER_EXE). The fakes stand for HCS and HNS, which no host
// here has. An image cannot be put in the store under Wine (its layers are
// unpacked through BackupWrite), so `docker run` is TestWindowsDaemonWithDockerCLI's,
// on Linux.

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Microsoft/go-winio"

	"github.com/hullproject/hull/internal/server"
	"github.com/hullproject/hull/internal/wine"
)

func TestWindowsDockerCLIOnNamedPipe(t *testing.T) {
	docker := os.Getenv("HULL_TEST_DOCKER_EXE")
	if docker == "" {
		var err error
		if docker, err = exec.LookPath("docker.exe"); err != nil {
			t.Skip("the docker CLI for Windows is not there (HULL_TEST_DOCKER_EXE, or docker.exe on PATH)")
		}
	}
	dir := wine.TempDir(t)
	r := &hcsRecorder{containers: map[string]*fakeSystem{}}
	APIVersion, MinAPIVersion = server.APIVersion, server.MinAPIVersion
	d, err := New(context.Background(), Config{Root: filepath.Join(dir, "root"), ExecRoot: filepath.Join(dir, "run"),
		Windows: &WindowsServices{Layers: fakeLayers{r}, Compute: fakeHCS{r}, HNS: fakeHNS{r}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pipe := `\\.\pipe\hull_engine_dockercli_test`
	l, err := winio.ListenPipe(pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: server.New(d), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	env := append(os.Environ(), "DOCKER_HOST=npipe:////./pipe/hull_engine_dockercli_test", "DOCKER_CONFIG="+filepath.Join(dir, "docker-config"))
	docker1 := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, docker, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker.exe %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}

	v := docker1("version", "--format", "{{.Client.Os}} {{.Server.Os}} {{.Server.APIVersion}}")
	t.Logf("docker.exe version: %s", v)
	if v != "windows windows "+server.APIVersion {
		t.Errorf("docker.exe version: %q, want windows windows %s", v, server.APIVersion)
	}
	if got := docker1("info", "--format", "{{.OSType}}"); got != "windows" {
		t.Errorf("docker.exe info: OSType %q", got)
	}
	if got := docker1("ps", "-a", "--format", "{{.Names}}"); got != "" {
		t.Errorf("docker.exe ps -a: %q", got)
	}
	r.take()
	docker1("network", "create", "-d", "nat", "--subnet", "172.30.0.0/16", "natnet")
	if out := docker1("network", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=natnet"); out != "natnet nat" {
		t.Errorf("docker.exe network ls: %q", out)
	}
	docker1("network", "rm", "natnet")
	got := strings.Join(r.take(), ",")
	t.Logf("docker.exe network create -d nat --subnet 172.30.0.0/16 natnet; network rm natnet made: %s", got)
	if got != "HNS CreateNetwork natnet NAT 172.30.0.0/16,HNS DeleteNetwork net-natnet" {
		t.Errorf("network create/rm: %s", got)
	}
}
