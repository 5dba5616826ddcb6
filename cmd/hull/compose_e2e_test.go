package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeProject is a compose project with what users' projects have: a
// user network, a named volume shared by two services, a published port,
// and depends_on with condition service_healthy (web starts once db's
// health check sees the file db wrote to the volume).
const composeProject = `name: hullcompose
services:
  db:
    image: compose/busybox:1
    pull_policy: never
    # httpd as PID 1 has no SIGTERM handler: down would wait the full 10 s.
    stop_grace_period: 1s
    command: ["sh", "-c", "echo ready > /data/ready; echo db started; exec httpd -f -p 8080 -h /data"]
    volumes:
      - data:/data
    networks: [back]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      timeout: 2s
      retries: 10
  web:
    image: compose/busybox:1
    pull_policy: never
    stop_grace_period: 1s
    command: ["sh", "-c", "echo web started; exec httpd -f -p 80 -h /data"]
    volumes:
      - data:/data
    networks: [back]
    ports:
      - "%d:80"
    depends_on:
      db:
        condition: service_healthy
volumes:
  data: {}
networks:
  back: {}
`

func requireCompose(t *testing.T) {
	t.Helper()
	requireDockerCLI(t)
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skip("docker compose is not installed (hack/lib.sh install_compose builds it): skipping the compose test")
	}
}

// TestComposeOnHull: docker compose v2 against hull — up -d, ps, logs,
// exec -T (output and exit codes), port, down -v — ten times in a row,
// each time leaving no container, network or volume of the project.
func TestComposeOnHull(t *testing.T) {
	requireCompose(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	// Every busybox applet (httpd, test): the root file system of hack/lib.sh.
	rootfs := filepath.Join(dir, "rootfs.tar")
	run(t, 0, nil, "bash", "-c", ". ../../hack/lib.sh && make_busybox_rootfs_tar "+rootfs)
	docker(t, env, "import", "-c", `CMD ["/bin/sh"]`, rootfs, "compose/busybox:1")
	proj := filepath.Join(dir, "project")
	os.MkdirAll(proj, 0o755)
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(proj, "compose.yaml"), []byte(fmt.Sprintf(composeProject, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := func(want int, args ...string) string {
		t.Helper()
		out, err := composeCmd(env, proj, args...)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("docker compose %s: %v", strings.Join(args, " "), err)
		}
		if code != want {
			t.Fatalf("docker compose %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		cmd := exec.Command("docker", "compose", "--project-directory", proj, "down", "-v")
		cmd.Env = env
		cmd.Run()
	})
	for i := 1; i <= 10; i++ {
		compose(0, "up", "-d")
		ps := compose(0, "ps", "--format", "{{.Service}} {{.State}} {{.Health}}")
		if !strings.Contains(ps, "db running healthy") || !strings.Contains(ps, "web running") {
			t.Fatalf("run %d: compose ps:\n%s", i, ps)
		}
		if got := compose(0, "exec", "-T", "web", "cat", "/data/ready"); got != "ready" {
			t.Fatalf("run %d: web does not see what db wrote to the volume: %q", i, got)
		}
		compose(3, "exec", "-T", "web", "sh", "-c", "exit 3")
		compose(127, "exec", "-T", "db", "nosuchcommand")
		if got := compose(0, "port", "web", "80"); got != fmt.Sprintf("0.0.0.0:%d", port) {
			t.Fatalf("run %d: compose port web 80: %q", i, got)
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", port))
		if err != nil {
			t.Fatalf("run %d: the published port: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(body)) != "ready" {
			t.Fatalf("run %d: GET /ready through the published port: %q", i, body)
		}
		waitFor(t, func() bool {
			logs := compose(0, "logs", "--no-color")
			return strings.Contains(logs, "db started") && strings.Contains(logs, "web started")
		}, "both services' logs")
		down := compose(0, "down", "-v")
		if strings.Contains(down, "No resource found") || strings.Count(down, "Network hullcompose_back Removing") != 1 {
			t.Errorf("run %d: compose down removed something twice or found nothing:\n%s", i, down)
		}
		for what, args := range map[string][]string{
			"containers": {"ps", "-aq", "--filter", "label=com.docker.compose.project=hullcompose"},
			"networks":   {"network", "ls", "-q", "--filter", "label=com.docker.compose.project=hullcompose"},
			"volumes":    {"volume", "ls", "-q", "--filter", "label=com.docker.compose.project=hullcompose"},
		} {
			if out := docker(t, env, args...); out != "" {
				t.Fatalf("run %d: %s left after down -v: %s", i, what, out)
			}
		}
		if t.Failed() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// composeCmd runs docker compose on the project in proj and returns its
// output. A command that has not ended after composeTimeout is killed and
// reported, so that the test fails with its daemon's log instead of the
// whole test binary timing out without one.
func composeCmd(env []string, proj string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"compose", "--project-directory", proj}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return out, fmt.Errorf("docker compose %s: not done after %s: %w", strings.Join(args, " "), composeTimeout, ctx.Err())
	}
	return out, err
}

const composeTimeout = 4 * time.Minute
