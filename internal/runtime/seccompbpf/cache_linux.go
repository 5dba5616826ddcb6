//go:build linux && cgo && seccomp

package seccompbpf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/hullproject/hull/internal/runtime/seccompprog"
	"github.com/opencontainers/runc/libcontainer/configs"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// hostKey names what, besides the profile, decides the program Compile
// makes: the file format, the architecture, the kernel (libseccomp's API
// level and the flags it allows follow it) and libseccomp's version (its
// code generator).
var hostKey = sync.OnceValues(func() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	api, _ := libseccomp.GetAPI()
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("hull seccompbpf format %d\nGOARCH %s\nkernel %s\nlibseccomp %d.%d.%d api %d\n",
		seccompprog.FormatVersion, runtime.GOARCH, unix.ByteSliceToString(u.Release[:]), major, minor, micro, api), nil
})

// CacheKey is the name Cached gives c's program: the sha256, in hex, of
// c's JSON (encoding/json of configs.Seccomp, whose field order is fixed)
// and of the host's part of the key (format version, GOARCH, kernel
// release, libseccomp version and API level).
func CacheKey(c *configs.Seccomp) (string, error) {
	host, err := hostKey()
	if err != nil {
		return "", fmt.Errorf("seccomp program key: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(host))
	if err := json.NewEncoder(h).Encode(c); err != nil {
		return "", fmt.Errorf("seccomp program key: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Cached returns the path of the file holding c's program under dir,
// <dir>/<CacheKey(c)>.bpf, compiling and writing it first when it is
// missing or does not check (a truncated or corrupt file is replaced,
// never returned). The file is written to a temporary name and renamed
// into place, mode 0600, so that shims compiling the same profile at the
// same time each see a whole file; they may both compile, and the last
// rename wins with the same bytes. Errors are Compile's (ErrNotify for a
// notify profile) or the file system's. The shim calls it with dir =
// <runtime root>/seccomp; the container's init reads the file with
// ReadProgramFile.
func Cached(dir string, c *configs.Seccomp) (string, error) {
	key, err := CacheKey(c)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, key+".bpf")
	if _, err := seccompprog.ReadProgramFile(path); err == nil {
		return path, nil
	}
	p, err := Compile(c)
	if err != nil {
		return "", err
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("write seccomp program: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write seccomp program: %w", err)
	}
	if err := writeAtomic(path, b); err != nil {
		return "", fmt.Errorf("write seccomp program: %w", err)
	}
	return path, nil
}

// writeAtomic puts b at path through a temporary file in the same folder
// and a rename. It does not fsync: a file torn by a crash fails its
// checksum and is compiled again.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
