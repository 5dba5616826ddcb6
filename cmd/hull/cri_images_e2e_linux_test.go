package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// tokenRegistry serves go-containerregistry's registry on loopback to
// requests that carry "Authorization: Bearer <token>"; others get a
// bearer challenge whose token server refuses everyone.
func tokenRegistry(t *testing.T, token string) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" || r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="e2e"`, addr))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return addr
}

// variant is img with env V=v: another config, so another image id, on
// the same layers; with a layer of its own on top when own is set.
func variant(t *testing.T, img v1.Image, v string, own bool) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = append(cf.Config.Env, "V="+v)
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if own {
		l, err := random.Layer(4096, types.DockerLayer)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = mutate.AppendLayers(out, l); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func pushWith(t *testing.T, img v1.Image, ref string, opts ...remote.Option) {
	t.Helper()
	dst, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// TestCRIImages drives the CRI's image service through crictl and the Go
// client: pulls by tag and by digest with credentials (user and
// password, auth, a registry token) answering the image id as containerd
// does; names fully qualified in lists and status (Docker Hub's through
// a registry-mirrors mirror); the same status by id, short id, tag,
// digest and familiar name, none and no error for an unknown or invalid
// name; RemoveImage of every tag and digest by any of them, idempotent;
// RemoveImage of a running container's image leaves the container
// running (its status then names the image by id) and its layers are
// freed when the container goes.
func TestCRIImages(t *testing.T) {
	requireDockerCLI(t)
	crictl := crictlBin(t)
	buildShim(t)
	base := busyboxImage(t)
	imgA := variant(t, base, "a", false) // two tags behind basic auth
	imgB := variant(t, base, "b", true)  // Docker Hub's busybox, run
	imgC := variant(t, base, "c", false) // behind a registry token
	id := func(img v1.Image) string { n, _ := img.ConfigName(); return n.String() }
	dg := func(img v1.Image) string { d, _ := img.Digest(); return d.String() }

	reg := authRegistry(t)
	for _, tag := range []string{"1", "2"} {
		dst, _ := name.NewTag(reg+"/e2e/busybox:"+tag, name.Insecure)
		if err := remote.Write(dst, imgA, remote.WithAuth(&authn.Basic{Username: "user", Password: "pass"})); err != nil {
			t.Fatal(err)
		}
	}
	hub := newLoggedRegistry(t, "")
	pushWith(t, imgB, hub.addr+"/library/busybox:latest")
	tokReg := tokenRegistry(t, "tok-123")
	{
		dst, _ := name.NewTag(tokReg+"/e2e/tok:1", name.Insecure)
		if err := remote.Write(dst, imgC, remote.WithAuth(&authn.Bearer{Token: "tok-123"})); err != nil {
			t.Fatal(err)
		}
	}

	confDir, _, _ := criNetwork(t)
	cfgFile := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{"registry-mirrors": ["http://%s"]}`, hub.addr)), 0o644)
	env, dir := hullDaemon(t, "--cni-conf-dir", confDir, "--config-file", cfgFile)
	sock := filepath.Join(dir, "run", "cri.sock")
	cri, conn := criClients(t, crictl, sock)
	is := runtimeapi.NewImageServiceClient(conn)
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx := context.Background()

	// Pulls: by tag with crictl's --creds, by digest with auth, the
	// second tag with username and password, by a registry token.
	refA1, refA2 := reg+"/e2e/busybox:1", reg+"/e2e/busybox:2"
	digA := reg + "/e2e/busybox@" + dg(imgA)
	if out := cri(0, "pull", "--creds", "user:pass", refA1); !strings.Contains(out, "Image is up to date for "+id(imgA)) {
		t.Errorf("crictl pull %s: %q, want the image id %s", refA1, out, id(imgA))
	}
	pull := func(ref string, auth *runtimeapi.AuthConfig) (string, error) {
		r, err := is.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Auth: auth})
		return r.GetImageRef(), err
	}
	if got, err := pull(digA, &runtimeapi.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("user:pass"))}); err != nil || got != id(imgA) {
		t.Errorf("PullImage %s with auth: %q %v, want %s", digA, got, err, id(imgA))
	}
	if got, err := pull(refA2, &runtimeapi.AuthConfig{Username: "user", Password: "pass"}); err != nil || got != id(imgA) {
		t.Errorf("PullImage %s with username and password: %q %v, want %s", refA2, got, err, id(imgA))
	}
	if _, err := pull(refA2, &runtimeapi.AuthConfig{Username: "user", Password: "wrong"}); err == nil {
		t.Errorf("PullImage %s with a wrong password succeeded", refA2)
	}
	refC := tokReg + "/e2e/tok:1"
	if _, err := pull(refC, nil); err == nil {
		t.Errorf("PullImage %s without its token succeeded", refC)
	}
	if got, err := pull(refC, &runtimeapi.AuthConfig{RegistryToken: "tok-123"}); err != nil || got != id(imgC) {
		t.Errorf("PullImage %s with a registry token: %q %v, want %s", refC, got, err, id(imgC))
	}
	// Docker Hub's name, through its mirror.
	if got, err := pull("busybox", nil); err != nil || got != id(imgB) {
		t.Fatalf("PullImage busybox (Docker Hub's mirror): %q %v, want %s", got, err, id(imgB))
	}

	// Lists and status: fully qualified names, identical by any name.
	list, err := is.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*runtimeapi.Image{}
	for _, im := range list.Images {
		byID[im.Id] = im
	}
	want := map[string][2][]string{
		id(imgA): {{refA1, refA2}, {digA}},
		id(imgB): {{"docker.io/library/busybox:latest"}, {"docker.io/library/busybox@" + dg(imgB)}},
		id(imgC): {{refC}, {tokReg + "/e2e/tok@" + dg(imgC)}},
	}
	for i, w := range want {
		im := byID[i]
		if im == nil || strings.Join(im.RepoTags, " ") != strings.Join(w[0], " ") || strings.Join(im.RepoDigests, " ") != strings.Join(w[1], " ") || im.Size == 0 {
			t.Errorf("ListImages: image %s is %v, want tags %v and digests %v", i, im, w[0], w[1])
		}
	}
	if len(list.Images) != len(want) {
		t.Errorf("ListImages: %d images, want %d: %v", len(list.Images), len(want), list.Images)
	}
	status := func(ref string, verbose bool) *runtimeapi.ImageStatusResponse {
		t.Helper()
		r, err := is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Verbose: verbose})
		if err != nil {
			t.Errorf("ImageStatus %q: %v", ref, err)
			return &runtimeapi.ImageStatusResponse{}
		}
		return r
	}
	first := status(id(imgB), true)
	for _, ref := range []string{id(imgB)[len("sha256:"):], id(imgB)[len("sha256:") : len("sha256:")+12], "busybox", "busybox:latest",
		"docker.io/library/busybox:latest", "busybox@" + dg(imgB), "docker.io/library/busybox@" + dg(imgB)} {
		if got := status(ref, true); !proto.Equal(got, first) {
			t.Errorf("ImageStatus %s:\n%v\nwant, as by id:\n%v", ref, got, first)
		}
	}
	var info struct {
		ChainID   string `json:"chainID"`
		ImageSpec struct {
			Config struct{ Env []string }
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		} `json:"imageSpec"`
	}
	if err := json.Unmarshal([]byte(first.Info["info"]), &info); err != nil || !strings.Contains(strings.Join(info.ImageSpec.Config.Env, " "), "V=b") ||
		len(info.ImageSpec.RootFS.DiffIDs) != 2 || !strings.HasPrefix(info.ChainID, "sha256:") {
		t.Errorf("ImageStatus verbose info: %v %q", err, first.Info["info"])
	}
	for _, ref := range []string{"e2e/none:1", "sha256:" + strings.Repeat("0", 64), "Not A Name", ""} {
		if r := status(ref, false); r.Image != nil {
			t.Errorf("ImageStatus of unknown %q: %v, want none", ref, r.Image)
		}
		if _, err := is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
			t.Errorf("RemoveImage of unknown %q: %v, want no error", ref, err)
		}
	}
	inspecti := cri(0, "inspecti", "busybox")
	if !strings.Contains(inspecti, `"id": "`+id(imgB)+`"`) || !strings.Contains(inspecti, "docker.io/library/busybox:latest") {
		t.Errorf("crictl inspecti busybox:\n%s", inspecti)
	}

	// RemoveImage by digest takes every tag; again by tag is no error.
	cri(0, "rmi", digA)
	for _, ref := range []string{refA1, refA2, digA, id(imgA)} {
		if r := status(ref, false); r.Image != nil {
			t.Errorf("ImageStatus %s after the image's removal: %v", ref, r.Image)
		}
	}
	if _, err := is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: refA1}}); err != nil {
		t.Errorf("RemoveImage of a removed image: %v", err)
	}
	// By id.
	if _, err := is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: id(imgC)}}); err != nil || status(refC, false).Image != nil {
		t.Errorf("RemoveImage by id: %v, then %v", err, status(refC, false).Image)
	}

	// A container from busybox; its image removed while it runs.
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "img", Namespace: "e2e", Uid: "uid-img"}, LogDirectory: filepath.Join(dir, "pods", "img"), Linux: &runtimeapi.LinuxPodSandboxConfig{}}})
	if err != nil {
		t.Fatal(err)
	}
	// hull's pod infra image is not the cluster's: invisible, kept.
	infraID := docker(t, env, "images", "-q", "--no-trunc", "hull.internal/infra")
	if infraID == "" {
		t.Errorf("no pod infra image after RunPodSandbox")
	} else {
		if r := status(infraID, false); r.Image != nil {
			t.Errorf("ImageStatus of the pod infra image: %v, want none", r.Image)
		}
		if _, err := is.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: infraID}}); err != nil {
			t.Errorf("RemoveImage of the pod infra image: %v", err)
		}
		if got := docker(t, env, "images", "-q", "--no-trunc", "hull.internal/infra"); got != infraID {
			t.Errorf("the pod infra image after a RemoveImage of it: %q, want %s", got, infraID)
		}
	}
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "img", Namespace: "e2e", Uid: "uid-img"}}
	c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}, Linux: &runtimeapi.LinuxContainerConfig{},
		Command: []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}, LogPath: "c.log"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	cstatus := func() *runtimeapi.ContainerStatus {
		t.Helper()
		r, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	st := cstatus()
	if st.Image.GetImage() != "docker.io/library/busybox:latest" || st.ImageRef != "docker.io/library/busybox@"+dg(imgB) || st.ImageId != id(imgB) {
		t.Errorf("ContainerStatus: image %q, image_ref %q, image_id %q; want docker.io/library/busybox:latest, its repo digest, %s", st.Image.GetImage(), st.ImageRef, st.ImageId, id(imgB))
	}
	diffIDs := func() []digest.Digest {
		var out []digest.Digest
		cf, _ := imgB.ConfigFile()
		for _, d := range cf.RootFS.DiffIDs {
			out = append(out, digest.Digest(d.String()))
		}
		return out
	}()
	topLayer := filepath.Join(dir, "root", "layers", identity.ChainID(diffIDs).Encoded())
	if _, err := os.Stat(topLayer); err != nil {
		t.Fatalf("the image's top layer: %v", err)
	}
	cri(0, "rmi", "busybox")
	if r := status("busybox", false); r.Image != nil {
		t.Errorf("ImageStatus busybox after crictl rmi: %v", r.Image)
	}
	if out := cri(0, "images", "-q"); strings.Contains(out, id(imgB)) {
		t.Errorf("crictl images after rmi lists the image:\n%s", out)
	}
	st = cstatus()
	if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.ImageRef != id(imgB) || st.ImageId != id(imgB) {
		t.Errorf("ContainerStatus after its image's removal: state %v, image_ref %q, image_id %q; want running, %s", st.State, st.ImageRef, st.ImageId, id(imgB))
	}
	ex, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"sh", "-c", "ls /bin/busybox && echo $V"}, Timeout: 10})
	if err != nil || ex.ExitCode != 0 || !strings.HasSuffix(string(ex.Stdout), "b\n") {
		t.Errorf("ExecSync in the container whose image was removed: %v %v %q %q", err, ex.GetExitCode(), ex.GetStdout(), ex.GetStderr())
	}
	if _, err := os.Stat(topLayer); err != nil {
		t.Errorf("the removed image's top layer went while its container runs: %v", err)
	}
	// The container stops and starts again on its layers; they go with it.
	timeout := int64(10)
	if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId, Timeout: timeout}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(topLayer); return os.IsNotExist(err) }, "the removed image's top layer to go with its container")
}
