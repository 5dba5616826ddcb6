package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/wine"
)

const busyboxPath = "/bin/busybox"

// needBusybox skips tests that build images from Debian's busybox-static.
func needBusybox(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Skipf("%s is missing (apt-get install -y busybox-static): %v", busyboxPath, err)
	}
	return b
}

// tarFile is one entry of a test tar.
type tarFile struct {
	name string
	body string
	link string // symlink target
	mode int64
	dir  bool
}

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func makeTar(t testing.TB, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, ModTime: testTime, Uname: "root", Gname: "root"}
		switch {
		case f.dir:
			hdr.Typeflag = tar.TypeDir
			if hdr.Mode == 0 {
				hdr.Mode = 0o755
			}
		case f.link != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = f.link
			hdr.Mode = 0o777
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.body))
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, f.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// busyboxRootfs is a root file system tar: busybox, a few of its links,
// and /etc/passwd.
func busyboxRootfs(t testing.TB) []byte {
	bb := needBusybox(t)
	files := []tarFile{
		{name: "bin/", dir: true},
		{name: "bin/busybox", body: string(bb), mode: 0o755},
	}
	for _, l := range []string{"sh", "ls", "cat", "echo", "true"} {
		files = append(files, tarFile{name: "bin/" + l, link: "busybox"})
	}
	files = append(files,
		tarFile{name: "etc/", dir: true},
		tarFile{name: "etc/passwd", body: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"},
		tarFile{name: "tmp/", dir: true, mode: 0o1777},
	)
	return makeTar(t, files)
}

// smallLayer is a layer that adds one file.
func smallLayer(t testing.TB, name, body string) []byte {
	return makeTar(t, []tarFile{{name: "data/", dir: true}, {name: "data/" + name, body: body}})
}

// gzLayer makes a gzip-compressed go-containerregistry layer of tar b.
func gzLayer(t testing.TB, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage builds an image of the given layer tars with a config that
// names cmd.
func testImage(t testing.TB, cmd []string, layers ...[]byte) v1.Image {
	t.Helper()
	var ls []v1.Layer
	for _, b := range layers {
		ls = append(ls, gzLayer(t, b))
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: testTime}
	cf.Config.Cmd = cmd
	cf.Config.Env = []string{"PATH=/bin"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func imageID(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func diffIDs(t testing.TB, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range cf.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}

// testStore is an image store on a fresh root with its own database.
type testStore struct {
	*Store
	root string
	db   *bolt.DB
}

func newTestStore(t testing.TB) *testStore {
	t.Helper()
	return openTestStore(t, wine.TempDir(t))
}

func openTestStore(t testing.TB, root string) *testStore {
	t.Helper()
	wine.Skip(t, "BackupWrite and the backup/restore privileges (windowsfilter layer imports through hcsshim's ociwclayer), and the POSIX-semantics delete os.RemoveAll uses")
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(root, DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.NewStore(ctx, root)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	s, err := New(ctx, root, db, ls)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	ts := &testStore{Store: s, root: root, db: db}
	t.Cleanup(func() { db.Close() })
	return ts
}

// reopen closes the database and opens the store again, as a restart.
func (ts *testStore) reopen(t testing.TB) *testStore {
	t.Helper()
	ts.db.Close()
	return openTestStore(t, ts.root)
}

// layerIDs lists the layer store's layers.
func (ts *testStore) layerIDs(t testing.TB) []string {
	t.Helper()
	ls, err := ts.layers.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	sort.Strings(out)
	return out
}

// blobs lists the content store's blobs.
func (ts *testStore) blobs(t testing.TB) []string {
	t.Helper()
	var out []string
	if err := ts.content.Walk(context.Background(), func(d string, _ int64) error {
		out = append(out, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// dirEntries lists a folder's entries (none when it is missing).
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// assertEmpty checks that a failed operation left nothing: no image, no
// layer, no blob, no ingest or spool file.
func (ts *testStore) assertEmpty(t testing.TB) {
	t.Helper()
	imgs, err := ts.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 0 {
		t.Errorf("images left: %v", imgs)
	}
	if ids := ts.layerIDs(t); len(ids) != 0 {
		t.Errorf("layers left: %v", ids)
	}
	if b := ts.blobs(t); len(b) != 0 {
		t.Errorf("blobs left: %v", b)
	}
	if e := dirEntries(t, ts.content.ingestDir()); len(e) != 0 {
		t.Errorf("ingest files left: %v", e)
	}
	if e := dirEntries(t, ts.tmp); len(e) != 0 {
		t.Errorf("spool files left: %v", e)
	}
	// The layer store's trash (layer.Store.Discard) is part of its layout.
	if e := slices.DeleteFunc(dirEntries(t, filepath.Join(ts.root, "layers")), func(n string) bool { return n == ".trash" }); len(e) != 0 {
		t.Errorf("layer folders left: %v", e)
	}
}

// writeDockerArchive writes img as docker save does (go-containerregistry's
// tarball format) to a file and returns its name.
func writeDockerArchive(t testing.TB, tags map[string]v1.Image) string {
	t.Helper()
	refs := map[name.Reference]v1.Image{}
	for tag, img := range tags {
		r, err := name.NewTag(tag)
		if err != nil {
			t.Fatal(err)
		}
		refs[r] = img
	}
	p := filepath.Join(wine.TempDir(t), "image.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		t.Fatal(err)
	}
	return p
}

// onlyReader hides every method of r but Read, so that the store sees a
// stream, as from an API upload.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func openFile(t testing.TB, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tarEntries reads a tar into a map of name to content.
func tarEntries(t testing.TB, b []byte) (map[string][]byte, []string) {
	t.Helper()
	out := map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = c
		order = append(order, hdr.Name)
	}
	return out, order
}

// loadedNames is what Load loaded, as docker load names it: each image's
// references, or its id when it has none.
func loadedNames(l []Loaded) []string {
	var out []string
	for _, x := range l {
		if len(x.Tags) == 0 {
			out = append(out, x.ID)
		}
		out = append(out, x.Tags...)
	}
	return out
}
