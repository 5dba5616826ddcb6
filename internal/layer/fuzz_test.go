//go:build linux

package layer

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/wine"
)

// FuzzLayerRecords writes arbitrary layerchain.json and layer.json into a
// layer folder of a store beside a well-formed layer, and reads them as
// the store does. No panic; a record that is not JSON of its shape is
// DataLoss; what reads back writes and reads again the same; listing the
// store and removing the well-formed layer (which reads every record)
// keep to the kinds a caller can answer.
func FuzzLayerRecords(f *testing.F) {
	ids := []string{strings.Repeat("a", 64), strings.Repeat("b", 64)}
	for _, s := range []struct{ chain, meta string }{
		{`null`, `{"diffID":"sha256:` + strings.Repeat("0", 64) + `","size":12,"tarSize":2048}`},
		{`["/var/lib/hull/layers/` + ids[0] + `"]`, `{"scratch":true,"size":0}`},
		{`["/l/c","/l/b","/l/a"]`, `{"size":-1}`},
		{`[]`, `{}`},
		{`["C:\\ProgramData\\hull\\windowsfilter\\` + ids[0] + `"]`, `{"size":1e3}`},
		{`["", "."]`, `null`},
		{`[null]`, `{"size":"1"}`},
		{``, ``},
		{`{`, `[`},
		{`"x"`, `{"diffID":7}`},
	} {
		f.Add([]byte(s.chain), []byte(s.meta))
	}
	f.Fuzz(func(t *testing.T, chainJSON, metaJSON []byte) {
		ctx := context.Background()
		root := wine.TempDir(t)
		s, err := NewStore(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		good := s.Dir(ids[1])
		if err := os.Mkdir(good, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := writeChain(good, nil); err != nil {
			t.Fatal(err)
		}
		if err := writeMeta(good, Meta{DiffID: "sha256:" + strings.Repeat("0", 64)}); err != nil {
			t.Fatal(err)
		}
		dir := s.Dir(ids[0])
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ChainFile), chainJSON, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, metaFile), metaJSON, 0o600); err != nil {
			t.Fatal(err)
		}

		chain, cerr := ReadChain(dir)
		if cerr != nil && !errdefs.IsDataLoss(cerr) {
			t.Fatalf("ReadChain of %q: %v is not DataLoss", chainJSON, cerr)
		}
		meta, merr := ReadMeta(dir)
		if merr != nil && !errdefs.IsDataLoss(merr) {
			t.Fatalf("ReadMeta of %q: %v is not DataLoss", metaJSON, merr)
		}
		// Round trips, through a folder of their own.
		again := filepath.Join(root, "again")
		if err := os.Mkdir(again, 0o700); err != nil {
			t.Fatal(err)
		}
		if cerr == nil {
			if err := writeChain(again, chain); err != nil {
				t.Fatalf("write the chain %q back: %v", chain, err)
			}
			c2, err := ReadChain(again)
			if err != nil || !slices.Equal(c2, chain) {
				t.Fatalf("chain %q read back as %q (%v)", chain, c2, err)
			}
		}
		if merr == nil {
			if err := writeMeta(again, meta); err != nil {
				t.Fatalf("write the record %+v back: %v", meta, err)
			}
			m2, err := ReadMeta(again)
			if err != nil || m2 != meta {
				t.Fatalf("record %+v read back as %+v (%v)", meta, m2, err)
			}
		}

		in, err := s.Get(ctx, ids[0])
		switch {
		case err != nil && cerr == nil && merr == nil:
			t.Fatalf("Get of a layer whose records read: %v", err)
		case err != nil && !errdefs.IsDataLoss(err):
			t.Fatalf("Get: %v is not DataLoss", err)
		case err == nil:
			if !slices.Equal(in.Chain, chain) || in.Meta != meta {
				t.Fatalf("Get: %+v, records %q %+v", in, chain, meta)
			}
			if len(chain) > 0 && in.Parent != filepath.Base(chain[0]) {
				t.Fatalf("Get: parent %q of chain %q", in.Parent, chain)
			}
		}
		if _, err := s.List(ctx); err != nil && !errdefs.IsDataLoss(err) {
			t.Fatalf("List: %v is not DataLoss", err)
		}
		// Remove reads every layer's chain to find the layers standing on
		// the one removed.
		err = s.Remove(ctx, ids[1], false)
		switch {
		case err == nil:
			if _, serr := os.Stat(good); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("Remove answered nil and left %s: %v", good, serr)
			}
			if slices.Contains(chain, good) && cerr == nil {
				t.Fatalf("Remove took %s, which layer %s stands on", good, ids[0])
			}
		case errdefs.IsDataLoss(err), errdefs.IsConflict(err):
		default:
			t.Fatalf("Remove: %v is neither DataLoss nor Conflict", err)
		}
	})
}

// tarSplitRecord is a tar-split record (the JSON lines inside
// tar-split.json.gz) of the given entries, as the recorder writes it.
func tarSplitRecord(t testing.TB, entries ...storage.Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	p := storage.NewJSONPacker(&buf)
	for _, e := range entries {
		if _, err := p.AddEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// FuzzTarSplitReplay replays arbitrary tar-split records (uncompressed;
// the target gzips them into tar-split.json.gz) from a layer whose files
// include links out of its diff folder and beside which a secret lies.
// No panic; an error is DataLoss (the record and the files disagree); and
// the secret, reachable only by leaving diff/, never reaches the output.
func FuzzTarSplitReplay(f *testing.F) {
	seg := func(s string) storage.Entry { return storage.Entry{Type: storage.SegmentType, Payload: []byte(s)} }
	file := func(name string, size int64) storage.Entry {
		return storage.Entry{Type: storage.FileType, Name: name, Size: size}
	}
	hdr := strings.Repeat("h", 512)
	for _, es := range [][]storage.Entry{
		{seg(hdr), file("d/f", 5), seg(strings.Repeat("\x00", 507)), seg(strings.Repeat("\x00", 1024))},
		{seg(hdr), file("rel", 6)},
		{seg(hdr), file("abs", 6)},
		{seg(hdr), file("d/up/secret", 6)},
		{seg(hdr), file("../secret", 6)},
		{seg(hdr), file("/d/f", 5)},
		{seg(hdr), file("d//f", 5)},
		{seg(hdr), file("./d/../d/f", 5)},
		{seg(hdr), file("d/f", 500)},
		{seg(hdr), file("d/f", -1)},
		{seg(hdr), file("d", 1)},
		{seg(hdr), file("fifo", 1)},
		{seg(hdr), file("", 1)},
		{{Type: storage.FileType, NameRaw: []byte("d/\xfff"), Size: 5}},
		{{Type: 9, Payload: []byte("x")}},
	} {
		f.Add(tarSplitRecord(f, es...))
	}
	f.Add([]byte(`{"type":2,"payload":"aGVsbG8=","position":0}` + "\n" + `{"type":1,"name":"d/f","size":5,"position":1}`))
	f.Add([]byte(`{`))

	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		f.Fatal(err)
	}
	secretText := []byte(hex.EncodeToString(secret))
	f.Fuzz(func(t *testing.T, record []byte) {
		top := wine.TempDir(t)
		outside := filepath.Join(top, "secret")
		if err := os.WriteFile(outside, secretText, 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(top, "layer")
		diff := filepath.Join(dir, "diff")
		if err := os.MkdirAll(filepath.Join(diff, "d"), 0o700); err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.WriteFile(filepath.Join(dir, "secret"), secretText, 0o600))
		must(os.WriteFile(filepath.Join(diff, "d", "f"), []byte("hello"), 0o644))
		must(os.Symlink("../../secret", filepath.Join(diff, "rel")))
		must(os.Symlink(outside, filepath.Join(diff, "abs")))
		must(os.Symlink("../..", filepath.Join(diff, "d", "up")))
		must(unix.Mkfifo(filepath.Join(diff, "fifo"), 0o644))

		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(record)
		must(zw.Close())
		must(os.WriteFile(filepath.Join(dir, tarSplitFile), gz.Bytes(), 0o600))

		var out bytes.Buffer
		err := exportRecorded(dir, &out)
		if err != nil && !errdefs.IsDataLoss(err) {
			t.Fatalf("replay: %v is not DataLoss", err)
		}
		if bytes.Contains(out.Bytes(), secretText) && !bytes.Contains(record, secretText) {
			t.Fatalf("the replay read a file outside the layer's diff folder (error %v)", err)
		}
	})
}
