package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildHullBuildKit builds hull-buildkit beside the test's hull binary.
func buildHullBuildKit(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-buildkit"), "../hull-buildkit").CombinedOutput(); err != nil {
		t.Fatalf("build hull-buildkit: %v\n%s", err, out)
	}
}

// TestComposeBuildOnHull: docker compose build and up --build, as a new
// user runs them, on hull's BuildKit through buildx: the image FROM an
// image hull has, offline, tagged in hull's store (docker images), run by
// up; a second build is all cached; down leaves nothing of the project.
func TestComposeBuildOnHull(t *testing.T) {
	requireCompose(t)
	buildShim(t)
	buildHullBuildKit(t)
	env, dir := hullDaemon(t)
	cfg := buildxPlugin(t, dir)
	env = append(env, "DOCKER_CONFIG="+cfg)
	base := importFullBusybox(t, env, dir)

	proj := filepath.Join(dir, "proj")
	os.MkdirAll(proj, 0o755)
	os.WriteFile(filepath.Join(proj, "Dockerfile"), []byte("FROM "+base+"\nARG GREETING=hello\n"+
		"RUN echo \"$GREETING from compose build\" > /msg\nCMD [\"cat\", \"/msg\"]\n"), 0o644)
	os.WriteFile(filepath.Join(proj, "compose.yaml"), []byte(`name: hullbuild
services:
  app:
    build:
      context: .
      args:
        GREETING: hi
    image: hullbuild/app:1
`), 0o644)
	compose := func(args ...string) (string, error) {
		b, err := composeCmd(env, proj, args...)
		return string(b), err
	}
	defer compose("down", "--rmi", "all", "-v")

	start := time.Now().Add(-time.Second).Unix()
	if out, err := compose("build", "--progress=plain"); err != nil {
		t.Fatalf("docker compose build: %v\n%s", err, out)
	}
	// The build's image events are dockerd's: a tag, no load.
	evs := docker(t, env, "events", "--since", strconv.FormatInt(start, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "type=image", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if !strings.Contains(evs, "tag hullbuild/app:1") || strings.Contains(evs, "load") {
		t.Errorf("image events of the build: %q, want a tag of hullbuild/app:1 and no load", evs)
	}
	if got := docker(t, env, "images", "--format", "{{.Repository}}:{{.Tag}}", "hullbuild/app"); strings.TrimSpace(got) != "hullbuild/app:1" {
		t.Fatalf("docker images after compose build: %q, want hullbuild/app:1", got)
	}
	out, err := compose("up", "--build", "--abort-on-container-exit")
	if err != nil || !strings.Contains(out, "hi from compose build") {
		t.Fatalf("docker compose up --build: %v\n%s", err, out)
	}
	out, err = compose("build", "--progress=plain")
	if err != nil || !strings.Contains(out, "CACHED") {
		t.Fatalf("a second compose build: %v, want its RUN step CACHED:\n%s", err, out)
	}
	if out, err := compose("down", "--rmi", "all", "-v"); err != nil {
		t.Fatalf("docker compose down: %v\n%s", err, out)
	}
	if got := docker(t, env, "ps", "-aq"); strings.TrimSpace(got) != "" {
		t.Errorf("containers left after down: %q", got)
	}
	if got := docker(t, env, "images", "-q", "hullbuild/app"); strings.TrimSpace(got) != "" {
		t.Errorf("the built image is left after down --rmi all: %q", got)
	}
}
