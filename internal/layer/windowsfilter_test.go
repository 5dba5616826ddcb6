package layer

// The windowsfilter store's logic, on any OS, against a recording fake of
// hcsshim's layer calls (no Windows host has run it yet).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/wine"
)

type fakeWCLayer struct {
	calls []string
	fail  string
}

func (f *fakeWCLayer) rec(name, path string, parents []string) error {
	short := func(p string) string { return filepath.Base(p)[:4] }
	c := name + " " + short(path)
	for _, p := range parents {
		c += " <" + short(p)
	}
	f.calls = append(f.calls, c)
	if name == f.fail {
		return errors.New(name + " failed")
	}
	return nil
}
func (f *fakeWCLayer) ImportLayer(_ context.Context, p string, parents []string, r io.Reader) error {
	io.Copy(io.Discard, r)
	os.MkdirAll(p, 0o700)
	return f.rec("ImportLayer", p, parents)
}
func (f *fakeWCLayer) ExportLayer(_ context.Context, p string, parents []string, w io.Writer) error {
	return f.rec("ExportLayer", p, parents)
}
func (f *fakeWCLayer) CreateScratchLayer(_ context.Context, p string, parents []string) error {
	os.MkdirAll(p, 0o700)
	return f.rec("CreateScratchLayer", p, parents)
}
func (f *fakeWCLayer) ActivateLayer(_ context.Context, p string) error {
	return f.rec("ActivateLayer", p, nil)
}
func (f *fakeWCLayer) PrepareLayer(_ context.Context, p string, parents []string) error {
	return f.rec("PrepareLayer", p, parents)
}
func (f *fakeWCLayer) GetLayerMountPath(_ context.Context, p string) (string, error) {
	return `\\?\Volume{` + filepath.Base(p) + `}\`, f.rec("GetLayerMountPath", p, nil)
}
func (f *fakeWCLayer) UnprepareLayer(_ context.Context, p string) error {
	return f.rec("UnprepareLayer", p, nil)
}
func (f *fakeWCLayer) DeactivateLayer(_ context.Context, p string) error {
	return f.rec("DeactivateLayer", p, nil)
}

// DestroyLayer removes the layer's folder, as vmcompute's does.
func (f *fakeWCLayer) DestroyLayer(_ context.Context, p string) error {
	if err := f.rec("DestroyLayer", p, nil); err != nil {
		return err
	}
	return wine.RemoveAll(p)
}

var (
	base = strings.Repeat("a", 64)
	mid  = strings.Repeat("b", 64)
	top  = strings.Repeat("c", 64)
	ctr  = strings.Repeat("d", 64)
)

func TestWindowsFilterChainAndCalls(t *testing.T) {
	ctx := context.Background()
	root := wine.TempDir(t)
	f := &fakeWCLayer{}
	w := NewWindowsFilter(root, f)
	for _, l := range [][2]string{{base, ""}, {mid, base}, {top, mid}} {
		if err := w.Import(ctx, l[0], l[1], strings.NewReader("tar")); err != nil {
			t.Fatal(err)
		}
	}
	// layerchain.json of a three-layer chain: the parents, nearest first.
	b, err := os.ReadFile(filepath.Join(root, "windowsfilter", top, ChainFile))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal([]string{filepath.Join(root, "windowsfilter", mid), filepath.Join(root, "windowsfilter", base)})
	if string(b) != string(want) {
		t.Errorf("layerchain.json of top:\n got %s\nwant %s", b, want)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "windowsfilter", base, ChainFile)); string(b) != "null" {
		t.Errorf("layerchain.json of a base layer: %s", b)
	}
	f.calls = nil
	if err := w.CreateScratch(ctx, ctr, top); err != nil {
		t.Fatal(err)
	}
	// The scratch layer's layerchain.json on the three-layer chain, as a
	// Windows host would have it (root C:\ProgramData\hull): golden.
	b, err = os.ReadFile(filepath.Join(w.Dir(ctr), ChainFile))
	if err != nil {
		t.Fatal(err)
	}
	var chain []string
	if err := json.Unmarshal(b, &chain); err != nil {
		t.Fatalf("layerchain.json of the scratch layer: %v: %s", err, b)
	}
	for i, p := range chain {
		rel, err := filepath.Rel(root, p)
		if err != nil || !filepath.IsLocal(rel) {
			t.Fatalf("layerchain.json of the scratch layer: %s is not under %s", p, root)
		}
		chain[i] = `C:\ProgramData\hull\` + strings.ReplaceAll(filepath.ToSlash(rel), "/", `\`)
	}
	asWindowsJSON, _ := json.Marshal(chain)
	asWindows := string(asWindowsJSON)
	golden, err := os.ReadFile(filepath.Join("testdata", "layerchain_three_layers.golden.json"))
	if err != nil || strings.TrimSpace(string(golden)) != asWindows {
		t.Errorf("layerchain.json of the scratch layer:\n%s\nwant testdata/layerchain_three_layers.golden.json:\n%s (%v)", asWindows, golden, err)
	}
	vol, err := w.Mount(ctx, ctr)
	if err != nil || !strings.Contains(vol, "Volume{"+ctr+"}") {
		t.Fatalf("mount: %q %v", vol, err)
	}
	w.Unmount(ctx, ctr)
	w.Remove(ctx, ctr)
	got := strings.Join(f.calls, "\n")
	wantCalls := strings.Join([]string{
		"GetLayerMountPath cccc",
		"CreateScratchLayer dddd <cccc <bbbb <aaaa",
		"ActivateLayer dddd",
		"PrepareLayer dddd <cccc <bbbb <aaaa",
		"GetLayerMountPath dddd",
		"UnprepareLayer dddd",
		"DeactivateLayer dddd",
		"DestroyLayer dddd",
	}, "\n")
	if got != wantCalls {
		t.Errorf("calls:\n%s\nwant:\n%s", got, wantCalls)
	}
	if _, err := os.Stat(w.Dir(ctr)); !os.IsNotExist(err) {
		t.Errorf("the scratch folder remains: %v", err)
	}
}

func TestWindowsFilterUndo(t *testing.T) {
	ctx := context.Background()
	f := &fakeWCLayer{}
	w := NewWindowsFilter(wine.TempDir(t), f)
	c1, c2, c3 := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	w.Import(ctx, base, "", strings.NewReader("tar"))
	f.fail = "CreateScratchLayer"
	if err := w.CreateScratch(ctx, c1, base); err == nil {
		t.Fatal("scratch created")
	}
	if _, err := os.Stat(w.Dir(c1)); !os.IsNotExist(err) {
		t.Errorf("a failed scratch layer left its folder")
	}
	f.fail = ""
	w.CreateScratch(ctx, c2, base)
	f.fail, f.calls = "PrepareLayer", nil
	if _, err := w.Mount(ctx, c2); err == nil {
		t.Fatal("mounted")
	}
	if got := strings.Join(f.calls, ","); got != "ActivateLayer 2222,PrepareLayer 2222 <aaaa,DeactivateLayer 2222" {
		t.Errorf("a failed prepare: %s", got)
	}
	if err := w.CreateScratch(ctx, c3, strings.Repeat("e", 64)); err == nil {
		t.Error("a scratch layer on a missing parent")
	}
	if err := w.Import(ctx, "../x", "", strings.NewReader("")); err == nil {
		t.Error("a bad id was taken")
	}
}
