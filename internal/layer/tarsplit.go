package layer

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
)

// tarSplitFile records, for a read-only layer, the headers and padding of
// the tar it was imported from, so that Export can write the same bytes
// again from the layer's files and the layer keeps its diff id (the digest
// an image config names) without hull storing the tar itself.
const tarSplitFile = "tar-split.json.gz"

func hasTarSplit(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, tarSplitFile))
	return err == nil
}

// importRecorded applies r into the layer in dir and records its tar-split
// metadata beside it. It reads r to its end, so a digest taken of r covers
// the whole stream.
func importRecorded(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions) (ApplyResult, error) {
	f, err := os.OpenFile(filepath.Join(dir, tarSplitFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ApplyResult{}, err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tr, err := asm.NewInputTarStream(r, storage.NewJSONPacker(gz), storage.NewDiscardFilePutter())
	if err != nil {
		return ApplyResult{}, err
	}
	res, err := importImpl(ctx, dir, parents, tr, opts)
	if err != nil {
		return res, err
	}
	if _, err := io.Copy(io.Discard, tr); err != nil {
		return res, fmt.Errorf("read tar to its end: %w", err)
	}
	if err := gz.Close(); err != nil {
		return res, err
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	return res, f.Close()
}

// exportRecorded writes the tar a read-only layer was imported from, byte
// for byte, from its tar-split record and its files.
func exportRecorded(dir string, w io.Writer) error {
	f, err := os.Open(filepath.Join(dir, tarSplitFile))
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", tarSplitFile, err)
	}
	defer gz.Close()
	return asm.WriteOutputTarStream(layerFiles{dir}, storage.NewJSONUnpacker(gz), w)
}

// layerFiles hands tar-split the content of a layer's regular files by the
// names the tar gave them, resolved inside the layer's files folder.
type layerFiles struct{ dir string }

func (l layerFiles) Get(name string) (io.ReadCloser, error) {
	rel := path.Clean("/" + filepath.ToSlash(name))[1:]
	if rel == "" {
		return nil, errors.New("tar-split names the layer root as a file")
	}
	return openLayerFile(l.dir, rel)
}
