package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/wine"
)

// TestTagReference: repo and tag as POST /images/{name}/tag, commit and
// import read them, refused in dockerd's words.
func TestTagReference(t *testing.T) {
	hex := strings.Repeat("a", 64)
	for _, c := range []struct{ repo, tag, want, err string }{
		{"busybox", "", "docker.io/library/busybox:latest", ""},
		{"busybox:1", "", "docker.io/library/busybox:1", ""},
		{"busybox:1", "2", "docker.io/library/busybox:2", ""},
		{"example.com:5000/a/b", "x", "example.com:5000/a/b:x", ""},
		{"ok", hex, "docker.io/library/ok:" + hex, ""},
		{"", "", "", "invalid reference format"},
		{"Bad", "", "", "invalid reference format: repository name must be lowercase"},
		{"ok", "bad tag", "", "invalid tag format"},
		{hex, "", "", "invalid repository name (" + hex + "), cannot specify 64-byte hexadecimal strings"},
		{"ok@sha256:" + hex, "", "", "refusing to create a tag with a digest reference"},
	} {
		got, err := TagReference(c.repo, c.tag)
		msg, _ := errdefs.DockerMessage(err)
		if got != c.want || msg != c.err || (err != nil) != (c.err != "") || (err != nil && !errdefs.IsInvalidArgument(err)) {
			t.Errorf("TagReference(%q, %q) = %q, %v; want %q, %q", c.repo, c.tag, got, err, c.want, c.err)
		}
	}
	if _, err := ImportReference("ok@sha256:"+hex, ""); err == nil || err.Error() != "cannot import digest reference" {
		t.Errorf("import of a digest reference: %v", err)
	}
	if _, err := ImportReference("sha256", "1"); err == nil || err.Error() != "refusing to create an ambiguous tag using digest algorithm as name" {
		t.Errorf("import as sha256: %v", err)
	}
	for _, c := range []struct{ image, tag, want string }{
		{"busybox", "", "docker.io/library/busybox:latest"},
		{"busybox:", "", "docker.io/library/busybox:latest"},
		{"busybox", "1", "docker.io/library/busybox:1"},
		{"busybox", "sha256:" + hex, "docker.io/library/busybox@sha256:" + hex},
	} {
		if got, err := PullReference(c.image, c.tag); got != c.want || err != nil {
			t.Errorf("PullReference(%q, %q) = %q, %v; want %q", c.image, c.tag, got, err, c.want)
		}
	}
	if _, err := PullReference("busybox", "bad tag"); err == nil || err.Error() != "invalid tag format" {
		t.Errorf("pull with a bad tag: %v", err)
	}
}

// TestImportPlatform: containerd's parser, and only this machine's OS.
func TestImportPlatform(t *testing.T) {
	if os, arch, _, err := ImportPlatform(""); os != runtime.GOOS || arch != runtime.GOARCH || err != nil {
		t.Errorf("default platform: %s/%s %v", os, arch, err)
	}
	if _, arch, variant, err := ImportPlatform(runtime.GOOS + "/aarch64"); arch != "arm64" || variant != "" || err != nil {
		t.Errorf("normalized platform: %s %s %v", arch, variant, err)
	}
	other := "windows"
	if runtime.GOOS == "windows" {
		other = "linux"
	}
	if _, _, _, err := ImportPlatform(other + "/amd64"); err == nil || err.Error() != "operating system is not supported" {
		t.Errorf("another OS: %v", err)
	}
	if _, _, _, err := ImportPlatform("bogus"); err == nil || err.Error() != `"bogus": unknown operating system or architecture: invalid argument` {
		t.Errorf("a bogus platform: %v", err)
	}
}

// TestDecompressBomb: a compressed tar that expands past the applier's
// byte limit stops there, with the limit's kind; the decompressor reads
// no further than the applier asks.
func TestDecompressBomb(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the tar applier is Linux's")
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	const size = 64 << 20
	tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
	io.CopyN(tw, zeros{}, size)
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw.Bytes())
	zw.Close()
	if gz.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed", gz.Len())
	}
	r, err := Decompress(bytes.NewReader(gz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := wine.TempDir(t)
	_, err = layer.ExtractTar(context.Background(), dir, r, layer.ApplyOptions{MaxBytes: 1 << 20})
	if !errdefs.IsLimit(err) {
		t.Fatalf("extract past the limit: %v, want a limit error", err)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
