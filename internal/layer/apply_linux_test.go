package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyRequireRoot skips t unless it runs as root: applying a layer sets
// owners, makes whiteouts (character devices) and trusted xattrs.
func applyRequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("applying a layer needs root (owners, whiteout devices, trusted xattrs); run the tests as root")
	}
}

var applyMtime = time.Unix(1600000000, 0)

// tarEnt is one entry of a tar built by a test.
type tarEnt struct {
	hdr  tar.Header
	body string
}

func teFile(name, body string) tarEnt {
	return tarEnt{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: applyMtime}, body: body}
}

func teDir(name string) tarEnt {
	return tarEnt{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: applyMtime}}
}

func teSymlink(name, target string) tarEnt {
	return tarEnt{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: applyMtime}}
}

func teHardlink(name, target string) tarEnt {
	return tarEnt{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644, ModTime: applyMtime}}
}

func teDevice(name string, typ byte, major, minor int64) tarEnt {
	return tarEnt{hdr: tar.Header{Name: name, Typeflag: typ, Mode: 0o666, Devmajor: major, Devminor: minor, ModTime: applyMtime}}
}

// teEmpty is an empty regular file: whiteouts are written so.
func teEmpty(name string) tarEnt { return teFile(name, "") }

func mkTar(t testing.TB, ents ...tarEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write tar header %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("write tar entry %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawTarHeader makes a tar header block by hand, for what archive/tar
// will not write (sparse files, NUL bytes in names). size goes in base
// 256 when octal cannot hold it.
func rawTarHeader(name string, typ byte, size int64, gnu bool) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	putTarNumber(b[124:136], size)
	putTarNumber(b[136:148], applyMtime.Unix())
	b[156] = typ
	if gnu {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:265], "ustar\x0000")
	}
	return b
}

func putTarNumber(field []byte, n int64) {
	if n < 1<<(3*(len(field)-1)) {
		copy(field, fmt.Sprintf("%0*o\x00", len(field)-1, n))
		return
	}
	clear(field)
	field[0] = 0x80
	binary.BigEndian.PutUint64(field[len(field)-8:], uint64(n))
}

func finishRawHeader(b []byte) []byte {
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func padBlock(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

func paxRecord(k, v string) string {
	rec := " " + k + "=" + v + "\n"
	n := len(rec)
	for {
		s := strconv.Itoa(n) + rec
		if len(s) == n {
			return s
		}
		n = len(s)
	}
}

// paxSparseTar is a tar with one PAX GNU sparse 1.0 file, name, of
// realSize bytes: data bytes at offset 0 and a hole after.
func paxSparseTar(name string, realSize int64, data []byte) []byte {
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.FormatInt(realSize, 10))
	var out []byte
	out = append(out, finishRawHeader(rawTarHeader("PaxHeaders/"+name, tar.TypeXHeader, int64(len(recs)), false))...)
	out = append(out, padBlock([]byte(recs))...)
	spmap := padBlock([]byte(fmt.Sprintf("1\n0\n%d\n", len(data))))
	out = append(out, finishRawHeader(rawTarHeader("GNUSparseFile.0/"+name, tar.TypeReg, int64(len(spmap)+len(data)), false))...)
	out = append(out, spmap...)
	out = append(out, padBlock(slices.Clone(data))...)
	return append(out, make([]byte, 1024)...)
}

// oldGNUSparseTar is a tar with one old GNU sparse ('S') file.
func oldGNUSparseTar(name string, realSize int64, data []byte) []byte {
	h := rawTarHeader(name, tar.TypeGNUSparse, int64(len(data)), true)
	putTarNumber(h[386:398], 0)
	putTarNumber(h[398:410], int64(len(data)))
	putTarNumber(h[483:495], realSize)
	out := append(finishRawHeader(h), padBlock(slices.Clone(data))...)
	return append(out, make([]byte, 1024)...)
}

// applyEnv is the folder a hostile tar is applied in: base holds root
// (where the tar goes), a sentinel file and an outside folder, and
// nothing outside root may change. base lies three folders below top, so
// that links climbing a few levels out of root still land in top, which
// is watched as a whole.
type applyEnv struct {
	top, base, root, sentinel, outside string
	snap                               map[string]string
}

func newApplyEnv(t testing.TB, top string) *applyEnv {
	t.Helper()
	e, err := makeApplyEnv(top)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// applyEnvAt names the folders of an applyEnv in top, without making them.
func applyEnvAt(top string) *applyEnv {
	base := filepath.Join(top, "l1", "l2", "base")
	return &applyEnv{
		top:      top,
		base:     base,
		root:     filepath.Join(base, "root"),
		sentinel: filepath.Join(base, "sentinel"),
		outside:  filepath.Join(base, "outside"),
	}
}

// makeApplyEnv makes an applyEnv in top and takes its snapshot. It
// returns errors rather than failing a test, so that it can run in the
// sandbox's goroutine.
func makeApplyEnv(top string) (*applyEnv, error) {
	e := applyEnvAt(top)
	if err := os.MkdirAll(e.base, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{e.root, e.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(e.sentinel, []byte("sentinel\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(e.outside, "keep"), []byte("keep\n"), 0o644); err != nil {
		return nil, err
	}
	old := time.Unix(1000000000, 0)
	for _, p := range []string{e.sentinel, filepath.Join(e.outside, "keep"), e.outside, e.base, filepath.Dir(e.base)} {
		if err := os.Chtimes(p, old, old); err != nil {
			return nil, err
		}
	}
	var err error
	e.snap, err = snapshotOutside(e)
	return e, err
}

// snapshotOutside describes everything in top but root's contents:
// names, types, modes, owners, mtimes, link counts and file contents.
func snapshotOutside(e *applyEnv) (map[string]string, error) {
	m := map[string]string{}
	err := filepath.WalkDir(e.top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d nlink=%d size=%d mtime=%d.%d",
			st.Mode, st.Uid, st.Gid, st.Nlink, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256=%x", sha256.Sum256(b))
		}
		switch p {
		case e.root:
			m[p] = "the layer root" // its mtime and contents may change
			return filepath.SkipDir
		case e.top:
			m[p] = "the test's folder" // the test may add to it
			return nil
		}
		m[p] = desc
		return nil
	})
	return m, err
}

// outsideChanges lists what changed outside root since the snapshot.
func (e *applyEnv) outsideChanges() ([]string, error) {
	now, err := snapshotOutside(e)
	if err != nil {
		return nil, err
	}
	var out []string
	for p, was := range e.snap {
		if is, ok := now[p]; !ok {
			out = append(out, fmt.Sprintf("outside the layer root, %s is gone (was %s)", p, was))
		} else if is != was {
			out = append(out, fmt.Sprintf("outside the layer root, %s changed: was %s, is %s", p, was, is))
		}
	}
	for p, is := range now {
		if _, ok := e.snap[p]; !ok {
			out = append(out, fmt.Sprintf("outside the layer root, %s appeared: %s", p, is))
		}
	}
	if st, err := os.Lstat(e.root); err != nil || !st.IsDir() {
		out = append(out, fmt.Sprintf("the layer root is no longer a directory (%v)", err))
	}
	slices.Sort(out)
	return out, nil
}

// checkOutside fails t if anything outside root changed.
func (e *applyEnv) checkOutside(t testing.TB) {
	t.Helper()
	changes, err := e.outsideChanges()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		t.Error(c)
	}
}

// in returns the host path of rel inside root.
func (e *applyEnv) in(rel string) string { return filepath.Join(e.root, rel) }

func applyBytes(t testing.TB, e *applyEnv, b []byte, max int64) (ApplyResult, error) {
	t.Helper()
	return applyTar(context.Background(), e.root, bytes.NewReader(b), ApplyOptions{MaxBytes: max})
}

func wantContent(t testing.TB, p, want string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Errorf("want a file at %s: %v", p, err)
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("%s has mode %o, want a regular file", p, st.Mode)
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
		return
	}
	if string(b) != want {
		t.Errorf("%s holds %q, want %q", p, b, want)
	}
}

func wantType(t testing.TB, p string, typ uint32) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Errorf("want %s to exist: %v", p, err)
		return nil
	}
	if st.Mode&unix.S_IFMT != typ {
		t.Errorf("%s has mode %o, want type %o", p, st.Mode, typ)
	}
	return &st
}

func wantMissing(t testing.TB, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("want %s not to exist, lstat says %v", p, err)
	}
}

func wantWhiteout(t testing.TB, p string) {
	t.Helper()
	st := wantType(t, p, unix.S_IFCHR)
	if st != nil && st.Rdev != 0 {
		t.Errorf("%s is device %d, want whiteout 0/0", p, st.Rdev)
	}
}

func isOpaqueDir(t testing.TB, p string) bool {
	t.Helper()
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(p, opaqueXattr, buf)
	if errors.Is(err, unix.ENODATA) {
		return false
	}
	if err != nil {
		t.Fatalf("read %s of %s: %v", opaqueXattr, p, err)
	}
	return string(buf[:n]) == "y"
}

func wantSkipped(t testing.TB, res ApplyResult, substr string) {
	t.Helper()
	for _, s := range res.Skipped {
		if strings.Contains(s, substr) {
			return
		}
	}
	t.Errorf("Skipped = %q, want an entry with %q", res.Skipped, substr)
}

func wantEmptyRoot(t testing.TB, e *applyEnv) {
	t.Helper()
	ents, err := os.ReadDir(e.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("root holds %v, want nothing written", ents)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipBombTar is a gzipped tar of one entry of n zero bytes.
func gzipBombTar(t testing.TB, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: n, ModTime: applyMtime}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(zeros)) {
		if _, err := tw.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugeHeaderTar is a tar whose one entry claims size bytes and holds none.
func hugeHeaderTar(t testing.TB, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: applyMtime}); err != nil {
		t.Fatal(err)
	}
	// Not closed: the content is missing, as a lying header would have it.
	return buf.Bytes()
}

type hostileCase struct {
	name string
	// host says the tar aims at files of the host outside the test's
	// folder (/etc); it runs only in the sandbox, where they are read-only.
	host bool
	tar  func(t testing.TB, e *applyEnv) []byte
	// gzip says the tar bytes are gzipped and are read through gzip.
	gzip bool
	max  int64
	// wantErr is the errdefs kind the apply must fail with; nil means the
	// tar is applied and neutralised (check says where things landed).
	wantErr error
	check   func(t *testing.T, e *applyEnv, res ApplyResult)
}

func tarOf(ents ...tarEnt) func(testing.TB, *applyEnv) []byte {
	return func(t testing.TB, _ *applyEnv) []byte { return mkTar(t, ents...) }
}

// hostileCases are the hostile tars, each rejected or neutralised.
func hostileCases() []hostileCase {
	const big = 1 << 40 // 1 TiB
	return []hostileCase{
		// Names that climb out.
		{name: "dotdot name", tar: tarOf(teFile("../evil", "x")), wantErr: errdefs.ErrInvalidArgument,
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "dotdot deep name", tar: tarOf(teFile("a/../../evil", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "dotdot after good entries", tar: tarOf(teDir("a/"), teFile("a/ok", "ok"), teFile("a/b/../../../sentinel", "x")),
			wantErr: errdefs.ErrInvalidArgument},
		{name: "dotdot dir", tar: tarOf(teDir("../outside/evil/")), wantErr: errdefs.ErrInvalidArgument},
		{name: "absolute name", host: true, tar: tarOf(teFile("/etc/hull-apply-test-evil", "x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantContent(t, e.in("etc/hull-apply-test-evil"), "x")
				wantMissing(t, "/etc/hull-apply-test-evil")
			}},
		{name: "absolute name at outside", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teFile(e.outside+"/evil", "x"), teFile(e.sentinel, "x"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			wantContent(t, e.in(e.outside+"/evil"), "x")
			wantContent(t, e.in(e.sentinel), "x")
		}},
		{name: "dot slash dotdot name", tar: tarOf(teFile("./../sentinel", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "root slash dotdot name is inside", tar: tarOf(teFile("/../evil", "x")), wantErr: errdefs.ErrInvalidArgument},

		// Symbolic link, then a write through it.
		{name: "symlink to absolute outside then write", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.outside), teFile("l/evil", "x"))
		}, wantErr: errdefs.ErrInvalidArgument, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			wantType(t, e.in("l"), unix.S_IFLNK)
		}},
		{name: "symlink to absolute outside that exists inside then write", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teDir(e.outside+"/"), teSymlink("l", e.outside), teFile("l/evil", "x"), teFile("l/keep", "x"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			wantContent(t, e.in(e.outside+"/evil"), "x")
			wantContent(t, e.in(e.outside+"/keep"), "x")
			if got, _ := os.Readlink(e.in("l")); got != e.outside {
				t.Errorf("link text %q, want %q kept verbatim", got, e.outside)
			}
		}},
		{name: "symlink to /etc then write passwd", host: true, tar: tarOf(teDir("etc/"), teSymlink("a", "/etc"), teFile("a/passwd", "evil::0:0::/:/bin/sh\n")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantContent(t, e.in("etc/passwd"), "evil::0:0::/:/bin/sh\n")
			}},
		{name: "symlink to / then write", host: true, tar: tarOf(teSymlink("r", "/"), teFile("r/hull-apply-test-evil", "x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantContent(t, e.in("hull-apply-test-evil"), "x")
				wantMissing(t, "/hull-apply-test-evil")
			}},
		{name: "chain of links climbing", tar: tarOf(teSymlink("a", "b"), teSymlink("b", "../../.."), teFile("a/evil", "x"), teFile("b/sentinel", "x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantContent(t, e.in("evil"), "x")
				wantContent(t, e.in("sentinel"), "x")
			}},
		{name: "relative link to outside, dangling inside", tar: tarOf(teSymlink("l", "../outside"), teFile("l/evil", "x")),
			wantErr: errdefs.ErrInvalidArgument},
		{name: "relative link to outside", tar: tarOf(teDir("outside/"), teSymlink("l", "../outside"), teFile("l/evil", "x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("outside/evil"), "x") }},
		{name: "link in subdir climbing", tar: tarOf(teDir("d/"), teSymlink("d/up", "../../../../"), teDir("d/up/d2/"), teFile("d/up/d2/evil", "x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("d2/evil"), "x") }},
		{name: "symlink loop", tar: tarOf(teSymlink("a", "b"), teSymlink("b", "a"), teFile("a/x", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "magic link", host: true, tar: tarOf(teSymlink("p", "/proc/self/root"), teFile("p/hull-apply-test-evil", "x")),
			wantErr: errdefs.ErrInvalidArgument,
			check:   func(t *testing.T, e *applyEnv, _ ApplyResult) { wantMissing(t, "/hull-apply-test-evil") }},
		{name: "magic link to outside", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("p", "/proc/self/root"+e.outside), teFile("p/evil", "x"))
		}, wantErr: errdefs.ErrInvalidArgument},
		{name: "write under a file", tar: tarOf(teFile("f", "x"), teFile("f/x", "x")), wantErr: errdefs.ErrInvalidArgument},

		// Hard links.
		{name: "hardlink dotdot", tar: tarOf(teHardlink("h", "../sentinel")), wantErr: errdefs.ErrInvalidArgument,
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantMissing(t, e.in("h")) }},
		{name: "hardlink deep dotdot", tar: tarOf(teDir("a/"), teHardlink("h", "a/../../sentinel")), wantErr: errdefs.ErrInvalidArgument},
		{name: "hardlink absolute to sentinel", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teHardlink("h", e.sentinel))
		}, wantErr: errdefs.ErrInvalidArgument, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantMissing(t, e.in("h")) }},
		{name: "hardlink through symlinked dir", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.base), teHardlink("h", "l/sentinel"))
		}, wantErr: errdefs.ErrInvalidArgument},
		{name: "hardlink through relative symlinked dir", tar: tarOf(teSymlink("l", ".."), teHardlink("h", "l/sentinel")),
			wantErr: errdefs.ErrInvalidArgument},
		{name: "hardlink through symlinked dir lands inside", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teFile(e.sentinel, "inside"), teSymlink("l", e.base), teHardlink("h", "l/sentinel"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			wantContent(t, e.in("h"), "inside")
			a, b := wantType(t, e.in("h"), unix.S_IFREG), wantType(t, e.in(e.sentinel), unix.S_IFREG)
			if a != nil && b != nil && a.Ino != b.Ino {
				t.Errorf("h is not a hard link of %s", e.in(e.sentinel))
			}
		}},
		{name: "hardlink to a symlink", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("s", e.sentinel), teHardlink("h", "s"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			a, b := wantType(t, e.in("h"), unix.S_IFLNK), wantType(t, e.in("s"), unix.S_IFLNK)
			if a != nil && b != nil && a.Ino != b.Ino {
				t.Error("h is not a hard link of the symbolic link s")
			}
		}},
		{name: "hardlink to a symlink then write it", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("s", e.sentinel), teHardlink("h", "s"), teFile("h", "x"), teFile("s", "y"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			wantContent(t, e.in("h"), "x")
			wantContent(t, e.in("s"), "y")
		}},
		{name: "hardlink to a dir", tar: tarOf(teDir("d/"), teHardlink("h", "d")), wantErr: errdefs.ErrInvalidArgument},
		{name: "hardlink to root", tar: tarOf(teHardlink("h", "./")), wantErr: errdefs.ErrInvalidArgument},
		{name: "hardlink to missing", tar: tarOf(teHardlink("h", "nothere")), wantErr: errdefs.ErrInvalidArgument},
		{name: "hardlink to proc", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teHardlink("h", "/proc/self/root"+e.sentinel))
		}, wantErr: errdefs.ErrInvalidArgument},

		// Whiteouts and opaque markers, in various orders.
		{name: "opaque before children", tar: tarOf(teDir("d/"), teEmpty("d/.wh..wh..opq"), teFile("d/f", "f")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				if !isOpaqueDir(t, e.in("d")) {
					t.Error("d is not opaque")
				}
				wantContent(t, e.in("d/f"), "f")
				wantMissing(t, e.in("d/.wh..wh..opq"))
			}},
		{name: "opaque after children", tar: tarOf(teDir("d/"), teFile("d/f", "f"), teEmpty("d/.wh..wh..opq")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				if !isOpaqueDir(t, e.in("d")) {
					t.Error("d is not opaque")
				}
				wantContent(t, e.in("d/f"), "f")
			}},
		{name: "opaque without its dir entry", tar: tarOf(teEmpty("a/b/.wh..wh..opq")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				if !isOpaqueDir(t, e.in("a/b")) || isOpaqueDir(t, e.in("a")) {
					t.Error("want a/b opaque and a not")
				}
			}},
		{name: "opaque in root", tar: tarOf(teEmpty(".wh..wh..opq"), teFile("f", "f")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				if !isOpaqueDir(t, e.root) {
					t.Error("root is not opaque")
				}
				if isOpaqueDir(t, e.base) {
					t.Error("base was marked opaque")
				}
			}},
		{name: "opaque through symlink", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.outside), teEmpty("l/.wh..wh..opq"))
		}, wantErr: errdefs.ErrInvalidArgument},
		{name: "whiteout", tar: tarOf(teEmpty("a/.wh.b"), teEmpty(".wh.c")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantWhiteout(t, e.in("a/b"))
				wantWhiteout(t, e.in("c"))
				wantType(t, e.in("a"), unix.S_IFDIR)
				wantMissing(t, e.in(".wh.c"))
			}},
		{name: "whiteout then file", tar: tarOf(teEmpty(".wh.x"), teFile("x", "new")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("x"), "new") }},
		{name: "whiteout then dir", tar: tarOf(teEmpty(".wh.x"), teDir("x/"), teFile("x/f", "f")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantType(t, e.in("x"), unix.S_IFDIR)
				if !isOpaqueDir(t, e.in("x")) {
					t.Error("a dir over a whiteout is not opaque")
				}
				wantContent(t, e.in("x/f"), "f")
			}},
		{name: "whiteout then child", tar: tarOf(teEmpty(".wh.x"), teFile("x/f", "f")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				if !isOpaqueDir(t, e.in("x")) {
					t.Error("a dir made over a whiteout is not opaque")
				}
				wantContent(t, e.in("x/f"), "f")
			}},
		{name: "dir then whiteout", tar: tarOf(teDir("x/"), teFile("x/f", "f"), teDir("x/y/"), teEmpty(".wh.x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantWhiteout(t, e.in("x")) }},
		{name: "whiteout of a symlink to outside", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.outside), teEmpty(".wh.l"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantWhiteout(t, e.in("l")) }},
		{name: "whiteout through a symlink to outside", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teDir(e.outside+"/"), teSymlink("l", e.outside), teEmpty("l/.wh.keep"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantWhiteout(t, e.in(e.outside+"/keep")) }},
		{name: "whiteout of dotdot", tar: tarOf(teEmpty("d/.wh..."), teFile("x", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "whiteout of dot", tar: tarOf(teEmpty("d/.wh..")), wantErr: errdefs.ErrInvalidArgument},
		{name: "whiteout of nothing", tar: tarOf(teEmpty(".wh.")), wantErr: errdefs.ErrInvalidArgument},
		{name: "whiteout with slash", tar: tarOf(teEmpty(".wh.foo/bar")), wantErr: errdefs.ErrInvalidArgument},
		{name: "whiteout name as dir", tar: tarOf(teDir(".wh.d/"), teFile(".wh.d/f", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "aufs link dir skipped", tar: tarOf(teDir(".wh..wh.plnk/"), teEmpty(".wh..wh.aufs"), teFile("f", "f")),
			check: func(t *testing.T, e *applyEnv, res ApplyResult) {
				wantSkipped(t, res, ".wh..wh.plnk")
				wantSkipped(t, res, ".wh..wh.aufs")
				wantMissing(t, e.in(".wh..wh.plnk"))
				wantContent(t, e.in("f"), "f")
			}},

		// Duplicate entries: the later one wins, and replaces links
		// rather than writing through them.
		{name: "duplicate file", tar: tarOf(teFile("f", "one"), teFile("f", "two")),
			check: func(t *testing.T, e *applyEnv, res ApplyResult) {
				wantContent(t, e.in("f"), "two")
				if res.Size != 6 {
					t.Errorf("Size = %d, want 6", res.Size)
				}
			}},
		{name: "file over symlink to outside file", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.sentinel), teFile("l", "x"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("l"), "x") }},
		{name: "file over relative symlink to outside file", tar: tarOf(teSymlink("l", "../sentinel"), teFile("l", "x")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("l"), "x") }},
		{name: "dir over symlink to outside dir", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.outside), teDir("l/"), teFile("l/evil", "x"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			wantType(t, e.in("l"), unix.S_IFDIR)
			wantContent(t, e.in("l/evil"), "x")
		}},
		{name: "symlink over symlink", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.outside), teSymlink("l", "elsewhere"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
			if got, _ := os.Readlink(e.in("l")); got != "elsewhere" {
				t.Errorf("l -> %q, want elsewhere", got)
			}
		}},
		{name: "fifo over symlink", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teSymlink("l", e.sentinel), tarEnt{hdr: tar.Header{Name: "l", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: applyMtime}})
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantType(t, e.in("l"), unix.S_IFIFO) }},
		{name: "hardlink over symlink", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teFile("f", "f"), teSymlink("l", e.sentinel), teHardlink("l", "f"))
		}, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("l"), "f") }},
		{name: "dir over file", tar: tarOf(teFile("d", "x"), teDir("d/"), teFile("d/f", "f")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("d/f"), "f") }},
		{name: "file over dir with children", tar: tarOf(teDir("d/"), teDir("d/sub/"), teFile("d/sub/f", "f"), teSymlink("d/l", "/"), teFile("d", "now a file")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantContent(t, e.in("d"), "now a file") }},
		{name: "symlink over dir then write through it", tar: func(t testing.TB, e *applyEnv) []byte {
			return mkTar(t, teDir("d/"), teFile("d/f", "f"), teSymlink("d", e.outside), teFile("d/evil", "x"))
		}, wantErr: errdefs.ErrInvalidArgument},
		{name: "dir over dir keeps children", tar: tarOf(teDir("d/"), teFile("d/f", "f"),
			tarEnt{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: applyMtime}}),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				wantContent(t, e.in("d/f"), "f")
				if st := wantType(t, e.in("d"), unix.S_IFDIR); st != nil && st.Mode&0o7777 != 0o700 {
					t.Errorf("d has mode %o, want 0700", st.Mode&0o7777)
				}
			}},

		// Device nodes are not made.
		{name: "device nodes", tar: tarOf(teDevice("dev/null", tar.TypeChar, 1, 3), teDevice("dev/sda", tar.TypeBlock, 8, 0),
			teDevice("x", tar.TypeChar, 0, 0), teHardlink("dev/null2", "dev/null"), teFile("f", "f")),
			check: func(t *testing.T, e *applyEnv, res ApplyResult) {
				wantMissing(t, e.in("dev/null"))
				wantMissing(t, e.in("dev/sda"))
				wantMissing(t, e.in("x"))
				wantMissing(t, e.in("dev/null2"))
				wantSkipped(t, res, "dev/null: device node skipped")
				wantSkipped(t, res, "dev/sda: device node skipped")
				wantSkipped(t, res, "x: device node skipped")
				wantSkipped(t, res, "dev/null2")
				wantContent(t, e.in("f"), "f")
			}},
		{name: "device node over a file", tar: tarOf(teFile("f", "f"), teDevice("f", tar.TypeChar, 1, 3)),
			check: func(t *testing.T, e *applyEnv, res ApplyResult) {
				wantMissing(t, e.in("f"))
				wantSkipped(t, res, "f: device node skipped")
			}},

		// Byte limits.
		{name: "huge entry", max: 1 << 20, tar: func(t testing.TB, e *applyEnv) []byte { return hugeHeaderTar(t, "huge", big) },
			wantErr: errdefs.ErrLimit, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "huge entry in a dir", max: 1 << 20, tar: func(t testing.TB, e *applyEnv) []byte { return hugeHeaderTar(t, "a/b/huge", big) },
			wantErr: errdefs.ErrLimit, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "many entries over the limit", max: 1000, tar: func(t testing.TB, e *applyEnv) []byte {
			var ents []tarEnt
			for i := range 20 {
				ents = append(ents, teFile(fmt.Sprintf("f%d", i), strings.Repeat("x", 100)))
			}
			return mkTar(t, ents...)
		}, wantErr: errdefs.ErrLimit, check: func(t *testing.T, e *applyEnv, res ApplyResult) {
			wantMissing(t, e.in("f10"))
			if res.Size > 1000 {
				t.Errorf("Size = %d, over the limit", res.Size)
			}
		}},
		{name: "huge whiteout content counts", max: 1 << 20, tar: func(t testing.TB, e *applyEnv) []byte { return hugeHeaderTar(t, ".wh.x", big) },
			wantErr: errdefs.ErrLimit},
		{name: "pax sparse over the limit", max: 1 << 20, tar: func(t testing.TB, e *applyEnv) []byte {
			return paxSparseTar("sparse", big, []byte("data"))
		}, wantErr: errdefs.ErrLimit, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "old gnu sparse over the limit", max: 1 << 20, tar: func(t testing.TB, e *applyEnv) []byte {
			return oldGNUSparseTar("sparse", big, []byte("data"))
		}, wantErr: errdefs.ErrLimit, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "gzip bomb", max: 1 << 20, gzip: true, tar: func(t testing.TB, e *applyEnv) []byte { return gzipBombTar(t, 100<<20) },
			wantErr: errdefs.ErrLimit, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},

		// Bad names.
		{name: "NUL in a PAX name", tar: func(t testing.TB, e *applyEnv) []byte {
			recs := paxRecord("path", "a\x00/../../evil")
			b := finishRawHeader(rawTarHeader("PaxHeaders/x", tar.TypeXHeader, int64(len(recs)), false))
			b = append(b, padBlock([]byte(recs))...)
			b = append(b, finishRawHeader(rawTarHeader("x", tar.TypeReg, 0, false))...)
			return append(b, make([]byte, 1024)...)
		}, wantErr: errdefs.ErrInvalidArgument, check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "NUL in a PAX link name", tar: func(t testing.TB, e *applyEnv) []byte {
			recs := paxRecord("linkpath", "a\x00b")
			b := finishRawHeader(rawTarHeader("PaxHeaders/x", tar.TypeXHeader, int64(len(recs)), false))
			b = append(b, padBlock([]byte(recs))...)
			b = append(b, finishRawHeader(rawTarHeader("x", tar.TypeSymlink, 0, false))...)
			return append(b, make([]byte, 1024)...)
		}, wantErr: errdefs.ErrInvalidArgument},
		{name: "long component", tar: tarOf(teFile("d/"+strings.Repeat("n", 300), "x")), wantErr: errdefs.ErrInvalidArgument,
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) { wantEmptyRoot(t, e) }},
		{name: "long name", tar: tarOf(teFile(strings.Repeat("d/", 2100)+"f", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "empty name", tar: tarOf(teFile("", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "root as a file", tar: tarOf(teFile(".", "x")), wantErr: errdefs.ErrInvalidArgument},
		{name: "root as a symlink", tar: func(t testing.TB, e *applyEnv) []byte { return mkTar(t, teSymlink("/", e.outside)) },
			wantErr: errdefs.ErrInvalidArgument},
		{name: "root as a dir", tar: tarOf(tarEnt{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8, ModTime: applyMtime}},
			teFile("f", "f")),
			check: func(t *testing.T, e *applyEnv, _ ApplyResult) {
				st := wantType(t, e.root, unix.S_IFDIR)
				if st != nil && (st.Mode&0o7777 != 0o750 || st.Uid != 7 || st.Gid != 8 || st.Mtim.Sec != applyMtime.Unix()) {
					t.Errorf("root has mode %o owner %d:%d mtime %d, want the tar's", st.Mode&0o7777, st.Uid, st.Gid, st.Mtim.Sec)
				}
			}},
		{name: "empty symlink target", tar: tarOf(teSymlink("l", "")), wantErr: errdefs.ErrInvalidArgument},

		// Forged overlay metadata.
		{name: "forged opaque xattr", tar: tarOf(
			tarEnt{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: applyMtime,
				PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.ok": "1"}}},
			tarEnt{hdr: tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: applyMtime,
				PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.overlay.opaque": "y"}}}),
			check: func(t *testing.T, e *applyEnv, res ApplyResult) {
				if isOpaqueDir(t, e.in("d")) {
					t.Error("a forged opaque xattr was applied")
				}
				buf := make([]byte, 16)
				if _, err := unix.Lgetxattr(e.in("f"), "trusted.overlay.redirect", buf); !errors.Is(err, unix.ENODATA) {
					t.Errorf("a forged redirect xattr was applied (%v)", err)
				}
				if n, err := unix.Lgetxattr(e.in("d"), "user.ok", buf); err != nil || string(buf[:n]) != "1" {
					t.Errorf("user.ok = %q, %v; want 1", buf[:n], err)
				}
				wantSkipped(t, res, `d: xattr "trusted.overlay.opaque" skipped`)
				wantSkipped(t, res, `f: xattr "trusted.overlay.redirect" skipped`)
				wantSkipped(t, res, `f: xattr "user.overlay.opaque" skipped`)
			}},

		// Broken tars.
		{name: "truncated in content", tar: func(t testing.TB, e *applyEnv) []byte {
			b := mkTar(t, teFile("a", "aaaa"), teFile("b", strings.Repeat("b", 4000)))
			return b[:512+512+512+1000]
		}, wantErr: errdefs.ErrDataLoss},
		{name: "truncated in a header", tar: func(t testing.TB, e *applyEnv) []byte {
			b := mkTar(t, teFile("a", "aaaa"), teFile("b", "b"))
			return b[:512+512+100]
		}, wantErr: errdefs.ErrDataLoss},
		{name: "bad checksum", tar: func(t testing.TB, e *applyEnv) []byte {
			b := mkTar(t, teFile("a", "aaaa"))
			b[0] = 'z'
			return b
		}, wantErr: errdefs.ErrInvalidArgument},
		{name: "unknown types skipped", tar: func(t testing.TB, e *applyEnv) []byte {
			b := finishRawHeader(rawTarHeader("vol", 'V', 0, true))
			b = append(b, finishRawHeader(rawTarHeader("odd", 'Z', 3, false))...)
			b = append(b, padBlock([]byte("abc"))...)
			b = append(b, mkTar(t, teFile("f", "f"))...)
			return b
		}, check: func(t *testing.T, e *applyEnv, res ApplyResult) {
			wantSkipped(t, res, "vol: tar entry type")
			wantSkipped(t, res, "odd: tar entry type")
			wantMissing(t, e.in("odd"))
			wantContent(t, e.in("f"), "f")
		}},
	}
}

func TestApplyHostileTars(t *testing.T) {
	applyRequireRoot(t)
	sandbox := applySandboxWorks()
	if !sandbox {
		t.Log("no mount namespace for a sandbox: cases aimed at host files are skipped")
	}
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.host && !sandbox {
				t.Skip("aims at host files; runs only in the sandbox, which needs a mount namespace")
			}
			e := newApplyEnv(t, t.TempDir())
			b := tc.tar(t, e)
			var r io.Reader = bytes.NewReader(b)
			if tc.gzip {
				zr, err := gzip.NewReader(r)
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			}
			passwd, _ := os.ReadFile("/etc/passwd")
			var res ApplyResult
			var err error
			apply := func() error {
				res, err = applyTar(context.Background(), e.root, r, ApplyOptions{MaxBytes: tc.max})
				return nil
			}
			if sandbox {
				if serr := runApplySandboxed(e.top, false, apply); serr != nil {
					t.Fatal(serr)
				}
			} else {
				_ = apply()
			}
			e.checkOutside(t)
			if now, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(now, passwd) {
				t.Error("/etc/passwd changed")
			}
			if errors.Is(err, unix.EROFS) {
				t.Fatalf("apply tried to write outside the test's folder: %v", err)
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("apply: %v; want it neutralised", err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("apply succeeded; want an error of kind %v", tc.wantErr)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("apply: %v; want an error of kind %v", err, tc.wantErr)
			}
			if err != nil {
				t.Logf("rejected: %v", err)
			}
			if tc.check != nil {
				tc.check(t, e, res)
			}
		})
	}
}

// errApplySandbox says the sandbox could not be made.
var errApplySandbox = errors.New("make the apply sandbox")

// runApplySandboxed runs fn on an OS thread of its own, in a private mount
// namespace where every mount is read-only but dir (or, with tmpfs, a
// fresh tmpfs mounted on dir): a tar that escapes its root then fails
// with EROFS instead of writing to the host. fn must not call t.FailNow;
// a panic in fn is returned as an error.
func runApplySandboxed(dir string, tmpfs bool, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, and the
		// namespace with it. (The runtime starts no thread from a locked
		// one, so none inherits the namespace.)
		runtime.LockOSThread()
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		if err := enterApplySandbox(dir, tmpfs); err != nil {
			done <- fmt.Errorf("%w: %w", errApplySandbox, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

func enterApplySandbox(dir string, tmpfs bool) error {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// Private first: nothing mounted here may reach the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if tmpfs {
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64m,mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
		}
	} else if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dir, err)
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("make mounts read-only: %w", err)
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, dir, unix.AT_RECURSIVE, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("make %s writable: %w", dir, err)
	}
	return nil
}

// applySandboxWorks reports whether the sandbox can be made here, and
// holds: a write outside its folder fails.
func applySandboxWorks() bool {
	dir, err := os.MkdirTemp("", "hull-apply-sandbox-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	outside := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-outside")
	err = runApplySandboxed(dir, false, func() error {
		if err := os.WriteFile(filepath.Join(dir, "in"), nil, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(outside, nil, 0o600); !errors.Is(err, unix.EROFS) {
			os.Remove(outside)
			return fmt.Errorf("a write outside the sandbox gave %v, not EROFS", err)
		}
		return nil
	})
	return err == nil
}

func TestApplyTree(t *testing.T) {
	applyRequireRoot(t)
	e := newApplyEnv(t, t.TempDir())
	dirTime := time.Unix(1500000000, 0)
	fileTime := time.Unix(1400000000, 0)
	ents := []tarEnt{
		{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1001, ModTime: dirTime,
			PAXRecords: map[string]string{"SCHILY.xattr.user.dir": "dv"}}},
		{hdr: tar.Header{Name: "d/sub/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: dirTime}},
		{hdr: tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1000, Gid: 1001, Size: 5, ModTime: fileTime,
			AccessTime: time.Unix(1300000000, 0), Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.user.foo": "bar"}}, body: "hello"},
		{hdr: tar.Header{Name: "d/g", Typeflag: tar.TypeReg, Mode: 0o2644, Gid: 50, Size: 3, ModTime: fileTime}, body: "abc"},
		{hdr: tar.Header{Name: "d/sub/empty", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: fileTime}},
		{hdr: tar.Header{Name: "d/rel", Typeflag: tar.TypeSymlink, Linkname: "sub/../f", Uid: 3, Gid: 4, ModTime: fileTime}},
		{hdr: tar.Header{Name: "d/abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", ModTime: fileTime}},
		{hdr: tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "d/f"}},
		{hdr: tar.Header{Name: "/d/sub/fifo", Typeflag: tar.TypeFifo, Mode: 0o640, Uid: 5, Gid: 6, ModTime: fileTime}},
		{hdr: tar.Header{Name: "./x/y/z", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: fileTime}, body: "z"},
		{hdr: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "hi"}}},
		teEmpty("d/.wh.gone"),
	}
	b := mkTar(t, ents...)
	r := bytes.NewReader(b)
	res, err := applyTar(context.Background(), e.root, r, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.checkOutside(t)
	if r.Len() != 0 {
		t.Errorf("%d bytes of the tar left unread", r.Len())
	}
	// 9 bytes of files and 19 of links' targets ("sub/../f", "/etc/passwd"),
	// as Docker sizes a layer.
	if res.Size != 28 {
		t.Errorf("Size = %d, want 28", res.Size)
	}
	if len(res.Skipped) != 0 {
		t.Errorf("Skipped = %q, want none", res.Skipped)
	}

	check := func(rel string, typ, mode, uid, gid uint32, mtime time.Time) *unix.Stat_t {
		t.Helper()
		st := wantType(t, e.in(rel), typ)
		if st == nil {
			return nil
		}
		if typ != unix.S_IFLNK && st.Mode&0o7777 != mode {
			t.Errorf("%s has mode %o, want %o", rel, st.Mode&0o7777, mode)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", rel, st.Uid, st.Gid, uid, gid)
		}
		if !mtime.IsZero() && (st.Mtim.Sec != mtime.Unix() || st.Mtim.Nsec != int64(mtime.Nanosecond())) {
			t.Errorf("%s has mtime %d.%09d, want %v", rel, st.Mtim.Sec, st.Mtim.Nsec, mtime)
		}
		return st
	}
	check("d", unix.S_IFDIR, 0o750, 1000, 1001, dirTime)
	check("d/sub", unix.S_IFDIR, 0o1777, 0, 0, dirTime)
	f := check("d/f", unix.S_IFREG, 0o4755, 1000, 1001, fileTime)
	if f != nil && f.Atim.Sec != 1300000000 {
		t.Errorf("d/f has atime %d, want 1300000000", f.Atim.Sec)
	}
	check("d/g", unix.S_IFREG, 0o2644, 0, 50, fileTime)
	check("d/sub/empty", unix.S_IFREG, 0o600, 0, 0, fileTime)
	check("d/rel", unix.S_IFLNK, 0, 3, 4, fileTime)
	check("d/abs", unix.S_IFLNK, 0, 0, 0, fileTime)
	check("d/sub/fifo", unix.S_IFIFO, 0o640, 5, 6, fileTime)
	check("x", unix.S_IFDIR, 0o755, 0, 0, time.Time{})
	wantContent(t, e.in("d/f"), "hello")
	wantContent(t, e.in("x/y/z"), "z")
	wantWhiteout(t, e.in("d/gone"))
	if got, _ := os.Readlink(e.in("d/rel")); got != "sub/../f" {
		t.Errorf("d/rel -> %q, want the text kept", got)
	}
	if got, _ := os.Readlink(e.in("d/abs")); got != "/etc/passwd" {
		t.Errorf("d/abs -> %q, want the text kept", got)
	}
	if h := wantType(t, e.in("hard"), unix.S_IFREG); h != nil && f != nil && (h.Ino != f.Ino || h.Nlink != 2) {
		t.Errorf("hard is inode %d with %d links, want d/f's inode %d with 2", h.Ino, h.Nlink, f.Ino)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(e.in("d/f"), "user.foo", buf); err != nil || string(buf[:n]) != "bar" {
		t.Errorf("d/f user.foo = %q, %v; want bar", buf[:n], err)
	}
	if n, err := unix.Lgetxattr(e.in("d"), "user.dir", buf); err != nil || string(buf[:n]) != "dv" {
		t.Errorf("d user.dir = %q, %v; want dv", buf[:n], err)
	}
}

func TestApplySparse(t *testing.T) {
	applyRequireRoot(t)
	for _, tc := range []struct {
		name string
		tar  []byte
	}{
		{"pax", paxSparseTar("s", 3<<20, []byte("head"))},
		{"old gnu", oldGNUSparseTar("s", 3<<20, []byte("head"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newApplyEnv(t, t.TempDir())
			res, err := applyBytes(t, e, tc.tar, 4<<20)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(e.in("s"))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 3<<20 || string(b[:4]) != "head" || bytes.ContainsFunc(b[4:], func(r rune) bool { return r != 0 }) {
				t.Errorf("s has %d bytes starting %q, want 3 MiB: head and zeros", len(b), b[:min(len(b), 8)])
			}
			if res.Size != 3<<20 {
				t.Errorf("Size = %d, want %d", res.Size, 3<<20)
			}
			var st unix.Stat_t
			if err := unix.Stat(e.in("s"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Blocks*512 >= 2<<20 {
				t.Errorf("s takes %d bytes on disk; want its hole kept", st.Blocks*512)
			}
		})
	}
}

// TestApplyZeroRuns checks content with runs of zeros (written as holes)
// between and after data.
func TestApplyZeroRuns(t *testing.T) {
	applyRequireRoot(t)
	e := newApplyEnv(t, t.TempDir())
	zeros := make([]byte, 3<<20)
	body := string(zeros[:2<<20]) + "middle" + string(zeros) + "end" + string(zeros[:5<<20/2])
	if _, err := applyBytes(t, e, mkTar(t, teFile("z", body), teFile("allzero", string(zeros))), 0); err != nil {
		t.Fatal(err)
	}
	wantContent(t, e.in("z"), body)
	wantContent(t, e.in("allzero"), string(zeros))
}

// TestApplyClosesFds checks that no fd stays open after applies that
// succeed and that fail halfway.
func TestApplyClosesFds(t *testing.T) {
	applyRequireRoot(t)
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	var ents []tarEnt
	for i := range 4 * applyDirCacheSize {
		ents = append(ents, teFile(fmt.Sprintf("d%d/e/f", i), "x"), teDir(fmt.Sprintf("d%d/", i%3)), teEmpty(fmt.Sprintf(".wh.d%d", i%5)))
	}
	tars := [][]byte{
		mkTar(t, ents...),
		mkTar(t, append(ents, teFile("../evil", "x"))...),
		mkTar(t, append(ents, teSymlink("l", "/nowhere"), teFile("l/x/y", "x"))...),
	}
	before := count()
	for _, b := range tars {
		e := newApplyEnv(t, t.TempDir())
		_, _ = applyBytes(t, e, b, 0)
	}
	if after := count(); after != before {
		t.Errorf("%d fds open before the applies, %d after", before, after)
	}
}

// BenchmarkApplyTar applies a tar of many small files and a few large
// ones, as an image layer holds; compare with tar -x of the same tar.
func BenchmarkApplyTar(b *testing.B) {
	applyRequireRoot(b)
	var ents []tarEnt
	small := strings.Repeat("s", 6000)
	large := strings.Repeat("L", 4<<20)
	for d := range 100 {
		ents = append(ents, teDir(fmt.Sprintf("usr/lib/d%d/", d)))
		for f := range 50 {
			ents = append(ents, teFile(fmt.Sprintf("usr/lib/d%d/f%d", d, f), small))
		}
		ents = append(ents, teSymlink(fmt.Sprintf("usr/lib/d%d/link", d), "f0"))
	}
	for i := range 10 {
		ents = append(ents, teFile(fmt.Sprintf("opt/big%d", i), large))
	}
	tb := mkTar(b, ents...)
	if out := os.Getenv("HULL_BENCH_TAR"); out != "" {
		if err := os.WriteFile(out, tb, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(tb)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		root := filepath.Join(b.TempDir(), "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := applyTar(context.Background(), root, bytes.NewReader(tb), ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestApplyDirTimesAfterChildren checks that a directory's time is the
// tar's even when entries after it change the directory.
func TestApplyDirTimesAfterChildren(t *testing.T) {
	applyRequireRoot(t)
	e := newApplyEnv(t, t.TempDir())
	b := mkTar(t, teDir("d/"), teFile("d/a", "a"), teFile("d/a", "again"), teEmpty("d/.wh.b"), teDir("d/e/"),
		teFile("d/e/f", "f"), teFile("top", "t"), teFile("d/late", "l"), teDir("d/"), teDir("d/x/"), teFile("d/x", "x"))
	if _, err := applyBytes(t, e, b, 0); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"d", "d/e"} {
		if st := wantType(t, e.in(rel), unix.S_IFDIR); st != nil && st.Mtim.Sec != applyMtime.Unix() {
			t.Errorf("%s has mtime %d, want %d", rel, st.Mtim.Sec, applyMtime.Unix())
		}
	}
	wantContent(t, e.in("d/x"), "x")
	wantContent(t, e.in("d/a"), "again")
}

func TestApplyCanceled(t *testing.T) {
	applyRequireRoot(t)
	e := newApplyEnv(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := applyTar(ctx, e.root, bytes.NewReader(mkTar(t, teFile("f", "f"))), ApplyOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("apply with a canceled context: %v; want context.Canceled", err)
	}
	wantMissing(t, e.in("f"))
}

// TestApplyManyDirs crosses more directories than the applier keeps open,
// going back to earlier ones, so its cache of directories is exercised.
func TestApplyManyDirs(t *testing.T) {
	applyRequireRoot(t)
	e := newApplyEnv(t, t.TempDir())
	var ents []tarEnt
	for round := range 3 {
		for i := range 3 * applyDirCacheSize {
			ents = append(ents, teFile(fmt.Sprintf("d%d/s%d/f%d", i, i%3, round), "x"))
		}
		ents = append(ents, teEmpty(fmt.Sprintf(".wh.d%d", round)))
	}
	if _, err := applyBytes(t, e, mkTar(t, ents...), 0); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 3 * applyDirCacheSize {
			p := e.in(fmt.Sprintf("d%d/s%d/f%d", i, i%3, round))
			if i < 3 {
				continue
			}
			wantContent(t, p, "x")
		}
	}
	// d0 was whited out after round 0 and made again; d1 after round 1.
	wantMissing(t, e.in("d0/s0/f0"))
	wantContent(t, e.in("d0/s0/f1"), "x")
	wantContent(t, e.in("d0/s0/f2"), "x")
	wantMissing(t, e.in("d1/s1/f1"))
	wantContent(t, e.in("d1/s1/f2"), "x")
	for _, d := range []string{"d0", "d1"} {
		if !isOpaqueDir(t, e.in(d)) {
			t.Errorf("%s, made again over its whiteout, is not opaque", d)
		}
	}
	wantWhiteout(t, e.in("d2"))
}

func TestApplySkippedBounded(t *testing.T) {
	applyRequireRoot(t)
	e := newApplyEnv(t, t.TempDir())
	var ents []tarEnt
	for i := range maxApplySkipped + 10 {
		ents = append(ents, teDevice(fmt.Sprintf("dev%d", i), tar.TypeChar, 1, 3))
	}
	res, err := applyBytes(t, e, mkTar(t, ents...), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != maxApplySkipped+1 || res.Skipped[maxApplySkipped] != "10 more entries skipped" {
		t.Errorf("Skipped has %d entries ending %q", len(res.Skipped), res.Skipped[len(res.Skipped)-1])
	}
}

func TestOpenLayerFile(t *testing.T) {
	applyRequireRoot(t)
	base := t.TempDir()
	layerDir := filepath.Join(base, "layer")
	if err := os.Mkdir(layerDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := newApplyEnv(t, filepath.Join(base, "env"))
	diff := filepath.Join(layerDir, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		t.Fatal(err)
	}
	b := mkTar(t, teDir("d/"), teFile("d/f", "content"),
		teSymlink("abs", e.sentinel), teSymlink("absdir", e.outside), teSymlink("up", "../../.."),
		teSymlink("inside", "d"), teFile(e.outside+"/keep", "inside keep"),
		tarEnt{hdr: tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644, ModTime: applyMtime}})
	if _, err := applyTar(context.Background(), diff, bytes.NewReader(b), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	read := func(rel string) (string, error) {
		rc, err := openLayerFile(layerDir, rel)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	for _, tc := range []struct {
		rel, want string
		kind      error
	}{
		{rel: "d/f", want: "content"},
		{rel: "inside/f", want: "content"},
		{rel: "absdir/keep", want: "inside keep"},
		{rel: "up/d/f", want: "content"},
		{rel: "abs", kind: errdefs.ErrDataLoss},
		{rel: "up/sentinel", kind: errdefs.ErrNotFound},
		{rel: "d", kind: errdefs.ErrDataLoss},
		{rel: "fifo", kind: errdefs.ErrDataLoss},
		{rel: "nothere", kind: errdefs.ErrNotFound},
		{rel: "../env/sentinel", kind: errdefs.ErrInvalidArgument},
		{rel: e.sentinel, kind: errdefs.ErrInvalidArgument},
		{rel: "d/../d/f", kind: errdefs.ErrInvalidArgument},
		{rel: "", kind: errdefs.ErrInvalidArgument},
	} {
		got, err := read(tc.rel)
		switch {
		case tc.kind == nil && err != nil:
			t.Errorf("openLayerFile(%q): %v", tc.rel, err)
		case tc.kind == nil && got != tc.want:
			t.Errorf("openLayerFile(%q) reads %q, want %q", tc.rel, got, tc.want)
		case tc.kind != nil && !errors.Is(err, tc.kind):
			t.Errorf("openLayerFile(%q) = %q, %v; want an error of kind %v", tc.rel, got, err, tc.kind)
		}
	}
	e.checkOutside(t)
}
