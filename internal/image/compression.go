package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/hullproject/hull/internal/errdefs"
)

// The first bytes of each compressed format dockerd accepts.
var (
	magicGzip  = []byte{0x1f, 0x8b, 0x08}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte("\xfd7zXZ\x00")
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// isCompressed tells whether head, a stream's first bytes, starts a
// compressed format Decompress reads.
func isCompressed(head []byte) bool {
	for _, m := range [][]byte{magicGzip, magicBzip2, magicXz, magicZstd} {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}

// Decompress returns the stream inside r, told apart by its first bytes
// as dockerd does: gzip, bzip2, xz or zstd compressed, or plain (passed
// through without a copy). Input that claims a format and is not in it
// fails, on the first read at the latest, with errdefs.ErrInvalidArgument.
// Decompressing is not bounded here: the tar reader that consumes the
// result bounds what it writes (layer.ApplyOptions.MaxBytes).
func Decompress(r io.Reader) (io.ReadCloser, error) {
	var head [6]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read the stream: %w", err)
	}
	magic := head[:n]
	all := io.MultiReader(bytes.NewReader(magic), r)
	switch {
	case bytes.HasPrefix(magic, magicGzip):
		zr, err := gzip.NewReader(bufio.NewReaderSize(all, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("read gzip stream: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return invalidOnError{zr}, nil
	case bytes.HasPrefix(magic, magicZstd):
		zr, err := zstd.NewReader(all)
		if err != nil {
			return nil, fmt.Errorf("read zstd stream: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return invalidOnError{zr.IOReadCloser()}, nil
	case bytes.HasPrefix(magic, magicBzip2):
		return invalidOnError{io.NopCloser(bzip2.NewReader(bufio.NewReaderSize(all, 1<<16)))}, nil
	case bytes.HasPrefix(magic, magicXz):
		xr, err := xz.NewReader(bufio.NewReaderSize(all, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("read xz stream: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return invalidOnError{io.NopCloser(xr)}, nil
	}
	return io.NopCloser(all), nil
}

// decompress is Decompress, as the package's readers call it.
func decompress(r io.Reader) (io.ReadCloser, error) { return Decompress(r) }

// invalidOnError classifies what a decompressor says of corrupt input as
// the client's error; an error of the underlying reader (a cancelled
// request) keeps its kind.
type invalidOnError struct{ io.ReadCloser }

func (r invalidOnError) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	if err != nil && err != io.EOF && !isClassified(err) {
		err = fmt.Errorf("decompress: %w: %w: %w", err, errCorrupt, errdefs.ErrInvalidArgument)
	}
	return n, err
}

// errCorrupt marks what a decompressor said of its input.
var errCorrupt = errors.New("corrupt compressed stream")

// IsCorrupt tells whether err comes from reading a tar that is not one: a
// truncated or malformed tar, or a compressed stream that does not
// decompress.
func IsCorrupt(err error) bool {
	return errors.Is(err, errCorrupt) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) ||
		errors.Is(err, tar.ErrFieldTooLong)
}

// isClassified tells whether err already has an errdefs kind (or is the
// context's), so wrapping it would hide that.
func isClassified(err error) bool {
	for _, k := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrConflict, errdefs.ErrUnavailable,
		errdefs.ErrDataLoss, errdefs.ErrLimit, errdefs.ErrUnauthorized, errdefs.ErrNotImplemented} {
		if errors.Is(err, k) {
			return true
		}
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
