package layer

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/vbatts/tar-split/tar/storage"
)

// tarSplitFile records, for a read-only layer, the headers and padding of
// the tar it was imported from, so that Export can write the same bytes
// again from the layer's files and the layer keeps its diff id (the digest
// an image config names) without hull storing the tar itself. The format
// is tar-split's (github.com/vbatts/tar-split), which docker also keeps, and
// its assembler replays it.
const tarSplitFile = "tar-split.json.gz"

func hasTarSplit(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, tarSplitFile))
	return err == nil
}

// importRecorded applies r into the layer in dir, records its tar-split
// metadata beside it and returns the digest and length of the whole stream.
//
// tar-split's own recorder parses the tar a second time in a goroutine
// joined to the applier by an unbuffered pipe, which makes the two take
// turns; here the applier's own parse tells a recorder in the same stream
// which bytes are file content, and hashing runs ahead in a goroutine of
// its own.
func importRecorded(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions) (ApplyResult, string, int64, error) {
	f, err := os.OpenFile(filepath.Join(dir, tarSplitFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ApplyResult{}, "", 0, err
	}
	defer f.Close()
	gz, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return ApplyResult{}, "", 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ra := newReadAhead(ctx, r)
	defer ra.stop()
	rec := &tarRecorder{r: ra, packer: storage.NewJSONPacker(gz), seen: map[string]bool{}}
	res, err := importImpl(ctx, dir, parents, rec, opts, rec.entry)
	if err != nil {
		return res, "", 0, err
	}
	if err := rec.finish(); err != nil {
		return res, "", 0, err
	}
	if err := gz.Close(); err != nil {
		return res, "", 0, err
	}
	if err := f.Sync(); err != nil {
		return res, "", 0, err
	}
	digest, n := ra.digest()
	return res, digest, n, f.Close()
}

// tarRecorder passes a tar stream through to the applier and records it
// in tar-split's format: every byte that is not a regular file's content
// goes into segments, and each file's content is replaced by its name and
// size, to be read back from the layer. tar-split would also keep a CRC-64
// of each file; hull leaves it out (it cost a fifth of an import's CPU on
// the applier's path) and checks the replayed tar as a whole against the
// diff id instead.
//
// The applier calls entry with each header archive/tar returns, before it
// reads the entry's content; archive/tar reads exactly the content and
// nothing past it through Read, so counting bytes is enough to know where
// the content ends.
type tarRecorder struct {
	r      io.Reader
	packer storage.Packer
	err    error // the first packing error; it ends the import

	seg []byte // segment bytes not yet packed

	file string // the file whose content is being read
	size int64  // its size
	left int64  // bytes of its content still to come
	seen map[string]bool
}

func (t *tarRecorder) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	b := p[:n]
	if t.left > 0 && len(b) > 0 {
		k := int64(len(b))
		if k > t.left {
			k = t.left
		}
		t.left -= k
		b = b[k:]
		if t.left == 0 {
			t.pack(storage.Entry{Type: storage.FileType, Size: t.size, Name: t.file})
		}
	}
	t.seg = append(t.seg, b...)
	if t.left == 0 && len(t.seg) >= 1<<20 {
		// An applier that reports no headers (Windows' ociwclayer) leaves
		// the whole stream in segments: pack them as they come.
		t.flushSegment()
	}
	if t.err != nil {
		return n, t.err
	}
	return n, err
}

func (t *tarRecorder) pack(e storage.Entry) {
	if t.err != nil {
		return
	}
	if _, err := t.packer.AddEntry(e); err != nil {
		t.err = fmt.Errorf("record tar: %w", err)
	}
}

// entry is told of each header as the applier gets it. A regular file's
// content is left out of the record, unless the tar holds a file of that
// name already (tar-split cannot name one path twice) or the entry is
// sparse (the layer holds the expanded file, the tar the packed one):
// those stay in the segments as they are.
func (t *tarRecorder) entry(hdr *tar.Header) {
	if hdr.Typeflag != tar.TypeReg || hdr.Size <= 0 || isSparse(hdr) ||
		strings.HasPrefix(path.Base(hdr.Name), whiteoutPrefix) {
		return
	}
	clean := filepath.Clean(hdr.Name)
	if t.seen[clean] {
		return
	}
	t.seen[clean] = true
	t.flushSegment()
	t.file, t.size, t.left = hdr.Name, hdr.Size, hdr.Size
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (t *tarRecorder) flushSegment() {
	if len(t.seg) > 0 {
		t.pack(storage.Entry{Type: storage.SegmentType, Payload: t.seg})
		t.seg = t.seg[:0]
	}
}

// finish reads the stream to its end (the zero blocks after the last
// entry belong to the tar too) and packs what is left.
func (t *tarRecorder) finish() error {
	if _, err := io.Copy(io.Discard, t); err != nil {
		return fmt.Errorf("read tar to its end: %w", err)
	}
	if t.left > 0 {
		return fmt.Errorf("tar ends inside %q: %w", t.file, io.ErrUnexpectedEOF)
	}
	t.flushSegment()
	return t.err
}

// readAhead reads its source in a goroutine of its own, hashing it on the
// way, so that reading and hashing the tar overlap with writing its files.
type readAhead struct {
	chunks chan []byte
	free   chan []byte
	done   chan struct{}
	buf    []byte // the chunk being read
	cur    []byte // what is left of it
	err    error  // set by the goroutine before it closes chunks
	h      hash.Hash
	n      int64 // bytes read from the source, set by the goroutine
	cancel context.CancelFunc
}

const (
	readAheadChunk = 1 << 20
	readAheadDepth = 8
)

func newReadAhead(ctx context.Context, r io.Reader) *readAhead {
	ctx, cancel := context.WithCancel(ctx)
	ra := &readAhead{
		chunks: make(chan []byte, readAheadDepth),
		free:   make(chan []byte, readAheadDepth+2),
		done:   make(chan struct{}),
		h:      sha256.New(),
		cancel: cancel,
	}
	go ra.run(ctx, r)
	return ra
}

// run reads r into chunks. Its buffers are made as they are needed, up to
// readAheadDepth+2, so that a small tar (a container's init layer, 10 KB)
// costs one, not 10 MiB allocated and cleared.
func (ra *readAhead) run(ctx context.Context, r io.Reader) {
	defer close(ra.done)
	defer close(ra.chunks)
	made := 0
	for {
		if err := ctx.Err(); err != nil {
			ra.err = err
			return
		}
		var buf []byte
		select {
		case buf = <-ra.free:
		default:
			if made < readAheadDepth+2 {
				buf = make([]byte, readAheadChunk)
				made++
				break
			}
			select {
			case buf = <-ra.free:
			case <-ctx.Done():
				ra.err = ctx.Err()
				return
			}
		}
		n, err := io.ReadFull(r, buf[:cap(buf)])
		if n > 0 {
			ra.h.Write(buf[:n])
			ra.n += int64(n)
			select {
			case ra.chunks <- buf[:n]:
			case <-ctx.Done():
				ra.err = ctx.Err()
				return
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return
		}
		if err != nil {
			ra.err = err
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if len(ra.cur) == 0 {
		c, ok := <-ra.chunks
		if !ok {
			if ra.err != nil {
				return 0, ra.err
			}
			return 0, io.EOF
		}
		ra.buf, ra.cur = c, c
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	if len(ra.cur) == 0 {
		ra.free <- ra.buf[:0] // the whole buffer, not the spent tail
		ra.buf, ra.cur = nil, nil
	}
	return n, nil
}

// digest returns the digest and length of everything read; the caller
// has read the stream to its end.
func (ra *readAhead) digest() (string, int64) {
	<-ra.done
	return digestString(ra.h), ra.n
}

// stop ends the goroutine and waits for it.
func (ra *readAhead) stop() {
	ra.cancel()
	<-ra.done
}

// exportRecorded writes the tar a read-only layer was imported from, byte
// for byte, from its tar-split record and its files. The caller checks the
// digest of what was written.
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
	ew := &errWriter{w: w}
	err = replay(layerFiles{dir}, storage.NewJSONUnpacker(gz), ew)
	if err != nil && ew.err == nil {
		// Not the writer's fault: the record or the files no longer agree.
		err = fmt.Errorf("replay the imported tar: %w: %w", errdefs.ErrDataLoss, err)
	}
	return err
}

// replay writes a tar-split record's segments and, for each file entry,
// that many bytes of the file from the layer. It is tar-split's assembler
// less the per-file CRC-64, which hull does not record.
func replay(files layerFiles, up storage.Unpacker, w io.Writer) error {
	buf := make([]byte, 1<<20)
	for {
		e, err := up.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", tarSplitFile, err)
		}
		switch e.Type {
		case storage.SegmentType:
			if _, err := w.Write(e.Payload); err != nil {
				return err
			}
		case storage.FileType:
			if e.Size == 0 {
				continue
			}
			fr, err := files.Get(e.GetName())
			if err != nil {
				return err
			}
			n, err := io.CopyBuffer(w, io.LimitReader(fr, e.Size), buf)
			fr.Close()
			if err != nil {
				return err
			}
			if n != e.Size {
				return fmt.Errorf("file %q holds %d bytes, the tar had %d", e.GetName(), n, e.Size)
			}
		default:
			return fmt.Errorf("%s: unknown entry type %d", tarSplitFile, e.Type)
		}
	}
}

// errWriter remembers whether its writer failed.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
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
