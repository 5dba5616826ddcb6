// Package layertest is the conformance suite of the layer store: every
// backend of layer.Store runs Run against a fresh store, with its real
// file system (overlayfs on Linux), never a fake.
package layertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// NewStore makes a fresh, empty store in a folder of the test's. The
// suite removes every layer it made before the test ends.
type NewStore func(t *testing.T) (store *layer.Store, root string)

// File is one entry of a tar diff made by the suite.
type File struct {
	Name     string
	Body     string
	Type     byte // tar.TypeReg when zero
	Linkname string
	Mode     int64
}

// Tar builds a tar diff of files.
func Tar(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Type, Linkname: f.Linkname, Mode: f.Mode, ModTime: mtime}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// ID makes a layer id from a word, for readable tests.
func ID(word string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(word))) }

func mustCreate(t *testing.T, s *layer.Store, id, parent string, files ...File) layer.Info {
	t.Helper()
	b := Tar(t, files...)
	in, err := s.Create(context.Background(), id, parent, bytes.NewReader(b), layer.ApplyOptions{})
	if err != nil {
		t.Fatalf("create layer %s: %v", id[:12], err)
	}
	if in.DiffID != digestOf(b) {
		t.Fatalf("layer %s: diff id %s, want %s", id[:12], in.DiffID, digestOf(b))
	}
	if in.TarSize != int64(len(b)) {
		t.Fatalf("layer %s: tar size %d, want %d", id[:12], in.TarSize, len(b))
	}
	t.Cleanup(func() { _ = s.Remove(context.Background(), id, true) })
	return in
}

func mustScratch(t *testing.T, s *layer.Store, id, parent string) layer.Info {
	t.Helper()
	in, err := s.CreateScratch(context.Background(), id, parent)
	if err != nil {
		t.Fatalf("create scratch layer %s: %v", id[:12], err)
	}
	t.Cleanup(func() { _ = s.Remove(context.Background(), id, true) })
	return in
}

func mustMount(t *testing.T, s *layer.Store, id string) string {
	t.Helper()
	p, err := s.Mount(context.Background(), id)
	if err != nil {
		t.Fatalf("mount %s: %v", id[:12], err)
	}
	t.Cleanup(func() {
		for i := 0; i < 8; i++ {
			_ = s.Unmount(context.Background(), id)
		}
	})
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Run runs the conformance suite.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	base := []File{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/hostname", Body: "base\n"},
		{Name: "etc/gone", Body: "to be deleted\n"},
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/tool", Body: "#!tool\n", Mode: 0o755},
		{Name: "bin/alias", Type: tar.TypeSymlink, Linkname: "tool"},
		{Name: "opaque/", Type: tar.TypeDir},
		{Name: "opaque/old", Body: "old\n"},
	}
	top := []File{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/hostname", Body: "top\n"},
		{Name: "etc/.wh.gone"},
		{Name: "opaque/", Type: tar.TypeDir},
		{Name: "opaque/.wh..wh..opq"},
		{Name: "opaque/new", Body: "new\n"},
	}

	t.Run("Chain", func(t *testing.T) {
		s, _ := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		l2 := mustCreate(t, s, ID("l2"), l1.ID, top...)
		chain, err := layer.ReadChain(l2.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(chain, []string{l1.Dir}) {
			t.Fatalf("chain of l2 = %v, want [%s]", chain, l1.Dir)
		}
		raw, err := os.ReadFile(filepath.Join(l1.Dir, layer.ChainFile))
		if err != nil || strings.TrimSpace(string(raw)) != "null" {
			t.Fatalf("base layer's %s = %q, %v; want null", layer.ChainFile, raw, err)
		}
		sc := mustScratch(t, s, ID("c1"), l2.ID)
		if !slices.Equal(sc.Chain, []string{l2.Dir, l1.Dir}) || !sc.Scratch {
			t.Fatalf("scratch chain %v scratch %v, want [l2 l1] true", sc.Chain, sc.Scratch)
		}
		got, err := s.Get(ctx, sc.ID)
		if err != nil || got.Parent != l2.ID || !got.Scratch {
			t.Fatalf("get scratch = %+v, %v", got, err)
		}
	})

	t.Run("ScratchInvariant", func(t *testing.T) {
		s, _ := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		for _, id := range []string{"", "abc", "../" + ID("x")[3:], strings.ToUpper(ID("x"))} {
			if _, err := s.CreateScratch(ctx, id, l1.ID); !errdefs.IsInvalidArgument(err) {
				t.Errorf("scratch with container id %q: err %v, want invalid argument", id, err)
			}
		}
		sc := mustScratch(t, s, ID("c1"), l1.ID)
		if _, err := s.CreateScratch(ctx, ID("c1"), l1.ID); !errdefs.IsAlreadyExists(err) {
			t.Errorf("second scratch for one container: %v, want already exists", err)
		}
		if _, err := s.CreateScratch(ctx, ID("c2"), sc.ID); !errdefs.IsInvalidArgument(err) {
			t.Errorf("scratch on a scratch: %v, want invalid argument", err)
		}
		if _, err := s.CreateScratch(ctx, ID("c3"), ID("missing")); !errdefs.IsNotFound(err) {
			t.Errorf("scratch on a missing parent: %v, want not found", err)
		}
		if _, err := s.Create(ctx, ID("l1"), "", bytes.NewReader(Tar(t)), layer.ApplyOptions{}); !errdefs.IsAlreadyExists(err) {
			t.Errorf("layer created twice: %v, want already exists", err)
		}
	})

	t.Run("MountUnion", func(t *testing.T) {
		s, _ := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		l2 := mustCreate(t, s, ID("l2"), l1.ID, top...)
		sc := mustScratch(t, s, ID("c1"), l2.ID)
		root := mustMount(t, s, sc.ID)
		if got := readFile(t, filepath.Join(root, "etc/hostname")); got != "top\n" {
			t.Errorf("etc/hostname = %q, want the top layer's", got)
		}
		if got := readFile(t, filepath.Join(root, "bin/tool")); got != "#!tool\n" {
			t.Errorf("bin/tool = %q, want the base layer's", got)
		}
		if _, err := os.Lstat(filepath.Join(root, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("whiteout: etc/gone is visible (%v)", err)
		}
		if _, err := os.Lstat(filepath.Join(root, "opaque/old")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("opaque folder: opaque/old is visible (%v)", err)
		}
		if got := readFile(t, filepath.Join(root, "opaque/new")); got != "new\n" {
			t.Errorf("opaque/new = %q", got)
		}
		// A write lands in the scratch layer only.
		if err := os.WriteFile(filepath.Join(root, "etc/written"), []byte("w\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, l := range []layer.Info{l1, l2} {
			if cs, _ := layer.Changes(ctx, l.Dir); slices.ContainsFunc(cs, func(c layer.Change) bool { return c.Path == "/etc/written" }) {
				t.Errorf("write reached read-only layer %s", l.ID[:12])
			}
		}
		cs, err := s.Changes(ctx, sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cs, layer.Change{Path: "/etc/written", Kind: layer.ChangeAdd}) {
			t.Errorf("changes of the scratch layer %v lack A /etc/written", cs)
		}
		// A read-only layer mounts read-only.
		ro := mustMount(t, s, l2.ID)
		if err := os.WriteFile(filepath.Join(ro, "x"), nil, 0o644); err == nil {
			t.Errorf("a write into a mounted read-only layer succeeded")
		}
		if got := readFile(t, filepath.Join(ro, "etc/hostname")); got != "top\n" {
			t.Errorf("read-only mount: etc/hostname = %q", got)
		}
	})

	t.Run("MountCounted", func(t *testing.T) {
		s, _ := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		sc := mustScratch(t, s, ID("c1"), l1.ID)
		p1 := mustMount(t, s, sc.ID)
		p2 := mustMount(t, s, sc.ID)
		if p1 != p2 {
			t.Fatalf("two mounts at %s and %s, want one place", p1, p2)
		}
		if err := s.Remove(ctx, sc.ID, false); !errdefs.IsConflict(err) {
			t.Fatalf("remove of a mounted layer: %v, want conflict", err)
		}
		if err := s.Unmount(ctx, sc.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(p1, "bin/tool")); err != nil {
			t.Fatalf("after one of two unmounts the layer is gone: %v", err)
		}
		for i := 0; i < 3; i++ { // the last one unmounts, the rest do nothing
			if err := s.Unmount(ctx, sc.ID); err != nil {
				t.Fatalf("unmount %d: %v", i, err)
			}
		}
		if _, err := os.Stat(filepath.Join(p1, "bin/tool")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("after the last unmount bin/tool is still there: %v", err)
		}
		if err := s.Remove(ctx, l1.ID, false); !errdefs.IsConflict(err) {
			t.Fatalf("remove of a layer a scratch stands on: %v, want conflict", err)
		}
		mustMount(t, s, sc.ID)
		if err := s.Remove(ctx, sc.ID, true); err != nil {
			t.Fatalf("forced remove of a mounted layer: %v", err)
		}
		if _, err := os.Stat(sc.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("removed layer's folder remains: %v", err)
		}
	})

	t.Run("ChangesWhileRunning", func(t *testing.T) {
		s, _ := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		sc := mustScratch(t, s, ID("c1"), l1.ID)
		root := mustMount(t, s, sc.ID)
		// Hold a file open for writing, as a running container would.
		f, err := os.Create(filepath.Join(root, "etc/log"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("line\n"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(root, "bin/alias")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "new/dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		cs, err := s.Changes(ctx, sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []layer.Change{
			{Path: "/bin", Kind: layer.ChangeModify},
			{Path: "/bin/alias", Kind: layer.ChangeDelete},
			{Path: "/etc", Kind: layer.ChangeModify},
			{Path: "/etc/hostname", Kind: layer.ChangeModify},
			{Path: "/etc/log", Kind: layer.ChangeAdd},
			{Path: "/new", Kind: layer.ChangeAdd},
			{Path: "/new/dir", Kind: layer.ChangeAdd},
		}
		if !slices.Equal(cs, want) {
			t.Errorf("changes\n got %v\nwant %v", cs, want)
		}
	})

	t.Run("ExportRoundTrip", func(t *testing.T) {
		s, _ := newStore(t)
		b := Tar(t, base...)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		var out bytes.Buffer
		if err := s.Export(ctx, l1.ID, &out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatalf("export of an imported layer differs from its tar (%d vs %d bytes)", out.Len(), len(b))
		}
		sc := mustScratch(t, s, ID("c1"), l1.ID)
		root := mustMount(t, s, sc.ID)
		if err := os.Remove(filepath.Join(root, "etc/gone")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/added"), []byte("added\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(root, "opaque")); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(root, "opaque"), 0o755); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := s.Export(ctx, sc.ID, &out); err != nil {
			t.Fatal(err)
		}
		names := tarNames(t, out.Bytes())
		for _, want := range []string{"etc/.wh.gone", "etc/added", "opaque/.wh..wh..opq"} {
			if !slices.Contains(names, want) {
				t.Errorf("export of the scratch layer %v lacks %s", names, want)
			}
		}
		// The exported diff, applied on the same parent, gives the same view.
		l2, err := s.Create(ctx, ID("l2"), l1.ID, bytes.NewReader(out.Bytes()), layer.ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Remove(ctx, l2.ID, true) })
		view := mustMount(t, s, l2.ID)
		if _, err := os.Lstat(filepath.Join(view, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("re-imported diff: etc/gone visible (%v)", err)
		}
		if _, err := os.Lstat(filepath.Join(view, "opaque/old")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("re-imported diff: opaque/old visible (%v)", err)
		}
		if got := readFile(t, filepath.Join(view, "etc/added")); got != "added\n" {
			t.Errorf("re-imported diff: etc/added = %q", got)
		}
	})

	t.Run("Size", func(t *testing.T) {
		s, _ := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", File{Name: "a", Body: strings.Repeat("x", 1000)},
			File{Name: "b", Type: tar.TypeLink, Linkname: "a"}, File{Name: "c", Body: "yz"})
		n, err := s.Size(ctx, l1.ID)
		if err != nil || n != 1002 {
			t.Fatalf("size = %d, %v; want 1002 (a hard link counts once)", n, err)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		s, root := newStore(t)
		if _, err := s.Create(ctx, ID("bad"), "", strings.NewReader("this is not a tar archive, not at all......"), layer.ApplyOptions{}); err == nil {
			t.Errorf("garbage applied as a tar")
		}
		if _, err := s.Get(ctx, ID("bad")); !errdefs.IsNotFound(err) {
			t.Errorf("a failed create left layer behind: %v", err)
		}
		if _, err := s.Get(ctx, "../../etc"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("get ../../etc: %v, want invalid argument", err)
		}
		if err := s.Remove(ctx, ID("nope"), false); !errdefs.IsNotFound(err) {
			t.Errorf("remove of a missing layer: %v, want not found", err)
		}
		ents, _ := os.ReadDir(filepath.Join(root, "layers"))
		// The trash (Discard's) is part of the store's layout.
		ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == ".trash" })
		if len(ents) != 0 {
			t.Errorf("store holds %d entries after failed creates", len(ents))
		}
	})

	t.Run("CleanupAtOpen", func(t *testing.T) {
		s, root := newStore(t)
		l1 := mustCreate(t, s, ID("l1"), "", base...)
		leftover := filepath.Join(root, "layers", ".tmp-interrupted")
		if err := os.MkdirAll(filepath.Join(leftover, "diff/etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := layer.NewStore(ctx, root); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("interrupted creation left %s after reopening: %v", leftover, err)
		}
		if _, err := s.Get(ctx, l1.ID); err != nil {
			t.Errorf("reopening lost a whole layer: %v", err)
		}
	})
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
}
