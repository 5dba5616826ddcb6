package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// Content is a content store: blobs kept under their sha256 digest in
// <root>/blobs/sha256/<hex>. A blob is written to <root>/ingest first,
// hashed while it streams, and renamed into place only once its digest and
// size are what the writer said; so a blob that exists is whole and true.
type Content struct {
	root string
}

func newContent(root string) (*Content, error) {
	c := &Content{root: root}
	for _, d := range []string{c.blobDir(), c.ingestDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open content store: %w", err)
		}
	}
	return c, nil
}

func (c *Content) blobDir() string   { return filepath.Join(c.root, "blobs", "sha256") }
func (c *Content) ingestDir() string { return filepath.Join(c.root, "ingest") }

// Path returns the file that holds blob dgst (which need not exist).
// Preconditions: dgst is valid (see ValidateDigest).
func (c *Content) Path(dgst string) string { return filepath.Join(c.blobDir(), hexOf(dgst)) }

// ValidateDigest checks that d is a sha256 digest in canonical form,
// "sha256:" and 64 lower-case hex digits, failing with
// errdefs.ErrInvalidArgument.
func ValidateDigest(d string) error {
	alg, h, ok := strings.Cut(d, ":")
	if !ok || alg != "sha256" {
		return fmt.Errorf("digest %q: want sha256:<64 hex digits>: %w", d, errdefs.ErrInvalidArgument)
	}
	if len(h) != 64 || !isHex(h) {
		return fmt.Errorf("digest %q: want 64 lower-case hex digits: %w", d, errdefs.ErrInvalidArgument)
	}
	return nil
}

// digestOf returns the sha256 digest of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Ingest stores the blob r yields, which must have digest expected and,
// unless size is negative, size bytes. The blob is hashed while it is
// written; one that lies about its digest or size is refused with
// errdefs.ErrDataLoss and nothing of it is kept. A blob already stored is
// not read again. The blob is on stable storage when Ingest returns.
func (c *Content) Ingest(ctx context.Context, expected string, size int64, r io.Reader) error {
	if err := ValidateDigest(expected); err != nil {
		return err
	}
	if _, err := os.Stat(c.Path(expected)); err == nil {
		return nil
	}
	f, err := os.CreateTemp(c.ingestDir(), "ingest-")
	if err != nil {
		return fmt.Errorf("ingest blob %s: %w", expected, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	src := r
	if size >= 0 {
		// Read one byte past the size, so that a longer blob is caught.
		src = io.LimitReader(r, size+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, src})
	if err != nil {
		return fmt.Errorf("ingest blob %s: %w", expected, err)
	}
	if size >= 0 && n != size {
		more := ""
		if n > size {
			more = " or more"
		}
		return fmt.Errorf("ingest blob %s: got %d%s bytes, want %d: %w", expected, n, more, size, errdefs.ErrDataLoss)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != expected {
		return fmt.Errorf("ingest blob %s: content has digest %s: %w", expected, got, errdefs.ErrDataLoss)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ingest blob %s: %w", expected, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ingest blob %s: %w", expected, err)
	}
	crashpoint.At("ingest: a blob is written, not stored")
	if err := os.Rename(tmp, c.Path(expected)); err != nil {
		return fmt.Errorf("ingest blob %s: %w", expected, err)
	}
	done = true
	if err := syncDir(c.blobDir()); err != nil {
		return fmt.Errorf("ingest blob %s: %w", expected, err)
	}
	return nil
}

// IngestBytes stores b as a blob and returns its digest.
func (c *Content) IngestBytes(ctx context.Context, b []byte) (string, error) {
	d := digestOf(b)
	return d, c.Ingest(ctx, d, int64(len(b)), bytes.NewReader(b))
}

// Open opens blob dgst for reading.
func (c *Content) Open(ctx context.Context, dgst string) (*os.File, error) {
	if err := ValidateDigest(dgst); err != nil {
		return nil, err
	}
	f, err := os.Open(c.Path(dgst))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("open blob %s: %w", dgst, err)
	}
	return f, nil
}

// ReadAll returns the content of blob dgst, checking it against its
// digest (errdefs.ErrDataLoss when the file was damaged). It is meant for
// small blobs: configs and manifests.
func (c *Content) ReadAll(ctx context.Context, dgst string) ([]byte, error) {
	f, err := c.Open(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", dgst, err)
	}
	if got := digestOf(b); got != dgst {
		return nil, fmt.Errorf("blob %s: stored content has digest %s: %w", dgst, got, errdefs.ErrDataLoss)
	}
	return b, nil
}

// Size returns the size of blob dgst, failing with errdefs.ErrNotFound
// when it is not stored.
func (c *Content) Size(ctx context.Context, dgst string) (int64, error) {
	if err := ValidateDigest(dgst); err != nil {
		return 0, err
	}
	fi, err := os.Stat(c.Path(dgst))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
		}
		return 0, fmt.Errorf("stat blob %s: %w", dgst, err)
	}
	return fi.Size(), nil
}

// Has reports whether blob dgst is stored.
func (c *Content) Has(ctx context.Context, dgst string) bool {
	_, err := c.Size(ctx, dgst)
	return err == nil
}

// Delete removes blob dgst; removing a blob that is not there does nothing.
func (c *Content) Delete(ctx context.Context, dgst string) error {
	if err := ValidateDigest(dgst); err != nil {
		return err
	}
	if err := os.Remove(c.Path(dgst)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", dgst, err)
	}
	return nil
}

// Walk calls fn for every stored blob with its digest and size. Files in
// the blob folder that are not named as a digest are skipped.
func (c *Content) Walk(ctx context.Context, fn func(dgst string, size int64) error) error {
	ents, err := os.ReadDir(c.blobDir())
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	for _, e := range ents {
		if len(e.Name()) != 64 || !isHex(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		if err := fn("sha256:"+e.Name(), fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
