package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/wine"
)

func TestContextTree(t *testing.T) {
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
	sym := func(name, target string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}
	}
	hard := func(name, target string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}
	}
	dir := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeDir} }
	for _, tc := range []struct {
		name    string
		entries []*tar.Header
		err     string
	}{
		{"plain", []*tar.Header{reg("Dockerfile"), dir("a/"), reg("a/b/c")}, ""},
		{"up and absolute land inside", []*tar.Header{reg("../x"), reg("/etc/x"), reg("../../a/../b")}, ""},
		{"link to a directory inside", []*tar.Header{dir("real"), sym("l", "real"), reg("l/x"), sym("abs", "/real"), reg("abs/y"), sym("up", "../../real"), reg("up/z")}, ""},
		{"link out", []*tar.Header{sym("l", "../../../../var/tmp/outside"), reg("l/x")}, "Error processing tar file(exit status 1): open /l/x: no such file or directory"},
		{"absolute link out", []*tar.Header{sym("l", "/var/tmp/outside"), reg("l/sub/x")}, "Error processing tar file(exit status 1): open /l/sub/x: no such file or directory"},
		{"link loop", []*tar.Header{sym("a", "b"), sym("b", "a"), reg("a/x")}, "Error processing tar file(exit status 1): open /a/x: too many levels of symbolic links"},
		{"through a file", []*tar.Header{reg("f"), reg("f/x")}, "Error processing tar file(exit status 1): open /f/x: not a directory"},
		{"hard link to an earlier file", []*tar.Header{reg("a"), hard("b", "a"), hard("c", "./../a")}, ""},
		{"hard link out", []*tar.Header{hard("h", "../../../etc/hostname")}, "Error processing tar file(exit status 1): link /etc/hostname /h: no such file or directory"},
		{"hard link to a directory", []*tar.Header{dir("d"), hard("h", "d")}, "Error processing tar file(exit status 1): link /d /h: no such file or directory"},
	} {
		tree := newContextTree()
		var err error
		for _, h := range tc.entries {
			if err = tree.add(h); err != nil {
				break
			}
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errdefs.IsInvalidArgument(err)):
			t.Errorf("%s: %v, want %q (invalid argument)", tc.name, err, tc.err)
		}
	}
}

// TestBuildContextBounded: a context over MaxBuildContext is refused as a
// limit (413) and nothing of it is kept; one within it is kept whole,
// and a context without its Dockerfile leaves nothing either.
func TestBuildContextBounded(t *testing.T) {
	d := &Daemon{cfg: Config{ExecRoot: wine.TempDir(t)}}
	ctxTar := func(files map[string]int) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for name, size := range files {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)})
			tw.Write(bytes.Repeat([]byte("x"), size))
		}
		tw.Close()
		return b.Bytes()
	}
	kept := func() []os.DirEntry {
		ents, _ := os.ReadDir(d.buildContexts())
		return ents
	}
	defer func(m int64) { MaxBuildContext = m }(MaxBuildContext)
	MaxBuildContext = 64 << 10

	big := ctxTar(map[string]int{"Dockerfile": 20, "blob": 200 << 10})
	if _, err := d.ImageBuild(context.Background(), bytes.NewReader(big), ""); !errdefs.IsLimit(err) {
		t.Errorf("a context of %d bytes over a bound of %d: %v, want a limit error", len(big), MaxBuildContext, err)
	}
	if n := len(kept()); n != 0 {
		t.Errorf("%d files kept of a refused context", n)
	}
	if _, err := d.ImageBuild(context.Background(), bytes.NewReader(ctxTar(map[string]int{"other": 10})), ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("a context without its Dockerfile: %v, want invalid argument", err)
	}
	if n := len(kept()); n != 0 {
		t.Errorf("%d files kept of a context without its Dockerfile", n)
	}
	small := ctxTar(map[string]int{"Dockerfile": 20, "blob": 10 << 10})
	path, err := d.ImageBuild(context.Background(), bytes.NewReader(small), "")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, small) {
		t.Errorf("the kept context differs from what was sent (%d bytes, %v)", len(b), err)
	}
}
