package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// The Dockerfiles of issue 14's feature list. appDockerfile is built with
// -f and --target final: the default Dockerfile beside it and the stage
// "broken" fail if they are ever built. The secret step works without the
// secret too (the legacy path has no session to give it).
const (
	baseDockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"/bin\"]\nRUN mkdir /tmp\nCMD [\"/bin/sh\"]\n"

	appDockerfile = `ARG BASE=e2e/bbase:1
FROM ${BASE} AS builder
ARG VERSION=0
RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/runs; wc -l < /cache/runs > /count; echo v$VERSION > /version'
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo t > /scratch/x; grep " /scratch " /proc/mounts | cut -d" " -f3 > /tmpfs.txt'
RUN --mount=type=secret,id=tok,required=false sh -c 'if [ -f /run/secrets/tok ]; then wc -c < /run/secrets/tok; else echo none; fi > /secret-len'
RUN <<EOT
echo from heredoc > /heredoc.txt
echo second line >> /heredoc.txt
EOT
COPY <<EOT /inline.txt
inline file
EOT

FROM scratch AS broken
COPY --from=e2e/bbase:1 /bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "exit 9"]

FROM e2e/bbase:1 AS final
COPY --from=builder /version /count /tmpfs.txt /heredoc.txt /inline.txt /secret-len /out/
RUN --mount=type=bind,from=builder,source=/version,target=/mnt/v cat /mnt/v > /out/bound
COPY --from=e2e/bbase:1 /bin/busybox /copied-busybox
COPY --chmod=0600 --chown=1234:5678 data.txt /out/data.txt
COPY . /ctx/
ENV APP=hull GREETING="hello world"
LABEL org.example.a=1 org.example.b="two"
EXPOSE 8080/tcp 53/udp
VOLUME /data
WORKDIR /work
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /out/version"]
`
	failDockerfile   = "FROM e2e/bbase:1\nRUN echo before\nRUN exit 3\n"
	syntaxDockerfile = "FROM e2e/bbase:1\nRUN echo ok\nFROMM nowhere\n"
	secretValue      = "s3cr3t-hull-value"
)

// appConfig is the final stage's image config as dockerd's BuildKit
// writes it (docker image inspect's .Config).
const appConfig = `{"User":"1000:1000","ExposedPorts":{"53/udp":{},"8080/tcp":{}},"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP=hull","GREETING=hello world"],"Entrypoint":["/bin/sh","-c"],"Cmd":["cat /out/version"],"Volumes":{"/data":{}},"WorkingDir":"/work","Labels":{"org.example.a":"1","org.example.b":"two"},"StopSignal":"SIGINT","ArgsEscaped":true,"Healthcheck":{"Test":["CMD","true"],"Interval":5000000000,"Timeout":2000000000,"Retries":2},"OnBuild":["RUN echo onbuild"],"Shell":["/bin/sh","-ec"]}`

// appHistory is docker history's CREATED BY of the final image, newest
// first, as BuildKit's dockerfile frontend (v0.34, dockerd 25+) writes
// it; the last three are the base image's.
var appHistory = []string{
	`CMD ["cat /out/version"]`,
	`ENTRYPOINT ["/bin/sh" "-c"]`,
	`SHELL [/bin/sh -ec]`,
	`HEALTHCHECK {Test:[CMD true] Interval:5s Timeout:2s StartPeriod:0s StartInterval:0s Retries:2}`,
	`STOPSIGNAL SIGINT`,
	`USER 1000:1000`,
	`WORKDIR /work`,
	`VOLUME [/data]`,
	`EXPOSE [53/udp 8080/tcp]`,
	`LABEL org.example.a=1 org.example.b=two`,
	`ENV APP=hull GREETING=hello world`,
	`COPY . /ctx/ # buildkit`,
	`COPY --chown=1234:5678 --chmod=0600 data.txt /out/data.txt # buildkit`,
	`COPY /bin/busybox /copied-busybox # buildkit`,
	`RUN /bin/sh -c cat /mnt/v > /out/bound # buildkit`,
	`COPY /version /count /tmpfs.txt /heredoc.txt /inline.txt /secret-len /out/ # buildkit`,
	`CMD ["/bin/sh"]`,
	`RUN /bin/sh -c mkdir /tmp # buildkit`,
	`RUN /bin/busybox --install /bin # buildkit`,
	`COPY busybox /bin/busybox # buildkit`,
}

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dockerFail runs the docker CLI expecting it to fail and returns its
// combined output.
func dockerFail(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("docker %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// imageExists says whether the daemon has ref.
func imageExists(env []string, ref string) bool {
	cmd := exec.Command("docker", "image", "inspect", ref)
	cmd.Env = env
	return cmd.Run() == nil
}

// tarDir is a tar of dir's files (the context the legacy path sends).
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	out, err := exec.Command("tar", "-C", dir, "-c", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// leftovers lists what a build left behind under dir: mounts, and
// processes other than the daemon and hull-buildkit whose command line
// names dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	out := leftMountsUnder(t, dir)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		switch filepath.Base(args[0]) {
		case "hull", "hull-buildkit":
			continue
		}
		out = append(out, "process "+strings.Join(args, " "))
	}
	return out
}

// noLeftovers waits (a container's teardown may lag its CLI by a moment)
// until nothing is left under dir, and fails the test if something stays.
func noLeftovers(t *testing.T, dir, what string) {
	t.Helper()
	waitFor(t, func() bool { return len(leftovers(t, dir)) == 0 }, "nothing left after "+what, func() string { return strings.Join(leftovers(t, dir), "\n") })
}

// TestBuildFeatures is issue 14's "Shown, as a new user would" and "Bad
// input", offline: a busybox base built FROM scratch, then one
// multi-stage Dockerfile using every feature, built through buildx (the
// docker driver), through POST /build with DOCKER_BUILDKIT=0, and through
// the Go SDK's ImageBuild.
func TestBuildFeatures(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(hullBin), "hull-buildkit"), "../hull-buildkit").CombinedOutput(); err != nil {
		t.Fatalf("build hull-buildkit: %v\n%s", err, out)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox here (Debian's busybox-static gives it)")
	}
	env, dir := hullDaemon(t)
	cfg := buildxPlugin(t, dir)
	env = append(env, "DOCKER_CONFIG="+cfg, "BUILDX_NO_DEFAULT_ATTESTATIONS=1")
	legacyEnv := append(append([]string{}, env...), "DOCKER_BUILDKIT=0")

	// The base image: FROM scratch, COPY busybox, RUN busybox --install.
	baseDir := filepath.Join(dir, "base")
	writeFiles(t, baseDir, map[string]string{"Dockerfile": baseDockerfile})
	if err := os.WriteFile(filepath.Join(baseDir, "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	docker(t, env, "build", "--progress=plain", "-t", "e2e/bbase:1", baseDir)
	if out := docker(t, env, "run", "--rm", "e2e/bbase:1", "sh", "-c", "echo $((6*7)); ls -d /tmp"); out != "42\n/tmp" {
		t.Fatalf("docker run of the busybox base: %q", out)
	}

	ctxDir := filepath.Join(dir, "app")
	writeFiles(t, ctxDir, map[string]string{
		"Dockerfile.app":  appDockerfile,
		"Dockerfile":      "FROM e2e/bbase:1\nRUN exit 8\n", // -f must not read it
		"Dockerfile.fail": failDockerfile,
		"Dockerfile.bad":  syntaxDockerfile,
		"Dockerfile.slow": "FROM e2e/bbase:1\nRUN echo $((40+2))-running; sleep 120\n",
		"data.txt":        "data\n",
		"ignored.txt":     "must not be sent\n",
		"sub/kept.txt":    "kept\n",
		"sub/ignored.log": "must not be sent\n",
		".dockerignore":   "ignored.txt\n**/*.log\n",
	})
	secretFile := filepath.Join(dir, "secret.txt")
	os.WriteFile(secretFile, []byte(secretValue), 0o600)
	appBuild := func(extra ...string) string {
		t.Helper()
		args := append([]string{"build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.app"), "--target", "final",
			"--secret", "id=tok,src=" + secretFile}, extra...)
		return docker(t, env, append(args, ctxDir)...)
	}
	cat := func(image, file string) string {
		t.Helper()
		return docker(t, env, "run", "--rm", "--entrypoint", "cat", image, file)
	}

	t.Run("buildx", func(t *testing.T) {
		out := appBuild("--build-arg", "VERSION=42", "-t", "e2e/app:1", "-t", "e2e/app")
		if !strings.Contains(out, "naming to docker.io/e2e/app:1 done") || !strings.Contains(out, "naming to docker.io/e2e/app done") {
			t.Errorf("the moby exporter's progress does not name the tags as dockerd's (docker.io/e2e/app:1, docker.io/e2e/app):\n%s", out)
		}
		if out := docker(t, env, "run", "--rm", "e2e/app:1"); out != "v42" {
			t.Errorf("docker run of the built image (ENTRYPOINT + CMD): %q, want v42", out)
		}
		for file, want := range map[string]string{
			"/out/version":     "v42",                        // ARG + --build-arg
			"/out/count":       "1",                          // the cache mount's first use
			"/out/tmpfs.txt":   "tmpfs",                      // type=tmpfs
			"/out/secret-len":  fmt.Sprint(len(secretValue)), // type=secret
			"/out/heredoc.txt": "from heredoc\nsecond line",  // RUN heredoc
			"/out/inline.txt":  "inline file",                // COPY heredoc
			"/out/bound":       "v42",                        // type=bind,from=
		} {
			if got := cat("e2e/app:1", file); got != want {
				t.Errorf("%s: %q, want %q", file, got, want)
			}
		}
		out = docker(t, env, "run", "--rm", "--user", "0", "--entrypoint", "sh", "e2e/app:1", "-c",
			"stat -c '%a %u:%g' /out/data.txt; cmp /copied-busybox /bin/busybox && echo same; ls -A /ctx /ctx/sub; pwd")
		want := "600 1234:5678\nsame\n/ctx:\n.dockerignore\nDockerfile\nDockerfile.app\nDockerfile.bad\nDockerfile.fail\nDockerfile.slow\ndata.txt\nsub\n\n/ctx/sub:\nkept.txt\n/work"
		if out != want {
			t.Errorf("COPY --chmod/--chown, COPY --from=image, .dockerignore, WORKDIR:\n%s\nwant:\n%s", out, want)
		}
		if got := docker(t, env, "image", "inspect", "--format", "{{json .Config}}", "e2e/app:1"); got != appConfig {
			t.Errorf("docker image inspect .Config:\n%s\nwant:\n%s", got, appConfig)
		}
		hist := strings.Split(docker(t, env, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "e2e/app:1"), "\n")
		if len(hist) != len(appHistory) {
			t.Errorf("docker history has %d lines, want %d:\n%s", len(hist), len(appHistory), strings.Join(hist, "\n"))
		}
		for i := 0; i < len(hist) && i < len(appHistory); i++ {
			if hist[i] != appHistory[i]+"|buildkit.dockerfile.v0" {
				t.Errorf("docker history line %d: %q, want %q", i, hist[i], appHistory[i]+"|buildkit.dockerfile.v0")
			}
		}
		// As dockerd's: the image's id on the newest row, <missing> below.
		ids := strings.Split(docker(t, env, "history", "--no-trunc", "--format", "{{.ID}}", "e2e/app:1"), "\n")
		if id := docker(t, env, "image", "inspect", "--format", "{{.Id}}", "e2e/app:1"); ids[0] != id || len(ids) < 2 || ids[1] != "<missing>" {
			t.Errorf("docker history's IDs: %v, want %s then <missing>", ids, id)
		}
		// The secret is in no layer of the image.
		save := filepath.Join(dir, "app.tar")
		docker(t, env, "save", "-o", save, "e2e/app:1")
		if n := secretInArchive(t, save); n > 0 {
			t.Errorf("the secret is in %d files of docker save's archive", n)
		}
	})

	t.Run("cache", func(t *testing.T) {
		// An identical rebuild: every step CACHED.
		again := appBuild("--build-arg", "VERSION=42", "-t", "e2e/app:1")
		steps, cached := buildSteps(again)
		if len(steps) < 10 || len(cached) != len(steps) {
			t.Errorf("an identical rebuild: %d of %d steps CACHED (not: %v):\n%s", len(cached), len(steps), missing(steps, cached), again)
		}
		// A changed build arg reruns the cache-mount step, which sees
		// what the first run left; --no-cache starts the mount afresh.
		appBuild("--build-arg", "VERSION=43", "-t", "e2e/app:2")
		if got := cat("e2e/app:2", "/out/count"); got != "2" {
			t.Errorf("the cache mount after a second run: count %q, want 2", got)
		}
		appBuild("--no-cache", "--build-arg", "VERSION=43", "-t", "e2e/app:3")
		if got := cat("e2e/app:3", "/out/count"); got != "1" {
			t.Errorf("the cache mount after --no-cache: count %q, want 1", got)
		}
	})

	t.Run("outputs", func(t *testing.T) {
		local := filepath.Join(dir, "out-local")
		docker(t, env, "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.app"), "--target", "builder",
			"--build-arg", "VERSION=5", "--output", "type=local,dest="+local, ctxDir)
		if b, err := os.ReadFile(filepath.Join(local, "version")); err != nil || string(b) != "v5\n" {
			t.Errorf("--output type=local: version %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(local, "bin", "busybox")); err != nil {
			t.Errorf("--output type=local lacks the base's files: %v", err)
		}
		// What the step wrote to its tmpfs stayed out of the stage.
		if entries, err := os.ReadDir(filepath.Join(local, "scratch")); len(entries) > 0 {
			t.Errorf("the tmpfs mount's files are in the stage: %v %v", entries, err)
		}
		tarFile := filepath.Join(dir, "out.tar")
		docker(t, env, "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.app"), "--target", "builder",
			"--build-arg", "VERSION=6", "--output", "type=tar,dest="+tarFile, ctxDir)
		if got := tarFileContent(t, tarFile, "version"); got != "v6\n" {
			t.Errorf("--output type=tar: version %q", got)
		}
	})

	t.Run("failures", func(t *testing.T) {
		out := dockerFail(t, env, "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.fail"), "-t", "e2e/fail:1", ctxDir)
		// The error keeps its details across gRPC: buildx shows the
		// Dockerfile's failing line, as with dockerd's BuildKit.
		if !strings.Contains(out, "exit code: 3") || !strings.Contains(out, "3 | >>> RUN exit 3") {
			t.Errorf("a failing RUN through buildx:\n%s", out)
		}
		if imageExists(env, "e2e/fail:1") {
			t.Errorf("a failed build tagged e2e/fail:1")
		}
		out = dockerFail(t, env, "build", "--progress=plain", "-f", filepath.Join(ctxDir, "Dockerfile.bad"), ctxDir)
		if !strings.Contains(out, "line 3") || !strings.Contains(out, "FROMM") {
			t.Errorf("a syntax error through buildx does not name its line:\n%s", out)
		}
		// The default Dockerfile (RUN exit 8): -f was taken before.
		out = dockerFail(t, env, "build", "--progress=plain", ctxDir)
		if !strings.Contains(out, "exit code: 8") {
			t.Errorf("the default Dockerfile:\n%s", out)
		}
		noLeftovers(t, dir, "failed builds")
	})

	t.Run("legacy", func(t *testing.T) {
		iid := filepath.Join(dir, "iid")
		out := docker(t, legacyEnv, "build", "-f", filepath.Join(ctxDir, "Dockerfile.app"), "--target", "final",
			"--build-arg", "VERSION=7", "--iidfile", iid, "-t", "e2e/legacy:1", ctxDir)
		id := docker(t, env, "image", "inspect", "--format", "{{.Id}}", "e2e/legacy:1")
		if !strings.Contains(out, "Successfully built "+strings.TrimPrefix(id, "sha256:")[:12]) || !strings.Contains(out, "Successfully tagged e2e/legacy:1") {
			t.Errorf("DOCKER_BUILDKIT=0 docker build (image %s):\n%s", id, out)
		}
		if b, err := os.ReadFile(iid); err != nil || string(b) != id {
			t.Errorf("--iidfile holds %q (%v), want %s", b, err, id)
		}
		if got := docker(t, env, "run", "--rm", "e2e/legacy:1"); got != "v7" {
			t.Errorf("docker run of the legacy build: %q", got)
		}
		// The CLI leaves out what .dockerignore names, as it sends the
		// context; the SDK's caller (below) sends what it sends, and the
		// daemon keeps it, as dockerd's.
		if got := docker(t, env, "run", "--rm", "--entrypoint", "ls", "e2e/legacy:1", "-A", "/ctx", "/ctx/sub"); strings.Contains(got, "ignored") || !strings.Contains(got, "kept.txt") {
			t.Errorf("the legacy build's context:\n%s", got)
		}
		if got := cat("e2e/legacy:1", "/out/secret-len"); got != "none" {
			t.Errorf("the legacy build's secret step: %q, want none", got)
		}
		if got := docker(t, env, "image", "inspect", "--format", "{{json .Config}}", "e2e/legacy:1"); got != appConfig {
			t.Errorf("the legacy build's config:\n%s\nwant:\n%s", got, appConfig)
		}
		// The steps as dockerd's classic builder numbers them: every
		// instruction of the stages up to the target, as written.
		for _, step := range []string{"Step 1/29 : ARG BASE=e2e/bbase:1", "Step 2/29 : FROM ${BASE} AS builder", "Step 3/29 : ARG VERSION=0",
			"Step 12/29 : FROM e2e/bbase:1 AS final", "Step 18/29 : ENV APP=hull GREETING=\"hello world\"", "Step 29/29 : CMD [\"cat /out/version\"]"} {
			if !strings.Contains(out, step+"\n") {
				t.Errorf("the legacy build's output lacks %q", step)
			}
		}
		if strings.Contains(out, "@sha256:") {
			t.Errorf("the legacy build's steps show resolved names, not the Dockerfile's")
		}
		if t.Failed() {
			t.Logf("DOCKER_BUILDKIT=0 docker build:\n%s", out)
		}

		// --label: a LABEL step at the end, as the classic builder's.
		out = docker(t, legacyEnv, "build", "--label", "e2e.label=yes", "-t", "e2e/labelled:1", baseDir)
		if !strings.Contains(out, "Step 5/6 : CMD [\"/bin/sh\"]\nStep 6/6 : LABEL e2e.label=yes\n") {
			t.Errorf("DOCKER_BUILDKIT=0 docker build --label:\n%s", out)
		}
		if got := docker(t, env, "image", "inspect", "--format", "{{json .Config.Labels}}", "e2e/labelled:1"); got != `{"e2e.label":"yes"}` {
			t.Errorf("the legacy build's labels: %s", got)
		}

		// As dockerd's classic builder: the error's code is the step's
		// exit code, which docker build exits with.
		stdout, stderr, code := dockerRun(t, legacyEnv, "", "build", "-f", filepath.Join(ctxDir, "Dockerfile.fail"), "-t", "e2e/fail:2", ctxDir)
		if out = stdout + stderr; code != 3 || !strings.Contains(out, "exit code: 3") || !strings.Contains(out, "Step 3/3 : RUN exit 3") {
			t.Errorf("a failing RUN through POST /build: exit %d, want 3:\n%s", code, out)
		}
		if imageExists(env, "e2e/fail:2") {
			t.Errorf("a failed legacy build tagged e2e/fail:2")
		}
		out = dockerFail(t, legacyEnv, "build", "-f", filepath.Join(ctxDir, "Dockerfile.bad"), ctxDir)
		if !strings.Contains(out, "dockerfile parse error on line 3: unknown instruction: FROMM") {
			t.Errorf("a syntax error through POST /build:\n%s", out)
		}
		// As dockerd: the syntax error is a 400.
		resp, err := apiClient(filepath.Join(dir, "hull.sock")).Post("http://hull/v1.41/build?dockerfile=Dockerfile.bad", "application/x-tar", bytes.NewReader(tarDir(t, ctxDir)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "line 3") {
			t.Errorf("POST /build of a syntax error: %d %s, want 400 naming line 3", resp.StatusCode, body)
		}
		noLeftovers(t, dir, "failed builds")
	})

	t.Run("sdk", func(t *testing.T) {
		cli, err := client.New(client.WithHost("unix://"+filepath.Join(dir, "hull.sock")), client.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx := context.Background()
		v := "8"
		res, err := cli.ImageBuild(ctx, bytes.NewReader(tarDir(t, ctxDir)), client.ImageBuildOptions{
			Tags: []string{"e2e/sdk:1"}, Dockerfile: "Dockerfile.app", Target: "final", BuildArgs: map[string]*string{"VERSION": &v}, Remove: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs := readMessages(t, res.Body)
		var aux struct{ ID string }
		var stream strings.Builder
		for _, m := range msgs {
			if m.Error != nil {
				t.Errorf("error in the stream: %v", m.Error)
			}
			if m.Aux != nil {
				json.Unmarshal(*m.Aux, &aux)
			}
			stream.WriteString(m.Stream)
		}
		id := docker(t, env, "image", "inspect", "--format", "{{.Id}}", "e2e/sdk:1")
		if aux.ID != id || !strings.Contains(stream.String(), "Successfully tagged e2e/sdk:1") {
			t.Errorf("ImageBuild: aux ID %q, image %s; stream:\n%s", aux.ID, id, stream.String())
		}
		if got := cat("e2e/sdk:1", "/out/version"); got != "v8" {
			t.Errorf("the SDK's build: %q", got)
		}
		if got := docker(t, env, "run", "--rm", "--entrypoint", "ls", "e2e/sdk:1", "/ctx"); !strings.Contains(got, "ignored.txt") {
			t.Errorf("the SDK's context, sent whole, lost ignored.txt (dockerd keeps it):\n%s", got)
		}

		// A failing RUN: an error in-band, after the steps.
		res, err = cli.ImageBuild(ctx, bytes.NewReader(tarDir(t, ctxDir)), client.ImageBuildOptions{Tags: []string{"e2e/fail:3"}, Dockerfile: "Dockerfile.fail"})
		if err != nil {
			t.Fatal(err)
		}
		msgs = readMessages(t, res.Body)
		if last := msgs[len(msgs)-1]; last.Error == nil || last.Error.Code != 3 || !strings.Contains(last.Error.Message, "exit code: 3") {
			t.Errorf("ImageBuild of a failing RUN ends with %+v", last)
		}
		if imageExists(env, "e2e/fail:3") {
			t.Errorf("a failed SDK build tagged e2e/fail:3")
		}
		// A client that hangs up during a RUN step cancels the build: its
		// step's container goes, nothing stays mounted, nothing is tagged.
		cctx, cancel := context.WithCancel(ctx)
		res, err = cli.ImageBuild(cctx, bytes.NewReader(tarDir(t, ctxDir)), client.ImageBuildOptions{Tags: []string{"e2e/slow:1"}, Dockerfile: "Dockerfile.slow"})
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(res.Body)
		for {
			var m jsonstream.Message
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("the slow build's stream ended before its step started: %v", err)
			}
			if strings.Contains(m.Stream, "42-running") {
				break
			}
		}
		if len(leftovers(t, dir)) == 0 {
			t.Errorf("the slow build's step runs, but nothing shows it (the check below cannot fail)")
		}
		cancel()
		res.Body.Close()
		noLeftovers(t, dir, "a client hung up on its build")
		if imageExists(env, "e2e/slow:1") {
			t.Errorf("a cancelled build tagged e2e/slow:1")
		}

		// A syntax error: the request fails, naming the line.
		res, err = cli.ImageBuild(ctx, bytes.NewReader(tarDir(t, ctxDir)), client.ImageBuildOptions{Dockerfile: "Dockerfile.bad"})
		if err == nil {
			msgs = readMessages(t, res.Body)
			t.Errorf("ImageBuild of a syntax error answered a stream: %+v", msgs)
		} else if !strings.Contains(err.Error(), "line 3") {
			t.Errorf("ImageBuild of a syntax error: %v", err)
		}
	})

	// "# syntax=IMAGE": the gateway.v0 frontend runs the frontend image
	// (BuildKit's own dockerfile frontend, built here from the module
	// cache, offline) as a build container; the legacy path reads the
	// line as a comment, as the classic builder.
	t.Run("gateway", func(t *testing.T) {
		feDir := filepath.Join(dir, "frontend")
		build := exec.Command("go", "build", "-o", filepath.Join(feDir, "dockerfile-frontend"), "github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Skipf("BuildKit's dockerfile frontend does not build here: %v\n%s", err, out)
		}
		writeFiles(t, feDir, map[string]string{"Dockerfile": "FROM scratch\nCOPY dockerfile-frontend /bin/dockerfile-frontend\nENTRYPOINT [\"/bin/dockerfile-frontend\"]\n"})
		docker(t, env, "build", "-q", "-t", "e2e/dockerfile-frontend:1", feDir)
		synDir := filepath.Join(dir, "syntax")
		writeFiles(t, synDir, map[string]string{"Dockerfile": "# syntax=e2e/dockerfile-frontend:1\nFROM e2e/bbase:1\nRUN echo via-gateway > /g\n"})
		out := docker(t, env, "build", "--progress=plain", "-t", "e2e/syntax:1", synDir)
		if !strings.Contains(out, "docker-image://docker.io/e2e/dockerfile-frontend:1") {
			t.Errorf("the build did not run the frontend image:\n%s", out)
		}
		if got := cat("e2e/syntax:1", "/g"); got != "via-gateway" {
			t.Errorf("the gateway frontend's build: %q", got)
		}
		writeFiles(t, synDir, map[string]string{"Dockerfile": "# syntax=e2e/nowhere:1\nFROM e2e/bbase:1\nRUN echo classic > /g\n"})
		out = docker(t, legacyEnv, "build", "-t", "e2e/syntax:2", synDir)
		if !strings.Contains(out, "Step 2/2 : RUN echo classic > /g") {
			t.Errorf("the legacy build of a Dockerfile with a syntax line:\n%s", out)
		}
		if got := cat("e2e/syntax:2", "/g"); got != "classic" {
			t.Errorf("the legacy build of a Dockerfile with a syntax line: %q", got)
		}
	})

	t.Run("escape", func(t *testing.T) {
		outside := filepath.Join(dir, "outside")
		os.MkdirAll(outside, 0o755)
		hc := apiClient(filepath.Join(dir, "hull.sock"))
		post := func(entries ...*tar.Header) (int, string) {
			t.Helper()
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			df := "FROM e2e/bbase:1\nCOPY . /ctx/\nRUN find /ctx | sort\n"
			tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), Typeflag: tar.TypeReg})
			tw.Write([]byte(df))
			for _, h := range entries {
				if h.Typeflag == tar.TypeReg {
					h.Size, h.Mode = 1, 0o644
				}
				tw.WriteHeader(h)
				if h.Typeflag == tar.TypeReg {
					tw.Write([]byte("x"))
				}
			}
			tw.Close()
			resp, err := hc.Post("http://hull/v1.41/build", "application/x-tar", &buf)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		file := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
		// Names going up or absolute land inside the context, as dockerd's.
		code, body := post(file("../hull-escape-dotdot"), file("../../../../../../../../.."+outside+"/hull-escape-deep"), file(outside+"/hull-escape-abs"))
		for _, want := range []string{"/ctx/hull-escape-dotdot\n", "/ctx" + outside + "/hull-escape-deep\n", "/ctx" + outside + "/hull-escape-abs\n", "Successfully built"} {
			if code != http.StatusOK || !strings.Contains(strings.ReplaceAll(body, `\n`, "\n"), want) {
				t.Errorf("POST /build of names going up: %d, want %q in:\n%s", code, want, body)
			}
		}
		// Through a link out, or a hard link out: refused (dockerd's
		// words; dockerd 20.10 answers them with a 500).
		for _, tc := range []struct {
			entries []*tar.Header
			want    string
		}{
			{[]*tar.Header{{Name: "rlink", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../../.." + outside, Mode: 0o777}, file("rlink/hull-escape-rlink")},
				"Error processing tar file(exit status 1): open /rlink/hull-escape-rlink: no such file or directory"},
			{[]*tar.Header{{Name: "alink", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777}, file("alink/hull-escape-alink")},
				"Error processing tar file(exit status 1): open /alink/hull-escape-alink: no such file or directory"},
			{[]*tar.Header{{Name: "hlink", Typeflag: tar.TypeLink, Linkname: "../../../../../../../.." + secretFile}},
				"Error processing tar file(exit status 1): link " + secretFile + " /hlink: no such file or directory"},
		} {
			code, body := post(tc.entries...)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("POST /build of a context that leads out: %d %s, want 400 %q", code, body, tc.want)
			}
			if strings.Contains(body, secretValue) {
				t.Errorf("a hard link out of the context read a host file:\n%s", body)
			}
		}
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("the context wrote outside: %v", entries)
		}
		// Anything named hull-escape-* lies inside a BuildKit snapshot (the
		// context, the step's layer) or a layer of the built image.
		inside := regexp.MustCompile(`/(snapshots/\d+/fs|layers/[0-9a-f]{64}/diff)/`)
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && strings.HasPrefix(info.Name(), "hull-escape-") && !inside.MatchString(p) {
				t.Errorf("a file of the context outside the context: %s", p)
			}
			return nil
		})
		noLeftovers(t, dir, "the escaping contexts' builds")
	})
}

// readMessages decodes a JSON-message stream to its end.
func readMessages(t *testing.T, r io.ReadCloser) []jsonstream.Message {
	t.Helper()
	defer r.Close()
	var msgs []jsonstream.Message
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the build's JSON-message stream: %v", err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		t.Fatal("the build's JSON-message stream is empty")
	}
	return msgs
}

// buildSteps reads buildx's plain progress: the Dockerfile steps'
// vertices ("#7 [builder 2/6] RUN …") and those of them that were
// CACHED.
func buildSteps(out string) (steps, cached map[string]string) {
	steps, cached = map[string]string{}, map[string]string{}
	step := regexp.MustCompile(`^(#\d+) (\[[^\]]*\d+/\d+\] .*)$`)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if m := step.FindStringSubmatch(l); m != nil {
			steps[m[1]] = m[2]
		}
		if id, rest, ok := strings.Cut(l, " "); ok && rest == "CACHED" {
			cached[id] = steps[id]
		}
	}
	return steps, cached
}

func missing(steps, cached map[string]string) []string {
	var out []string
	for id, name := range steps {
		if _, ok := cached[id]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// secretInArchive counts the files of a docker save archive, and of the
// layer tars in it, that hold secretValue.
func secretInArchive(t *testing.T, archive string) int {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, layers := 0, 0
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if bytes.Contains(b, []byte(secretValue)) {
			n++
		}
		// A layer: look inside it too (each file, whole).
		inner := tar.NewReader(bytes.NewReader(b))
		isLayer := false
		for {
			ih, err := inner.Next()
			if err != nil {
				break
			}
			isLayer = true
			if ih.Name == "run/secrets/tok" {
				t.Errorf("layer %s holds %s", hdr.Name, ih.Name)
			}
		}
		if isLayer {
			layers++
		}
	}
	if layers == 0 {
		t.Errorf("docker save's archive has no layers to look in")
	}
	return n
}

// tarFileContent is the content of name in the tar file.
func tarFileContent(t *testing.T, file, name string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return ""
		}
		if strings.TrimPrefix(hdr.Name, "./") == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}
