package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// recordTar builds a tar with the features whose bytes a replay must keep:
// PAX long names and xattrs, hard links, empty files, content across the
// read-ahead's chunks, and the trailing blocks GNU tar pads a record with.
func recordTar(t *testing.T, dup bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 123456789)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = mt
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16+7) // 3 MiB and change
	add(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "d/" + strings.Repeat("long", 40), Typeflag: tar.TypeReg, Mode: 0o644}, []byte("long name\n"))
	add(&tar.Header{Name: "d/x", Typeflag: tar.TypeReg, Mode: 0o600, PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, []byte("xattr\n"))
	add(&tar.Header{Name: "d/empty", Typeflag: tar.TypeReg, Mode: 0o644}, nil)
	add(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644}, big)
	add(&tar.Header{Name: "link", Typeflag: tar.TypeLink, Linkname: "big"}, nil)
	add(&tar.Header{Name: "d/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o644}, nil)
	if dup {
		add(&tar.Header{Name: "d/x", Typeflag: tar.TypeReg, Mode: 0o600}, []byte("second\n"))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	buf.Write(make([]byte, 10240-buf.Len()%10240)) // a full GNU tar record
	return buf.Bytes()
}

func TestExportReplaysImportedTar(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying a tar with owners and whiteouts needs root")
	}
	ctx := context.Background()
	in := recordTar(t, false)
	dir := filepath.Join(t.TempDir(), "l")
	m, err := Import(ctx, dir, nil, bytes.NewReader(in), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Export(ctx, dir, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("replayed tar differs: %d bytes, imported %d", out.Len(), len(in))
	}
	if want := int64((3<<16+7)*16 + len("long name\n") + len("xattr\n")); m.Size != want {
		t.Fatalf("size %d, want %d", m.Size, want)
	}
}

// A tar that names one file twice keeps only the second content; the
// replay cannot give the first back, and says so rather than passing off
// other bytes under the layer's diff id.
func TestExportRefusesUnreplayableTar(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying a tar with owners and whiteouts needs root")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "l")
	if _, err := Import(ctx, dir, nil, bytes.NewReader(recordTar(t, true)), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	err := Export(ctx, dir, nil, io.Discard)
	if !errdefs.IsDataLoss(err) {
		t.Fatalf("export of a layer whose tar named a file twice: %v, want data loss", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func TestImportReadErrorLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "l")
	_, err := Import(ctx, dir, nil, io.MultiReader(bytes.NewReader(recordTar(t, false)[:4096]), &failingReader{n: 0}), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("import of a failing stream: %v, want the reader's error", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed import left %s: %v", dir, err)
	}
}

// A layer whose files changed after import (same size or not) cannot be
// passed off under its diff id.
func TestExportRefusesChangedFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying a tar with owners and whiteouts needs root")
	}
	ctx := context.Background()
	for name, body := range map[string]string{"same size": "XATTR\n", "shorter": "x"} {
		dir := filepath.Join(t.TempDir(), "l")
		if _, err := Import(ctx, dir, nil, bytes.NewReader(recordTar(t, false)), ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "diff/d/x"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Export(ctx, dir, nil, io.Discard); !errdefs.IsDataLoss(err) {
			t.Errorf("%s: export of a changed layer: %v, want data loss", name, err)
		}
	}
}
