//go:build linux

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/wine"
)

// The fuzz targets of this file load hostile archives into a fresh store
// in a folder of their own, beside a sentinel file and a folder at a fixed
// path (so that seeds can aim absolute links at it), and check that a load
// never panics, fails only with the kinds a client is answered 4xx for,
// leaves nothing behind when it fails, writes nothing outside the store's
// root, and that what it loads saves and loads again as the same image.
//
// The layers of a fuzzed archive are applied by the layer store's applier
// for real (FuzzApplyTar fuzzes that applier alone, sandboxed); the check
// outside the root is what catches an escape here.

// fuzzOutside is the fixed folder outside every fuzzed store.
func fuzzOutside() string { return filepath.Join(os.TempDir(), "hull-load-fuzz-outside") }

// fuzzEntry is one entry of a fuzz seed's tar.
type fuzzEntry struct {
	name, body, link string
	typ              byte
}

func fuzzTar(es ...fuzzEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: testTime}
		switch e.typ {
		case 0:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

func file(name, body string) fuzzEntry { return fuzzEntry{name: name, body: body} }
func symlink(name, target string) fuzzEntry {
	return fuzzEntry{name: name, link: target, typ: tar.TypeSymlink}
}
func hardlink(name, target string) fuzzEntry {
	return fuzzEntry{name: name, link: target, typ: tar.TypeLink}
}

// fuzzConfig is an image config over layers with these diff ids.
func fuzzConfig(diffIDs ...string) []byte {
	b, _ := json.Marshal(configFile{Architecture: "amd64", OS: "linux", Created: testTime,
		Config: Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}, Labels: map[string]string{"a": "b"}},
		RootFS: rootFS{Type: "layers", DiffIDs: diffIDs}})
	return b
}

// dockerArchive is a docker save archive of one image of these layers.
func dockerArchive(tag string, layers ...[]byte) []byte {
	var diffs, names []string
	var es []fuzzEntry
	for i, l := range layers {
		diffs = append(diffs, digestOf(l))
		n := fmt.Sprintf("l%d/layer.tar", i)
		names = append(names, n)
		es = append(es, file(n, string(l)))
	}
	config := fuzzConfig(diffs...)
	m, _ := json.Marshal([]dockerManifest{{Config: hexOf(digestOf(config)) + ".json", RepoTags: []string{tag}, Layers: names}})
	es = append([]fuzzEntry{file("manifest.json", string(m)), file(hexOf(digestOf(config))+".json", string(config))}, es...)
	return fuzzTar(es...)
}

// ociArchive is an OCI layout of one image of these layers, named by the
// containerd annotation.
func ociArchive(name string, layers ...[]byte) []byte {
	var diffs []string
	var ls []descriptor
	es := []fuzzEntry{file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`)}
	for _, l := range layers {
		d := digestOf(l)
		diffs = append(diffs, d)
		ls = append(ls, descriptor{MediaType: mediaOCILayer, Digest: d, Size: int64(len(l))})
		es = append(es, file(blobPath(d), string(l)))
	}
	config := fuzzConfig(diffs...)
	m, _ := json.Marshal(manifestJSON{SchemaVersion: 2, MediaType: mediaOCIManifest,
		Config: descriptor{MediaType: mediaOCIConfig, Digest: digestOf(config), Size: int64(len(config))}, Layers: ls})
	idx, _ := json.Marshal(indexJSON{SchemaVersion: 2, Manifests: []descriptor{{MediaType: mediaOCIManifest, Digest: digestOf(m), Size: int64(len(m)),
		Annotations: map[string]string{annotationContainerdRef: name}}}})
	es = append(es, file(blobPath(digestOf(config)), string(config)), file(blobPath(digestOf(m)), string(m)), file("index.json", string(idx)))
	return fuzzTar(es...)
}

// loadErrorKinds are the kinds a failed load may have: the client's
// archive is wrong (400) or too big (413).
func checkLoadError(t *testing.T, err error) {
	t.Helper()
	if errdefs.IsInvalidArgument(err) || errdefs.IsDataLoss(err) || errdefs.IsLimit(err) {
		return
	}
	t.Fatalf("load: %v is of no client-error kind", err)
}

// fuzzLoadEnv is a fuzzed load's folders: top holds the store's root, a
// sentinel and nothing else.
type fuzzLoadEnv struct {
	top, root, sentinel string
}

const sentinelText = "hull-load-fuzz sentinel"

func newFuzzLoadEnv(t *testing.T) fuzzLoadEnv {
	t.Helper()
	top := wine.TempDir(t)
	e := fuzzLoadEnv{top: top, root: filepath.Join(top, "root"), sentinel: filepath.Join(top, "sentinel")}
	if err := os.Mkdir(e.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.sentinel, []byte(sentinelText), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// checkOutside fails when anything outside the store's root changed: the
// top folder's entries, the sentinel, the fixed outside folder.
func (e fuzzLoadEnv) checkOutside(t *testing.T, outsideBefore []string) {
	t.Helper()
	ents, err := os.ReadDir(e.top)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range ents {
		names = append(names, x.Name())
	}
	if !slices.Equal(names, []string{"root", "sentinel"}) {
		t.Fatalf("the load wrote beside the store's root: %v", names)
	}
	if b, err := os.ReadFile(e.sentinel); err != nil || string(b) != sentinelText {
		t.Fatalf("the load changed the sentinel beside the store's root: %q %v", b, err)
	}
	if got := treeOf(t, fuzzOutside()); !slices.Equal(got, outsideBefore) {
		t.Fatalf("the load wrote in %s: %v, before %v", fuzzOutside(), got, outsideBefore)
	}
}

// treeOf lists every path under dir with its size and mode.
func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d", p, fi.Mode(), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// makeFuzzOutside makes the fixed outside folder, d/ and d/keep in it,
// when they are missing. It runs once per process: the fuzz workers share
// the folder and each compares it before and after every load, so it is
// made whole (renamed into place) and never written again.
func makeFuzzOutside(f *testing.F) {
	keep := filepath.Join(fuzzOutside(), "d", "keep")
	if _, err := os.Stat(keep); err == nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		f.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", fuzzOutside(), os.Getpid())
	if err := os.WriteFile(tmp, []byte("keep"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.Rename(tmp, keep); err != nil {
		f.Fatal(err)
	}
}

// fuzzNeedRoot skips a load target unless it runs as root: layers are
// applied with their owners and overlayfs's whiteouts (device nodes).
func fuzzNeedRoot(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("loading layers with owners and whiteouts needs root")
	}
}

// fuzzLoad loads archive into a fresh store and checks the properties.
func fuzzLoad(t *testing.T, archive []byte, stream bool) {
	t.Helper()
	ctx := context.Background()
	outsideBefore := treeOf(t, fuzzOutside())
	e := newFuzzLoadEnv(t)
	s := openTestStore(t, e.root)
	var r io.Reader = bytes.NewReader(archive)
	if !stream {
		p := filepath.Join(wine.TempDir(t), "archive.tar")
		if err := os.WriteFile(p, archive, 0o600); err != nil {
			t.Fatal(err)
		}
		r = openFile(t, p)
	} else {
		r = onlyReader{r}
	}
	loaded, err := s.Load(ctx, r, nil)
	e.checkOutside(t, outsideBefore)
	if err != nil {
		checkLoadError(t, err)
		if len(loaded) == 0 {
			s.assertEmpty(t)
		}
		return
	}
	// What loaded lists, inspects, saves, and loads again the same.
	if _, err := s.List(ctx); err != nil {
		t.Fatalf("list after a load: %v", err)
	}
	var ids []string
	for _, l := range loaded {
		if _, err := s.Inspect(ctx, l.ID); err != nil {
			t.Fatalf("inspect %s after its load: %v", l.ID, err)
		}
		ids = append(ids, l.ID)
	}
	var saved bytes.Buffer
	if err := s.Save(ctx, ids, &saved, FormatDocker); err != nil {
		t.Fatalf("save %v after their load: %v", ids, err)
	}
	s2 := newTestStore(t)
	again, err := s2.Load(ctx, bytes.NewReader(saved.Bytes()), nil)
	if err != nil {
		t.Fatalf("load of the saved archive: %v", err)
	}
	var ids2 []string
	for _, l := range again {
		ids2 = append(ids2, l.ID)
	}
	slices.Sort(ids)
	slices.Sort(ids2)
	if !slices.Equal(slices.Compact(ids), slices.Compact(ids2)) {
		t.Fatalf("loaded %v, saved and loaded again %v", ids, ids2)
	}
}

// FuzzLoad loads arbitrary archives, as a file and as a stream.
func FuzzLoad(f *testing.F) {
	fuzzNeedRoot(f)
	makeFuzzOutside(f)
	out := fuzzOutside()
	layer := fuzzTar(fuzzEntry{name: "d/", typ: tar.TypeDir}, file("d/f", "hello"), symlink("d/l", "f"))
	for _, a := range [][]byte{
		dockerArchive("fuzz:1", layer),
		dockerArchive("fuzz:2", layer, fuzzTar(file("d/.wh.f", ""), file("e", "x"))),
		ociArchive("docker.io/library/fuzz:3", layer),
		// Layers that try to leave the layer.
		dockerArchive("fuzz:up", fuzzTar(file("../../../sentinel", "x"), file("../escape", "x"))),
		dockerArchive("fuzz:abs", fuzzTar(symlink("o", out), file("o/new", "x"), symlink("k", filepath.Join(out, "d", "keep")), file("k", "x"))),
		dockerArchive("fuzz:rel", fuzzTar(symlink("up", "../../../../../../.."), file("up"+out+"/new", "x"), hardlink("h", out+"/d/keep"))),
		// Archive paths that leave the archive.
		fuzzTar(file("manifest.json", `[{"Config":"../../sentinel","RepoTags":["x:1"],"Layers":["/etc/passwd"]}]`)),
		fuzzTar(symlink("manifest.json", out+"/d/keep")),
		fuzzTar(file("a", "x"), hardlink("manifest.json", "../../../sentinel")),
		fuzzTar(file("index.json", `{"schemaVersion":2,"manifests":[{"mediaType":"`+mediaOCIIndex+`","digest":"sha256:`+strings.Repeat("0", 64)+`"}]}`)),
		{},
	} {
		f.Add(a, false)
		f.Add(a, true)
	}
	f.Fuzz(func(t *testing.T, archive []byte, stream bool) {
		fuzzLoad(t, archive, stream)
	})
}

// Placeholders FuzzLoadDocuments replaces in the fuzzed documents, so that
// mutations keep the digests right and reach past the digest checks.
const (
	phLayer    = "@LAYER@"    // the layer's digest (its diff id)
	phLayerLen = "@LAYERLEN@" // its size
	phConfig   = "@CONFIG@"   // the config's digest
	phConfLen  = "@CONFLEN@"  // its size
	phManifest = "@MANIFEST@" // the OCI manifest's digest
	phManLen   = "@MANLEN@"   // its size
)

// FuzzLoadDocuments fuzzes the JSON documents of an archive around a
// well-formed layer: manifest.json and the config of a docker-archive, or
// index.json, the manifest and the config of an OCI layout. Digests and
// sizes are written in for the placeholders.
func FuzzLoadDocuments(f *testing.F) {
	fuzzNeedRoot(f)
	makeFuzzOutside(f)
	cfg := `{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/bin"],"Labels":{"a":"b"},"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000}},"rootfs":{"type":"layers","diff_ids":["` + phLayer + `"]},"history":[{"created":"2024-01-02T03:04:05Z","created_by":"ADD x /"}]}`
	dockerM := `[{"Config":"` + phConfig + `.json","RepoTags":["fuzz:1","example.com:5000/a/b:c"],"Layers":["l/layer.tar"]}]`
	ociM := `{"schemaVersion":2,"mediaType":"` + mediaOCIManifest + `","config":{"mediaType":"` + mediaOCIConfig + `","digest":"` + phConfig + `","size":` + phConfLen + `},"layers":[{"mediaType":"` + mediaOCILayer + `","digest":"` + phLayer + `","size":` + phLayerLen + `}]}`
	ociIdx := `{"schemaVersion":2,"manifests":[{"mediaType":"` + mediaOCIManifest + `","digest":"` + phManifest + `","size":` + phManLen + `,"annotations":{"io.containerd.image.name":"docker.io/library/fuzz:2","org.opencontainers.image.ref.name":"2"},"platform":{"architecture":"amd64","os":"linux"}}]}`
	for _, s := range []struct {
		oci                     bool
		index, manifest, config string
	}{
		{false, "", dockerM, cfg},
		{true, ociIdx, ociM, cfg},
		{false, "", `[{"Config":"` + phConfig + `.json","RepoTags":["UPPER:1","a:b:c","@sha256:x"],"Layers":["l/layer.tar","l/layer.tar"]}]`, strings.Replace(cfg, `"]},`, `","`+phLayer+`"]},`, 1)},
		{false, "", `[{"Config":"` + phConfig + `.json","Layers":["../l/layer.tar"]},{"Config":"x.json"}]`, cfg},
		{false, "", dockerM, `{"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}`},
		{false, "", dockerM, `{"rootfs":{"type":"other"},"created":"2024-13-45T99:00:00Z"}`},
		{true, `{"schemaVersion":2,"manifests":[{"mediaType":"` + mediaOCIIndex + `","digest":"` + phManifest + `"}]}`, ociIdx, cfg},
		{true, ociIdx, `{"schemaVersion":2,"config":{"digest":"` + phConfig + `"},"layers":[{"digest":"sha256:` + strings.Repeat("1", 64) + `"}]}`, cfg},
		{true, ociIdx, strings.Replace(ociM, `"size":`+phLayerLen, `"size":-1`, 1), cfg},
	} {
		f.Add(s.oci, []byte(s.index), []byte(s.manifest), []byte(s.config))
	}
	layer := fuzzTar(fuzzEntry{name: "d/", typ: tar.TypeDir}, file("d/f", "hello"))
	f.Fuzz(func(t *testing.T, oci bool, index, manifest, config []byte) {
		r := strings.NewReplacer(phLayerLen, fmt.Sprint(len(layer)), phLayer, digestOf(layer))
		config = []byte(r.Replace(string(config)))
		r = strings.NewReplacer(phLayerLen, fmt.Sprint(len(layer)), phLayer, digestOf(layer),
			phConfLen, fmt.Sprint(len(config)), phConfig, digestOf(config))
		if !oci {
			manifest = []byte(r.Replace(strings.ReplaceAll(string(manifest), phConfig+".json", hexOf(digestOf(config))+".json")))
			fuzzLoad(t, fuzzTar(file("manifest.json", string(manifest)), file(hexOf(digestOf(config))+".json", string(config)),
				file("l/layer.tar", string(layer))), true)
			return
		}
		manifest = []byte(r.Replace(string(manifest)))
		index = []byte(strings.NewReplacer(phManLen, fmt.Sprint(len(manifest)), phManifest, digestOf(manifest)).Replace(r.Replace(string(index))))
		fuzzLoad(t, fuzzTar(file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`), file(blobPath(digestOf(layer)), string(layer)),
			file(blobPath(digestOf(config)), string(config)), file(blobPath(digestOf(manifest)), string(manifest)),
			file("index.json", string(index))), false)
	})
}
