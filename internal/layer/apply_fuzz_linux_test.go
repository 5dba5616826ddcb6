package layer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fuzzApplyMaxBytes is the byte limit of the fuzzed applies.
const fuzzApplyMaxBytes = 1 << 20

// fuzzApplyDir is where each fuzzed apply runs: an empty folder of the
// host on which every run mounts a fresh tmpfs of its own, in its own
// mount namespace. The path is fixed so that seeds can aim absolute links
// at the sentinel and the outside folder.
func fuzzApplyDir() string { return filepath.Join(os.TempDir(), "hull-applytar-fuzz") }

// FuzzApplyTar applies arbitrary tars and checks that nothing outside the
// layer root changes and that applyTar never panics. Each run is in the
// sandbox (everything read-only but a tmpfs), so a tar that escapes fails
// with EROFS instead of writing to the host, and is reported. Header
// checksums are fixed before the apply, so that mutations reach the
// applier instead of stopping at archive/tar's checksum.
func FuzzApplyTar(f *testing.F) {
	applyRequireRoot(f)
	if !applySandboxWorks() {
		f.Skip("the fuzz target runs only in its sandbox, which needs a mount namespace")
	}
	dir := fuzzApplyDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	e := applyEnvAt(dir)
	for _, tc := range hostileCases() {
		if tc.gzip || tc.host {
			continue
		}
		if b := tc.tar(f, e); len(b) <= 64<<10 {
			f.Add(b)
		}
	}
	f.Add(mkTar(f, teDir("d/"), teFile("d/f", "hello"), teSymlink("d/l", "/"), teHardlink("h", "d/f"),
		teEmpty("d/.wh.x"), teEmpty("e/.wh..wh..opq"), teSymlink("up", "../../../.."), teFile("up/evil", "x")))
	f.Add(mkTar(f, teSymlink("l", e.sentinel), teFile("l", "x"), teHardlink("h", e.sentinel), teSymlink("o", e.outside),
		teFile("o/keep", "x"), teEmpty("o/.wh.keep"), teDir("o/")))

	f.Fuzz(func(t *testing.T, b []byte) {
		b = fixTarChecksums(bytes.Clone(b))
		err := runApplySandboxed(dir, true, func() error { return fuzzApplyOnce(dir, b) })
		if err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzApplyOnce applies b in a fresh applyEnv in dir (a tmpfs of the
// sandbox) and returns what went wrong, if anything did.
func fuzzApplyOnce(dir string, b []byte) error {
	e, err := makeApplyEnv(dir)
	if err != nil {
		return fmt.Errorf("make the folders: %w", err)
	}
	res, err := applyTar(context.Background(), e.root, bytes.NewReader(b), ApplyOptions{MaxBytes: fuzzApplyMaxBytes})
	var problems []string
	if errors.Is(err, unix.EROFS) {
		problems = append(problems, fmt.Sprintf("apply wrote outside its folder: %v", err))
	}
	if res.Size > fuzzApplyMaxBytes {
		problems = append(problems, fmt.Sprintf("apply wrote %d bytes, over the limit of %d", res.Size, fuzzApplyMaxBytes))
	}
	changes, serr := e.outsideChanges()
	if serr != nil {
		return fmt.Errorf("look outside the layer root: %w", serr)
	}
	problems = append(problems, changes...)
	if len(problems) > 0 {
		return fmt.Errorf("apply (error %v):\n%s", err, strings.Join(problems, "\n"))
	}
	return nil
}

// fixTarChecksums walks b as archive/tar would (a header, then its
// content rounded up to blocks, none for the header-only types) and
// writes the right checksum into every header it meets.
func fixTarChecksums(b []byte) []byte {
	for off := 0; off+512 <= len(b); {
		h := b[off : off+512]
		if bytes.Equal(h, make([]byte, 512)) {
			off += 512
			continue
		}
		copy(h[148:156], "        ")
		var sum int64
		for _, c := range h {
			sum += int64(c)
		}
		copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
		size := tarHeaderSize(h[124:136])
		switch h[156] {
		case '1', '2', '3', '4', '5', '6':
			size = 0
		}
		if size < 0 || size > int64(len(b)) {
			break
		}
		off += 512 + int((size+511)&^511)
	}
	return b
}

// tarHeaderSize reads a numeric field loosely: octal, or base 256.
func tarHeaderSize(f []byte) int64 {
	if len(f) > 0 && f[0]&0x80 != 0 {
		var n int64
		for _, c := range f[1:] {
			if n > 1<<50 {
				return -1
			}
			n = n<<8 | int64(c)
		}
		return n
	}
	var n int64
	for _, c := range f {
		if c >= '0' && c <= '7' {
			n = n*8 + int64(c-'0')
			if n > 1<<50 {
				return -1
			}
		} else if c == 0 || c == ' ' {
			if n > 0 {
				break
			}
		}
	}
	return n
}
