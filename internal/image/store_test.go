package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/wine"
)

// loadTestImages loads images made of layer tars under the given tags.
func loadTestImages(t *testing.T, s *testStore, imgs map[string][][]byte) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for tag, layers := range imgs {
		img := testImage(t, []string{"/bin/sh"}, layers...)
		p := writeDockerArchive(t, map[string]v1.Image{tag: img})
		if _, err := s.Load(context.Background(), openFile(t, p), nil); err != nil {
			t.Fatal(err)
		}
		ids[tag] = imageID(t, img)
	}
	return ids
}

func TestRemoveSharedLayers(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	base := busyboxRootfs(t)
	ids := loadTestImages(t, s, map[string][][]byte{
		"one:latest": {base, smallLayer(t, "one", "1")},
		"two:latest": {base, smallLayer(t, "two", "2")},
	})
	if n := len(s.layerIDs(t)); n != 3 {
		t.Fatalf("%d layers, want 3 (a shared base and two tops)", n)
	}
	del, err := s.Remove(ctx, "one", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 3 || del[0].Untagged != "one:latest" || del[1].Deleted != ids["one:latest"] || del[2].Deleted == "" {
		t.Errorf("removed %+v", del)
	}
	if n := len(s.layerIDs(t)); n != 2 {
		t.Errorf("%d layers after removing one, want 2", n)
	}
	if _, err := s.Resolve(ctx, "one"); !errdefs.IsNotFound(err) {
		t.Errorf("one still resolves: %v", err)
	}
	if _, err := s.Inspect(ctx, "two"); err != nil {
		t.Fatalf("two broke: %v", err)
	}
	del, err = s.Remove(ctx, ids["two:latest"], false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 4 || del[0].Untagged != "two:latest" {
		t.Errorf("removed %+v", del)
	}
	s.assertEmpty(t)
}

func TestRemoveUntagAndConflicts(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	ids := loadTestImages(t, s, map[string][][]byte{"app:1": {smallLayer(t, "app", "x")}})
	id := ids["app:1"]
	if err := s.Tag(ctx, "app:1", "example.com/app:prod"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, id[7:19], "app:2"); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Inspect(ctx, id)
	// Sorted by normalized name, as dockerd lists them.
	if !slices.Equal(d.RepoTags, []string{"app:1", "app:2", "example.com/app:prod"}) {
		t.Fatalf("tags %v", d.RepoTags)
	}
	// By id with several references: needs force.
	short := hexOf(id)[:12]
	wantConflict := func(what string, err error, want string) {
		t.Helper()
		if m, _ := errdefs.DockerMessage(err); !errdefs.IsConflict(err) || m != want {
			t.Fatalf("%s: %v, want conflict: %s", what, err, want)
		}
	}
	_, err := s.Remove(ctx, id, false, false)
	wantConflict("remove by id", err, "conflict: unable to delete "+short+" (must be forced) - image is referenced in multiple repositories")
	// By tag: only untags.
	del, err := s.Remove(ctx, "app:2", false, false)
	if err != nil || len(del) != 1 || del[0].Untagged != "app:2" {
		t.Fatalf("untag: %+v %v", del, err)
	}
	// In use by a stopped container: the last tag cannot go, nor the
	// image, unless forced.
	stopped := strings.Repeat("5", 64)
	s.SetInUse(func(imageID string) (string, string) {
		if imageID == id {
			return "", stopped
		}
		return "", ""
	})
	if _, err := s.Remove(ctx, "example.com/app:prod", false, false); err != nil {
		t.Fatalf("untag with another tag left: %v", err)
	}
	_, err = s.Remove(ctx, "app:1", false, false)
	wantConflict("remove last tag of an image in use", err, `conflict: unable to remove repository reference "app:1" (must force) - container 555555555555 is using its referenced image `+short)
	_, err = s.Remove(ctx, id, false, false)
	wantConflict("remove image in use", err, "conflict: unable to delete "+short+" (must be forced) - image is being used by stopped container 555555555555")
	// A running container keeps it even from force: the last tag goes,
	// the image stays.
	running := strings.Repeat("7", 64)
	s.SetInUse(func(imageID string) (string, string) {
		if imageID == id {
			return running, stopped
		}
		return "", ""
	})
	_, err = s.Remove(ctx, id, true, false)
	wantConflict("force remove of a running image", err, "conflict: unable to delete "+short+" (cannot be forced) - image is being used by running container 777777777777")
	if err := s.Tag(ctx, id, "app:3"); err != nil {
		t.Fatal(err)
	}
	del, err = s.Remove(ctx, "app:3", true, false)
	if err != nil || len(del) != 1 || del[0].Untagged != "app:3" {
		t.Fatalf("force untag of a running image: %+v %v", del, err)
	}
	del, err = s.Remove(ctx, "app:1", true, false)
	if err != nil || len(del) != 1 || del[0].Untagged != "app:1" {
		t.Fatalf("force untag of the last tag of a running image: %+v %v", del, err)
	}
	if _, err := s.Resolve(ctx, id); err != nil {
		t.Fatalf("the running image went: %v", err)
	}
	// Stopped only: force removes it.
	s.SetInUse(func(imageID string) (string, string) { return "", stopped })
	del, err = s.Remove(ctx, id, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(del) < 1 || del[0].Deleted != id {
		t.Errorf("forced: %+v", del)
	}
	s.SetInUse(nil)
	s.assertEmpty(t)

	// Moving a tag leaves the old image dangling, listed without tags.
	ids = loadTestImages(t, s, map[string][][]byte{"m:1": {smallLayer(t, "m", "1")}, "n:1": {smallLayer(t, "n", "1")}})
	if err := s.Tag(ctx, "n:1", "m:1"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %v %v", list, err)
	}
	for _, im := range list {
		switch im.ID {
		case ids["m:1"]:
			if len(im.RepoTags) != 0 {
				t.Errorf("old image keeps %v", im.RepoTags)
			}
		case ids["n:1"]:
			// In the order of their full names, as dockerd lists them.
			if !slices.Equal(im.RepoTags, []string{"m:1", "n:1"}) {
				t.Errorf("new image has %v", im.RepoTags)
			}
		}
	}
	if _, err := s.Remove(ctx, ids["m:1"], false, false); err != nil {
		t.Errorf("remove dangling image: %v", err)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	ids := loadTestImages(t, s, map[string][][]byte{"busybox:latest": {smallLayer(t, "r", "1")}})
	id := ids["busybox:latest"]
	for _, n := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", "index.docker.io/library/busybox:latest",
		id, hexOf(id), id[:12], hexOf(id)[:1]} {
		got, err := s.Resolve(ctx, n)
		if err != nil || got != id {
			t.Errorf("resolve %q: %s %v", n, got, err)
		}
	}
	// dockerd's words, with the name as dockerd normalizes it.
	for n, want := range map[string]string{
		"busybox:other":                     "No such image: busybox:other",
		"nothere":                           "No such image: nothere:latest",
		"docker.io/library/nothere:1":       "No such image: nothere:1",
		"sha256:" + strings.Repeat("0", 64): "No such image: sha256:" + strings.Repeat("0", 64),
		strings.Repeat("0", 64):             "No such image: sha256:" + strings.Repeat("0", 64),
		"sha256:xyz":                        "No such image: sha256:xyz",
		"localhost:5000/x":                  "No such image: localhost:5000/x:latest",
	} {
		_, err := s.Resolve(ctx, n)
		if m, _ := errdefs.DockerMessage(err); !errdefs.IsNotFound(err) || m != want {
			t.Errorf("resolve %q: %v, want not found: %s", n, err, want)
		}
	}
	for n, want := range map[string]string{
		"":      "invalid reference format",
		"UPPER": "invalid reference format: repository name must be lowercase",
		"a b":   "invalid reference format",
		"a:b:c": "invalid reference format",
		":tag":  "invalid reference format",
	} {
		_, err := s.Resolve(ctx, n)
		if m, _ := errdefs.DockerMessage(err); !errdefs.IsInvalidArgument(err) || m != want {
			t.Errorf("resolve %q: %v, want invalid argument: %s", n, err, want)
		}
	}
}

func TestIDPrefixAmbiguous(t *testing.T) {
	db, err := bolt.Open(filepath.Join(wine.TempDir(t), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(bucketImages)
		tx.CreateBucket(bucketRefs)
		b.Put([]byte("sha256:"+strings.Repeat("a", 64)), []byte("{}"))
		b.Put([]byte("sha256:ab"+strings.Repeat("0", 62)), []byte("{}"))
		// dockerd answers an ambiguous prefix as one that matches nothing.
		if id, ok := idByPrefix(b, "a"); ok {
			t.Errorf("ambiguous prefix: %s", id)
		}
		if id, ok := idByPrefix(b, "ab"); !ok || id != "sha256:ab"+strings.Repeat("0", 62) {
			t.Errorf("unique prefix: %s %v", id, ok)
		}
		if id, ok := idByPrefix(b, "b"); ok {
			t.Errorf("no match: %s", id)
		}
		_, _, err := resolveTx(tx, "a")
		if m, _ := errdefs.DockerMessage(err); !errdefs.IsNotFound(err) || m != "No such image: a:latest" {
			t.Errorf("ambiguous name: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReferences(t *testing.T) {
	for _, c := range []struct{ in, norm, fam string }{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"someone/app", "docker.io/someone/app:latest", "someone/app:latest"},
		{"docker.io/someone/app:v1", "docker.io/someone/app:v1", "someone/app:v1"},
		{"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest"},
		{"example.com/a/b/c:Tag", "example.com/a/b/c:Tag", "example.com/a/b/c:Tag"},
		{"busybox@sha256:" + strings.Repeat("1", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("1", 64), "busybox@sha256:" + strings.Repeat("1", 64)},
	} {
		r, err := parseRef(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if r.String() != c.norm || r.Familiar() != c.fam {
			t.Errorf("%s: %s %s, want %s %s", c.in, r, r.Familiar(), c.norm, c.fam)
		}
	}
	for _, in := range []string{"", "Busybox", "a b", "busybox:", "busybox@md5:1", ":tag"} {
		if _, err := parseRef(in); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want invalid argument", in, err)
		}
	}
}

// TestCleanupAtOpen: what an interrupted unpack or ingest left goes when
// the store opens; containers' layers and what images use stay.
func TestCleanupAtOpen(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	ids := loadTestImages(t, s, map[string][][]byte{"keep:1": {smallLayer(t, "k", "1")}})
	img, err := s.Get(ctx, "keep:1")
	if err != nil {
		t.Fatal(err)
	}
	// A container on the image, and a container's layer on an orphan.
	scratchOnImage := strings.Repeat("c", 64)
	if _, err := s.layers.CreateScratch(ctx, scratchOnImage, img.TopLayer); err != nil {
		t.Fatal(err)
	}
	orphanUnderScratch := strings.Repeat("d", 64)
	if _, err := s.layers.Create(ctx, orphanUnderScratch, "", bytes.NewReader(smallLayer(t, "d", "d")), layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	scratchOnOrphan := strings.Repeat("e", 64)
	if _, err := s.layers.CreateScratch(ctx, scratchOnOrphan, orphanUnderScratch); err != nil {
		t.Fatal(err)
	}
	// An interrupted unpack: two layers no image names.
	orphan1, orphan2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	if _, err := s.layers.Create(ctx, orphan1, "", bytes.NewReader(smallLayer(t, "o", "1")), layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.layers.Create(ctx, orphan2, orphan1, bytes.NewReader(smallLayer(t, "o", "2")), layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// An interrupted ingest, a spool, and a blob no image names.
	if err := os.WriteFile(filepath.Join(s.content.ingestDir(), "ingest-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.tmp, "load-1"), []byte("spool"), 0o600); err != nil {
		t.Fatal(err)
	}
	stray, err := s.content.IngestBytes(ctx, []byte("stray"))
	if err != nil {
		t.Fatal(err)
	}

	s = s.reopen(t)
	layers := s.layerIDs(t)
	want := []string{hexOf(img.TopLayer), scratchOnImage, orphanUnderScratch, scratchOnOrphan}
	slices.Sort(want)
	if !slices.Equal(layers, want) {
		t.Errorf("layers after reopen %v, want %v", layers, want)
	}
	if e := dirEntries(t, s.content.ingestDir()); len(e) != 0 {
		t.Errorf("ingest left: %v", e)
	}
	if e := dirEntries(t, s.tmp); len(e) != 0 {
		t.Errorf("spool left: %v", e)
	}
	if s.content.Has(ctx, stray) {
		t.Error("stray blob kept")
	}
	if !s.content.Has(ctx, ids["keep:1"]) {
		t.Error("config blob of an image removed")
	}
	if _, err := s.Inspect(ctx, "keep:1"); err != nil {
		t.Error(err)
	}
	// Removing the image keeps the layer the container stands on.
	if _, err := s.Remove(ctx, "keep:1", false, false); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.layerIDs(t), img.TopLayer) {
		t.Error("layer under a container removed")
	}
}

func TestOpenLocked(t *testing.T) {
	ctx := context.Background()
	root := wine.TempDir(t)
	s, closeFn, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	_ = s
	_, _, err = Open(ctx, root)
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "is the daemon running?") {
		t.Fatalf("second open: %v", err)
	}
}

func TestContentIngest(t *testing.T) {
	ctx := context.Background()
	c, err := newContent(wine.TempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("some blob")
	d := digestOf(data)
	for _, bad := range []struct {
		d    string
		size int64
		kind error
	}{
		{"sha256:abc", -1, errdefs.ErrInvalidArgument},
		{"md5:" + strings.Repeat("a", 64), -1, errdefs.ErrInvalidArgument},
		{"sha256:" + strings.Repeat("A", 64), -1, errdefs.ErrInvalidArgument},
		{digestOf([]byte("other")), -1, errdefs.ErrDataLoss},
		{d, int64(len(data)) - 1, errdefs.ErrDataLoss},
		{d, int64(len(data)) + 1, errdefs.ErrDataLoss},
	} {
		err := c.Ingest(ctx, bad.d, bad.size, bytes.NewReader(data))
		if !errors.Is(err, bad.kind) {
			t.Errorf("ingest %s size %d: %v, want %v", bad.d, bad.size, err, bad.kind)
		}
	}
	if e := dirEntries(t, c.ingestDir()); len(e) != 0 {
		t.Errorf("ingest left %v", e)
	}
	if e := dirEntries(t, c.blobDir()); len(e) != 0 {
		t.Errorf("blobs kept %v", e)
	}
	if err := c.Ingest(ctx, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadAll(ctx, d)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q %v", got, err)
	}
	if _, err := c.ReadAll(ctx, digestOf([]byte("none"))); !errdefs.IsNotFound(err) {
		t.Errorf("missing blob: %v", err)
	}
	// A damaged blob file is caught when read.
	if err := os.WriteFile(c.Path(d), []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadAll(ctx, d); !errdefs.IsDataLoss(err) {
		t.Errorf("damaged blob: %v", err)
	}
}
