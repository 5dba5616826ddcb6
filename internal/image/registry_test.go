package image

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/hullproject/hull/internal/errdefs"
)

// testRegistry runs go-containerregistry's registry on loopback, behind
// wrap when given, and returns its host:port.
func testRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// seedImage imports a two-layer image into s: a busybox root file system
// and a small layer loaded on top.
func seedImage(t *testing.T, s *testStore, tag string) string {
	t.Helper()
	ids := loadTestImages(t, s, map[string][][]byte{tag: {busyboxRootfs(t), smallLayer(t, "reg", "data")}})
	return ids[tag]
}

func TestPushPull(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t, nil)
	ref := host + "/test/busybox:v1"

	src := newTestStore(t)
	id := seedImage(t, src, ref)
	var pushEvents []Progress
	digest1, err := src.Push(ctx, ref, PushOptions{Progress: func(p Progress) { pushEvents = append(pushEvents, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if !hasStatus(pushEvents, "Pushed") || !hasStatus(pushEvents, "Preparing") ||
		pushEvents[len(pushEvents)-1].Status != "v1: digest: "+digest1+" size: "+sizeOf(t, src, digest1) {
		t.Errorf("push events %+v", pushEvents)
	}
	d, _ := src.Inspect(ctx, id)
	if !slices.Contains(d.RepoDigests, host+"/test/busybox@"+digest1) {
		t.Errorf("RepoDigests after push: %v", d.RepoDigests)
	}
	// Pushing again sends nothing new.
	pushEvents = nil
	if d2, err := src.Push(ctx, ref, PushOptions{Progress: func(p Progress) { pushEvents = append(pushEvents, p) }}); err != nil || d2 != digest1 {
		t.Fatalf("second push: %s %v", d2, err)
	}
	if hasStatus(pushEvents, "Pushed") || !hasStatus(pushEvents, "Layer already exists") {
		t.Errorf("second push events %+v", pushEvents)
	}

	dst := newTestStore(t)
	var pullEvents []Progress
	got, err := dst.Pull(ctx, ref, PullOptions{Progress: func(p Progress) { pullEvents = append(pullEvents, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if got != id {
		t.Fatalf("pulled %s, pushed %s", got, id)
	}
	for _, st := range []string{"Pulling fs layer", "Downloading", "Download complete", "Extracting", "Pull complete",
		"Digest: " + digest1, "Status: Downloaded newer image for " + ref} {
		if !hasStatus(pullEvents, st) {
			t.Errorf("no %q event in %+v", st, pullEvents)
		}
	}
	pd, err := dst.Inspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pd.RootFS.Layers, d.RootFS.Layers) || !slices.Equal(pd.RepoDigests, []string{host + "/test/busybox@" + digest1}) {
		t.Errorf("pulled %+v", pd)
	}
	// The compressed layers are kept, so a push of the pulled image sends
	// its original manifest.
	if n := len(dst.blobs(t)); n != 4 {
		t.Errorf("%d blobs after pull, want 4 (manifest, config, 2 layers): %v", n, dst.blobs(t))
	}
	if err := dst.Tag(ctx, ref, host+"/copy/busybox:v2"); err != nil {
		t.Fatal(err)
	}
	digest2, err := dst.Push(ctx, host+"/copy/busybox:v2", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if digest2 != digest1 {
		t.Errorf("push of the pulled image: digest %s, want the original %s", digest2, digest1)
	}

	// Pulling again is up to date and fetches nothing; of an image the
	// store has, dockerd says nothing per layer.
	pullEvents = nil
	if _, err := dst.Pull(ctx, ref, PullOptions{Progress: func(p Progress) { pullEvents = append(pullEvents, p) }}); err != nil {
		t.Fatal(err)
	}
	if hasStatus(pullEvents, "Downloading") || hasStatus(pullEvents, "Already exists") ||
		!hasStatus(pullEvents, "Status: Image is up to date for "+ref) {
		t.Errorf("second pull events %+v", pullEvents)
	}
	// By digest.
	if got, err := newTestStore(t).Pull(ctx, host+"/test/busybox@"+digest1, PullOptions{}); err != nil || got != id {
		t.Errorf("pull by digest: %s %v", got, err)
	}
	// Unknown image.
	if _, err := dst.Pull(ctx, host+"/test/nothere:v1", PullOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("pull of a missing image: %v", err)
	}
	if _, err := dst.Push(ctx, host+"/test/notlocal:v1", PushOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("push of a missing image: %v", err)
	}
}

func sizeOf(t *testing.T, s *testStore, d string) string {
	t.Helper()
	n, err := s.content.Size(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(n, 10)
}

func hasStatus(events []Progress, status string) bool {
	return slices.ContainsFunc(events, func(p Progress) bool { return p.Status == status })
}

func TestPullAuth(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ref := host + "/private/app:1"
	good := RegistryOptions{Username: "alice", Password: "secret"}
	bad := RegistryOptions{Username: "alice", Password: "wrong"}

	src := newTestStore(t)
	id := seedImage(t, src, ref)
	if _, err := src.Push(ctx, ref, PushOptions{RegistryOptions: bad}); !errdefs.IsUnauthorized(err) {
		t.Fatalf("push with bad credentials: %v", err)
	}
	if _, err := src.Push(ctx, ref, PushOptions{RegistryOptions: good}); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]RegistryOptions{"bad": bad, "none": {}} {
		dst := newTestStore(t)
		_, err := dst.Pull(ctx, ref, PullOptions{RegistryOptions: opts})
		if !errdefs.IsUnauthorized(err) {
			t.Errorf("pull with %s credentials: %v, want unauthorized", name, err)
		}
		dst.assertEmpty(t)
	}
	dst := newTestStore(t)
	got, err := dst.Pull(ctx, ref, PullOptions{RegistryOptions: good})
	if err != nil || got != id {
		t.Fatalf("pull with good credentials: %s %v", got, err)
	}
}

// TestPullBlobLies: a registry that serves a layer whose content does not
// match its digest; the pull fails with data loss and keeps nothing of it.
func TestPullBlobLies(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var corrupt string // the blob path to damage
	host := testRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			c := corrupt
			mu.Unlock()
			if c == "" || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, c) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 100 {
				body = slices.Clone(body)
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	ref := host + "/test/liar:1"
	src := newTestStore(t)
	seedImage(t, src, ref)
	if _, err := src.Push(ctx, ref, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	// Damage the bigger (busybox) layer.
	rec, err := src.record(mustResolve(t, src, ref))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	corrupt = rec.Layers[0].Blob.Digest
	mu.Unlock()

	dst := newTestStore(t)
	_, err = dst.Pull(ctx, ref, PullOptions{})
	if !errdefs.IsDataLoss(err) {
		t.Fatalf("pull of a lying blob: %v, want data loss", err)
	}
	t.Log(err)
	dst.assertEmpty(t)
	if dst.content.Has(ctx, corrupt) {
		t.Error("the lying blob was kept")
	}
}

func mustResolve(t *testing.T, s *testStore, ref string) string {
	t.Helper()
	id, err := s.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPushExported pushes an imported image, whose layer has no
// compressed blob: it is exported and compressed on the way.
func TestPushExported(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t, nil)
	ref := host + "/imported/app:1"
	src := newTestStore(t)
	rootfs := busyboxRootfs(t)
	id, err := src.Import(ctx, bytes.NewReader(rootfs), ImportOptions{Repo: ref, Changes: []string{"CMD /bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Push(ctx, ref, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := newTestStore(t)
	got, err := dst.Pull(ctx, ref, PullOptions{})
	if err != nil || got != id {
		t.Fatalf("pull: %s %v, want %s", got, err, id)
	}
	var saved bytes.Buffer
	if err := dst.Save(ctx, []string{ref}, &saved, FormatDocker); err != nil {
		t.Fatal(err)
	}
	files, _ := tarEntries(t, saved.Bytes())
	if !bytes.Equal(files[blobPath(digestOf(rootfs))], rootfs) {
		t.Error("pulled layer does not save back as the imported tar")
	}
}
