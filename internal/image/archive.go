package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// Limits on how an archive read from a stream is held until its layers
// can be applied in order. Small files (configs, manifests) stay in
// memory; layer tars stay in memory up to memSpoolLimit in all, and go to
// a spool file under the store's tmp folder beyond that. Memory is
// preferred because the layer store syncs the whole file system after each
// layer, which would write a spool file out to disk for nothing.
const (
	smallEntryMax   = 1 << 20
	smallTotalMax   = 64 << 20
	memSpoolLimit   = 1 << 30
	spoolChunkSize  = 4 << 20
	maxLinkHops     = 16
	archiveReadSize = 1 << 20
)

// archive is an image archive (docker-archive or OCI layout tar) read
// once, front to back. Its regular files are held as sections of the
// archive file itself when that file can be read at random, or in memory
// or spool files otherwise; links are followed by name.
type archive struct {
	entries map[string]*entry
	links   map[string]string
	spools  []*os.File
	// partial makes get answer for files not read yet, with a future
	// entry, while a plan is drawn from an archive still streaming in.
	partial bool
}

// directFunc may consume an entry of a streamed archive as it passes
// (applying a layer at once); it reports whether it did.
type directFunc func(a *archive, name string, size int64, r io.Reader) (bool, error)

// entry is one regular file of an archive.
type entry struct {
	// size is -1 for a future entry (see archive.partial).
	size int64
	// consumed: the entry was used as it streamed past and is gone.
	consumed bool
	data     []byte   // small files
	chunks   [][]byte // layer tars spooled in memory
	f        *os.File // the archive itself, or a spool file
	off      int64
}

// reader returns the entry's content from the start; entries can be read
// any number of times.
func (e *entry) reader() io.Reader {
	switch {
	case e.consumed || e.size < 0:
		return errReader{fmt.Errorf("archive file was not kept: %w", errdefs.ErrInvalidArgument)}
	case e.data != nil:
		return bytes.NewReader(e.data)
	case e.chunks != nil:
		rs := make([]io.Reader, len(e.chunks))
		for i, c := range e.chunks {
			rs[i] = bytes.NewReader(c)
		}
		return io.MultiReader(rs...)
	case e.f != nil:
		return io.NewSectionReader(e.f, e.off, e.size)
	}
	return bytes.NewReader(nil)
}

// readArchive reads the tar r. If r is a regular file at the start of the
// tar, entries are found by seeking past their data and read later in
// place; otherwise r is read through and its entries kept as described at
// smallEntryMax. The archive may be compressed (gzip, zstd, bzip2), as
// docker load accepts it. Input that is not a tar fails with
// errdefs.ErrInvalidArgument. Call close when done.
//
// direct, when set, is offered each file of a streamed archive before it
// is kept.
func readArchive(ctx context.Context, r io.Reader, spoolDir string, direct directFunc) (_ *archive, rerr error) {
	a := &archive{entries: map[string]*entry{}, links: map[string]string{}}
	defer func() {
		if rerr != nil {
			a.close()
		}
	}()
	if f, ok := r.(*os.File); ok && isSeekableFile(f) {
		compressed, err := fileIsCompressed(f)
		if err != nil {
			return nil, err
		}
		if !compressed {
			return a, a.index(ctx, f)
		}
	}
	br := bufio.NewReaderSize(ctxReader{ctx, r}, archiveReadSize)
	tr, err := decompress(br)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	return a, a.spool(ctx, tr, spoolDir, direct)
}

func isSeekableFile(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	_, err = f.Seek(0, io.SeekCurrent)
	return err == nil
}

// fileIsCompressed peeks at f's first bytes without moving its offset.
func fileIsCompressed(f *os.File) (bool, error) {
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return false, err
	}
	magic := make([]byte, 6)
	n, err := f.ReadAt(magic, pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read archive: %w", err)
	}
	return isCompressed(magic[:n]), nil
}

// cleanName is the key an archive path is kept under: no leading "./"
// or "/", no "..".
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// index walks the tar in f, seeking over file data.
func (a *archive) index(ctx context.Context, f *os.File) error {
	tr := tar.NewReader(f)
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return notTar(err, n)
		}
		n++
		if !a.addHeader(hdr) {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if hdr.Size <= smallEntryMax {
			b, err := io.ReadAll(tr)
			if err != nil {
				return notTar(err, n)
			}
			a.entries[cleanName(hdr.Name)] = &entry{size: hdr.Size, data: b}
			continue
		}
		a.entries[cleanName(hdr.Name)] = &entry{size: hdr.Size, f: f, off: off}
	}
	return a.checkNotEmpty(n)
}

// spool reads the tar stream r through, keeping its files.
func (a *archive) spool(ctx context.Context, r io.Reader, spoolDir string, direct directFunc) error {
	tr := tar.NewReader(r)
	var small, mem int64
	n := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return notTar(err, n)
		}
		n++
		if !a.addHeader(hdr) {
			continue
		}
		name := cleanName(hdr.Name)
		if direct != nil {
			done, err := direct(a, name, hdr.Size, tr)
			if err != nil {
				return err
			}
			if done {
				// Whatever the consumer left of the entry is skipped by Next.
				a.entries[name] = &entry{size: hdr.Size, consumed: true}
				continue
			}
		}
		switch {
		case hdr.Size <= smallEntryMax && small+hdr.Size <= smallTotalMax:
			b, err := io.ReadAll(tr)
			if err != nil {
				return notTar(err, n)
			}
			small += hdr.Size
			a.entries[name] = &entry{size: hdr.Size, data: b}
		case mem+hdr.Size <= memSpoolLimit:
			chunks, err := readChunks(tr, hdr.Size)
			if err != nil {
				return notTar(err, n)
			}
			mem += hdr.Size
			a.entries[name] = &entry{size: hdr.Size, chunks: chunks}
		default:
			f, err := os.CreateTemp(spoolDir, "load-")
			if err != nil {
				return fmt.Errorf("spool archive entry %s: %w", name, err)
			}
			// The name goes at once where the system allows it: the open
			// file is all that is needed, and a crash leaves nothing.
			// Elsewhere close removes it, or the next start does.
			_ = os.Remove(f.Name())
			a.spools = append(a.spools, f)
			if _, err := io.Copy(f, tr); err != nil {
				return fmt.Errorf("spool archive entry %s: %w", name, notTar(err, n))
			}
			a.entries[name] = &entry{size: hdr.Size, f: f}
		}
	}
	return a.checkNotEmpty(n)
}

func readChunks(r io.Reader, size int64) ([][]byte, error) {
	var chunks [][]byte
	for size > 0 {
		c := make([]byte, min(size, spoolChunkSize))
		if _, err := io.ReadFull(r, c); err != nil {
			return nil, err
		}
		chunks = append(chunks, c)
		size -= int64(len(c))
	}
	return chunks, nil
}

// addHeader notes links and reports whether hdr is a regular file whose
// data should be kept.
func (a *archive) addHeader(hdr *tar.Header) bool {
	name := cleanName(hdr.Name)
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		return true
	case tar.TypeSymlink:
		// Older docker save links a layer.tar seen before.
		target := hdr.Linkname
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(name), target)
		}
		a.links[name] = cleanName(target)
	case tar.TypeLink:
		a.links[name] = cleanName(hdr.Linkname)
	}
	return false
}

func (a *archive) checkNotEmpty(n int) error {
	if n == 0 {
		return fmt.Errorf("read archive: empty archive: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// notTar classifies an error reading the tar: damaged or foreign input is
// the caller's.
func notTar(err error, entries int) error {
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrInsecurePath) ||
		errors.Is(err, tar.ErrFieldTooLong) {
		if entries == 0 {
			return fmt.Errorf("read archive: not a tar archive: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("read archive: damaged tar after %d entries: %w: %w", entries, err, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("read archive: %w", err)
}

// get returns file name, following links.
func (a *archive) get(name string) (*entry, bool) {
	name = cleanName(name)
	for range maxLinkHops {
		if e, ok := a.entries[name]; ok {
			return e, true
		}
		t, ok := a.links[name]
		if !ok {
			if a.partial {
				return &entry{size: -1}, true
			}
			return nil, false
		}
		name = t
	}
	return nil, false
}

// readSmall returns the content of file name, which must be at most max
// bytes.
func (a *archive) readSmall(name string, max int64) ([]byte, error) {
	e, ok := a.get(name)
	if !ok {
		return nil, fmt.Errorf("archive has no file %s: %w", name, errdefs.ErrInvalidArgument)
	}
	if e.size < 0 {
		return nil, fmt.Errorf("archive file %s has not come yet: %w", name, errdefs.ErrInvalidArgument)
	}
	if e.size > max {
		return nil, fmt.Errorf("archive file %s is %d bytes, more than the %d allowed: %w", name, e.size, max, errdefs.ErrInvalidArgument)
	}
	if e.data != nil {
		return e.data, nil
	}
	return io.ReadAll(e.reader())
}

func (a *archive) close() {
	for _, f := range a.spools {
		f.Close()
		_ = os.Remove(f.Name())
	}
	a.spools = nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
