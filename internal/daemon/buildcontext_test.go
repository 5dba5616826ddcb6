package daemon

import (
	"archive/tar"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
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
