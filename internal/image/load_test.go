package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/wine"
)

// TestLoadSaveRoundTrip is the acceptance test of load and save: a
// docker-archive loads, saves, and loads into an empty store as the same
// image, and saving again gives the same bytes.
func TestLoadSaveRoundTrip(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, []string{"/bin/sh"}, busyboxRootfs(t), smallLayer(t, "a", "hello"))
	wantID, wantDiffs := imageID(t, img), diffIDs(t, img)
	archive := writeDockerArchive(t, map[string]v1.Image{"example.com/test/busybox:1": img})

	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "file", true: "stream"}[stream], func(t *testing.T) {
			s := newTestStore(t)
			var r = readerOf(t, archive, stream)
			var events []Progress
			loaded, err := s.Load(ctx, r, func(p Progress) { events = append(events, p) })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(loadedNames(loaded), []string{"example.com/test/busybox:1"}) {
				t.Errorf("loaded %v", loaded)
			}
			// dockerd's load reports the bytes of each layer it loads, no
			// more (the "Loaded image" lines are the daemon's).
			if len(events) == 0 || events[len(events)-1].Status != "Loading layer" || events[len(events)-1].Current != events[len(events)-1].Total {
				t.Errorf("last event %v", events)
			}
			d, err := s.Inspect(ctx, "example.com/test/busybox:1")
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != wantID || !slices.Equal(d.RootFS.Layers, wantDiffs) {
				t.Fatalf("inspect: id %s layers %v, want %s %v", d.ID, d.RootFS.Layers, wantID, wantDiffs)
			}
			if !slices.Equal(d.Config.Cmd, []string{"/bin/sh"}) || d.Os != "linux" {
				t.Errorf("config %+v", d)
			}
			if d.GraphDriver.Name == "" || d.GraphDriver.Data["dir"] == "" {
				t.Errorf("graph driver %+v", d.GraphDriver)
			}
			if _, err := os.Stat(filepath.Join(d.GraphDriver.Data["dir"], "layerchain.json")); err != nil {
				t.Errorf("top layer folder: %v", err)
			}

			// Save, check the archive, load into a fresh store.
			var saved bytes.Buffer
			if err := s.Save(ctx, []string{"example.com/test/busybox:1"}, &saved, FormatDocker); err != nil {
				t.Fatal(err)
			}
			files, _ := tarEntries(t, saved.Bytes())
			var ms []dockerManifest
			if err := json.Unmarshal(files["manifest.json"], &ms); err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 || !slices.Equal(ms[0].RepoTags, []string{"example.com/test/busybox:1"}) {
				t.Fatalf("manifest.json %+v", ms)
			}
			if digestOf(files[ms[0].Config]) != wantID {
				t.Errorf("saved config has digest %s", digestOf(files[ms[0].Config]))
			}
			for i, l := range ms[0].Layers {
				if got := digestOf(files[l]); got != wantDiffs[i] {
					t.Errorf("saved layer %d has digest %s, want diff id %s", i, got, wantDiffs[i])
				}
			}
			if _, ok := files["index.json"]; !ok {
				t.Error("saved docker archive has no index.json")
			}

			s2 := newTestStore(t)
			loaded, err = s2.Load(ctx, onlyReader{bytes.NewReader(saved.Bytes())}, nil)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := s2.Inspect(ctx, loadedNames(loaded)[0])
			if err != nil {
				t.Fatal(err)
			}
			if d2.ID != wantID || !slices.Equal(d2.RootFS.Layers, wantDiffs) {
				t.Errorf("reloaded: id %s layers %v", d2.ID, d2.RootFS.Layers)
			}
			var again bytes.Buffer
			if err := s2.Save(ctx, []string{"example.com/test/busybox:1"}, &again, FormatDocker); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), saved.Bytes()) {
				t.Error("saving the reloaded image gives other bytes")
			}
		})
	}
}

func readerOf(t *testing.T, p string, stream bool) interface{ Read([]byte) (int, error) } {
	f := openFile(t, p)
	if stream {
		return onlyReader{f}
	}
	return f
}

// TestLoadHandMadeArchive loads docker archives written by hand in the
// older docker save layout (<id>/layer.tar, a symlinked duplicate layer,
// repositories), with manifest.json first and last, plain and gzipped.
func TestLoadHandMadeArchive(t *testing.T) {
	ctx := context.Background()
	base := busyboxRootfs(t)
	top := smallLayer(t, "b", "world")
	diffs := []string{digestOf(base), digestOf(top)}
	cfg := configFile{Architecture: "amd64", OS: "linux", Created: testTime,
		Config: Config{Cmd: []string{"/bin/ls"}},
		RootFS: rootFS{Type: "layers", DiffIDs: []string{diffs[0], diffs[1], diffs[0]}}}
	config, _ := json.Marshal(cfg)
	id := digestOf(config)
	manifest, _ := json.Marshal([]dockerManifest{{
		Config:   hexOf(id) + ".json",
		RepoTags: []string{"hand:made", "other/hand:v2"},
		Layers:   []string{"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"},
	}})
	body := []tarFile{
		{name: "aaa/", dir: true}, {name: "aaa/layer.tar", body: string(base)}, {name: "aaa/VERSION", body: "1.0"},
		{name: "bbb/", dir: true}, {name: "bbb/layer.tar", body: string(top)},
		{name: "ccc/", dir: true}, {name: "ccc/layer.tar", link: "../aaa/layer.tar"},
		{name: hexOf(id) + ".json", body: string(config)},
		{name: "repositories", body: `{"hand":{"made":"bbb"}}`},
	}
	mf := tarFile{name: "manifest.json", body: string(manifest)}
	cases := map[string][]byte{
		"manifest last":  makeTar(t, append(slices.Clone(body), mf)),
		"manifest first": makeTar(t, append([]tarFile{mf}, body...)),
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(cases["manifest first"])
	zw.Close()
	cases["gzipped"] = gz.Bytes()
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				s := newTestStore(t)
				p := filepath.Join(wine.TempDir(t), "a.tar")
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				loaded, err := s.Load(ctx, readerOf(t, p, stream), nil)
				if err != nil {
					t.Fatalf("stream %v: %v", stream, err)
				}
				if !slices.Equal(loadedNames(loaded), []string{"hand:made", "other/hand:v2"}) {
					t.Errorf("loaded %v", loaded)
				}
				got, err := s.Resolve(ctx, "docker.io/other/hand:v2")
				if err != nil || got != id {
					t.Errorf("resolve: %s %v, want %s", got, err, id)
				}
				d, err := s.Inspect(ctx, "hand:made")
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(d.RepoTags, []string{"hand:made", "other/hand:v2"}) {
					t.Errorf("RepoTags %v", d.RepoTags)
				}
				if len(s.layerIDs(t)) != 3 {
					t.Errorf("layers %v, want 3 (the base twice is two chain ids)", s.layerIDs(t))
				}
			}
		})
	}
}

// TestLoadOCILayout loads an OCI image layout tarball named by
// annotations, saves it as OCI and loads it again.
func TestLoadOCILayout(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, []string{"/bin/echo", "hi"}, busyboxRootfs(t), smallLayer(t, "c", "oci"))
	wantID := imageID(t, img)
	dir := wine.TempDir(t)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		annotationContainerdRef: "docker.io/library/ocitest:latest",
		annotationRefName:       "latest",
	})); err != nil {
		t.Fatal(err)
	}
	// An image named by a bare tag only loads untagged.
	img2 := testImage(t, []string{"/bin/true"}, busyboxRootfs(t))
	if err := lp.AppendImage(img2, layout.WithAnnotations(map[string]string{annotationRefName: "v1"})); err != nil {
		t.Fatal(err)
	}
	tarball := tarDir(t, dir)

	s := newTestStore(t)
	loaded, err := s.Load(ctx, bytes.NewReader(tarball), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loadedNames(loaded), []string{"ocitest:latest", imageID(t, img2)}) {
		t.Errorf("loaded %v", loaded)
	}
	if id, err := s.Resolve(ctx, "ocitest"); err != nil || id != wantID {
		t.Fatalf("resolve ocitest: %s %v, want %s", id, err, wantID)
	}
	var saved bytes.Buffer
	if err := s.Save(ctx, []string{"ocitest"}, &saved, FormatOCI); err != nil {
		t.Fatal(err)
	}
	files, _ := tarEntries(t, saved.Bytes())
	if _, ok := files["manifest.json"]; ok {
		t.Error("OCI save wrote manifest.json")
	}
	var idx indexJSON
	if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) != 1 ||
		idx.Manifests[0].Annotations[annotationContainerdRef] != "docker.io/library/ocitest:latest" {
		t.Fatalf("index.json %s (%v)", files["index.json"], err)
	}
	s2 := newTestStore(t)
	loaded, err = s2.Load(ctx, onlyReader{bytes.NewReader(saved.Bytes())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loadedNames(loaded), []string{"ocitest:latest"}) {
		t.Errorf("reloaded %v", loaded)
	}
	d, err := s2.Inspect(ctx, "ocitest")
	if err != nil || d.ID != wantID || !slices.Equal(d.RootFS.Layers, diffIDs(t, img)) {
		t.Errorf("reloaded %s %v %v", d.ID, d.RootFS.Layers, err)
	}
}

// tarDir tars a folder's files.
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var files []tarFile
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel) // tar names, on Windows too
		if d.IsDir() {
			files = append(files, tarFile{name: rel + "/", dir: true})
			return nil
		}
		b, err := os.ReadFile(p)
		files = append(files, tarFile{name: rel, body: string(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return makeTar(t, files)
}

// TestLoadBadInput: broken archives fail with the right kind, never
// panic, and leave nothing behind.
func TestLoadBadInput(t *testing.T) {
	ctx := context.Background()
	base := smallLayer(t, "x", "base")
	cfg := configFile{Architecture: "amd64", OS: "linux", RootFS: rootFS{Type: "layers", DiffIDs: []string{digestOf(base)}}}
	config, _ := json.Marshal(cfg)
	id := digestOf(config)
	manifest := func(cfgName string, layers ...string) tarFile {
		b, _ := json.Marshal([]dockerManifest{{Config: cfgName, RepoTags: []string{"bad:input"}, Layers: layers}})
		return tarFile{name: "manifest.json", body: string(b)}
	}
	wrongCfg := cfg
	wrongCfg.RootFS.DiffIDs = []string{digestOf([]byte("not the layer"))}
	wrongConfig, _ := json.Marshal(wrongCfg)
	two := smallLayer(t, "y", "second")
	twoCfg := cfg
	twoCfg.RootFS.DiffIDs = []string{digestOf(base), digestOf([]byte("lie"))}
	twoConfig, _ := json.Marshal(twoCfg)

	cases := []struct {
		name  string
		input []byte
		kind  error
	}{
		{"empty", nil, errdefs.ErrInvalidArgument},
		{"not a tar", bytes.Repeat([]byte("this is not a tar archive "), 100), errdefs.ErrInvalidArgument},
		{"truncated tar", makeTar(t, []tarFile{{name: "a", body: strings.Repeat("x", 5000)}})[:1500], errdefs.ErrInvalidArgument},
		{"no manifest", makeTar(t, []tarFile{{name: "hello.txt", body: "hi"}}), errdefs.ErrInvalidArgument},
		{"bad manifest json", makeTar(t, []tarFile{{name: "manifest.json", body: "{"}}), errdefs.ErrInvalidArgument},
		{"missing layer", makeTar(t, []tarFile{
			{name: hexOf(id) + ".json", body: string(config)},
			manifest(hexOf(id)+".json", "missing/layer.tar"),
		}), errdefs.ErrInvalidArgument},
		{"missing config", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			manifest("nothere.json", "l/layer.tar"),
		}), errdefs.ErrInvalidArgument},
		{"config digest mismatch", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			{name: hexOf(digestOf([]byte("other"))) + ".json", body: string(config)},
			manifest(hexOf(digestOf([]byte("other")))+".json", "l/layer.tar"),
		}), errdefs.ErrDataLoss},
		{"diff id mismatch", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			{name: "config.json", body: string(wrongConfig)},
			manifest("config.json", "l/layer.tar"),
		}), errdefs.ErrDataLoss},
		{"second layer lies", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			{name: "m/layer.tar", body: string(two)},
			{name: "config.json", body: string(twoConfig)},
			manifest("config.json", "l/layer.tar", "m/layer.tar"),
		}), errdefs.ErrDataLoss},
		{"layer count mismatch", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			{name: "config.json", body: string(config)},
			manifest("config.json", "l/layer.tar", "l/layer.tar"),
		}), errdefs.ErrInvalidArgument},
		{"bad tag", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			{name: "config.json", body: string(config)},
			{name: "manifest.json", body: `[{"Config":"config.json","RepoTags":["UPPER:case"],"Layers":["l/layer.tar"]}]`},
		}), errdefs.ErrInvalidArgument},
		{"layer not a tar", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: "garbage garbage"},
			{name: "config.json", body: string(config)},
			manifest("config.json", "l/layer.tar"),
		}), nil},
		{"bad config", makeTar(t, []tarFile{
			{name: "l/layer.tar", body: string(base)},
			{name: "config.json", body: `{"rootfs":{"type":"layers","diff_ids":["md5:abc"]}}`},
			manifest("config.json", "l/layer.tar"),
		}), errdefs.ErrInvalidArgument},
		{"oci index without images", makeTar(t, []tarFile{
			{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`},
			{name: "index.json", body: `{"schemaVersion":2,"manifests":[]}`},
		}), errdefs.ErrInvalidArgument},
		{"oci missing manifest blob", makeTar(t, []tarFile{
			{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`},
			{name: "index.json", body: `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + id + `","size":10}]}`},
		}), errdefs.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				s := newTestStore(t)
				p := filepath.Join(wine.TempDir(t), "bad.tar")
				if err := os.WriteFile(p, c.input, 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := s.Load(ctx, readerOf(t, p, stream), nil)
				if err == nil {
					t.Fatalf("stream %v: loaded", stream)
				}
				if c.kind != nil && !errors.Is(err, c.kind) {
					t.Errorf("stream %v: %v, want kind %v", stream, err, c.kind)
				}
				if c.kind == nil && !errdefs.IsInvalidArgument(err) && !errdefs.IsDataLoss(err) {
					t.Errorf("stream %v: %v: want invalid argument or data loss", stream, err)
				}
				t.Logf("%v", err)
				s.assertEmpty(t)
			}
		})
	}
}

// TestLoadStreamDirect: a streamed archive that names its layers before
// they come (as Save writes it) has them applied as they stream past,
// with nothing held; a layer that lies fails the load and leaves nothing.
func TestLoadStreamDirect(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, []string{"/bin/sh"}, busyboxRootfs(t), smallLayer(t, "d", "direct"), smallLayer(t, "e", "more"))
	src := newTestStore(t)
	if _, err := src.Load(ctx, openFile(t, writeDockerArchive(t, map[string]v1.Image{"direct:1": img})), nil); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := src.Save(ctx, []string{"direct:1"}, &saved, FormatDocker); err != nil {
		t.Fatal(err)
	}

	s := newTestStore(t)
	d := &directLoader{s: s.Store, ctx: ctx, pins: s.newPins(), pre: map[string]layerRecord{}, pinned: map[string]bool{}}
	a, err := readArchive(ctx, onlyReader{bytes.NewReader(saved.Bytes())}, s.tmp, d.offer)
	if err != nil {
		t.Fatal(err)
	}
	for _, dd := range diffIDs(t, img) {
		if e, ok := a.get(blobPath(dd)); !ok || !e.consumed {
			t.Errorf("layer %s was not applied as it streamed", dd)
		}
	}
	if len(d.created) != 3 {
		t.Errorf("created %v", d.created)
	}
	a.close()
	d.pins.release()

	// The same archive with its second layer changed.
	files, order := tarEntries(t, saved.Bytes())
	var tfs []tarFile
	for _, n := range order {
		b := files[n]
		if n == blobPath(diffIDs(t, img)[1]) {
			b = smallLayer(t, "d", "tampered")
		}
		if strings.HasSuffix(n, "/") {
			tfs = append(tfs, tarFile{name: n, dir: true})
			continue
		}
		tfs = append(tfs, tarFile{name: n, body: string(b)})
	}
	s2 := newTestStore(t)
	_, err = s2.Load(ctx, onlyReader{bytes.NewReader(makeTar(t, tfs))}, nil)
	if !errdefs.IsDataLoss(err) {
		t.Fatalf("tampered layer: %v, want data loss", err)
	}
	s2.assertEmpty(t)
}

// TestLoadStreamDirectOCI: the same for an OCI layout as Save writes it.
func TestLoadStreamDirectOCI(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, []string{"/bin/sh"}, busyboxRootfs(t), smallLayer(t, "o", "oci"))
	src := newTestStore(t)
	if _, err := src.Load(ctx, openFile(t, writeDockerArchive(t, map[string]v1.Image{"direct:oci": img})), nil); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := src.Save(ctx, []string{"direct:oci"}, &saved, FormatOCI); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t)
	d := &directLoader{s: s.Store, ctx: ctx, pins: s.newPins(), pre: map[string]layerRecord{}, pinned: map[string]bool{}}
	a, err := readArchive(ctx, onlyReader{bytes.NewReader(saved.Bytes())}, s.tmp, d.offer)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	defer d.pins.release()
	if len(d.created) != 2 {
		t.Errorf("created %v, want both layers as they streamed", d.created)
	}
}
