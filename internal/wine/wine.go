// Package wine lets hull's tests, built for Windows, tell Wine (where CI
// runs them: hack/wine.sh) from a Windows host, and skip or work around
// only what Wine lacks. On a real Windows host and off Windows every
// helper here is the plain one: Running reports false, Skip does nothing,
// TempDir is t.TempDir. Imported by test files only.
//
// Wine 8.0 lacks, for hull's tests: the POSIX-semantics delete Go's
// os.RemoveAll uses on Windows (FileDispositionInformationEx: "Invalid
// function"), BackupWrite and the backup/restore privileges (windowsfilter
// imports), the Host Compute Service and the Host Network Service
// (vmcompute.dll, computenetwork.dll).
package wine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Skip skips the test when it runs under Wine, saying which Windows part
// Wine lacks; on Windows and elsewhere it does nothing.
func Skip(t testing.TB, missing string) {
	t.Helper()
	if Running() {
		t.Skipf("under Wine: Wine lacks %s (a Windows host runs this test)", missing)
	}
}

// TempDir is t.TempDir, but under Wine its folder is removed without the
// POSIX-semantics delete Wine lacks: file by file, deepest first, with
// os.Remove (DeleteFile, RemoveDirectory). What cannot be removed that way
// still fails the test.
func TempDir(t testing.TB) string {
	t.Helper()
	if !Running() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "hull-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveAll(dir); err != nil {
			t.Errorf("TempDir cleanup: %v", err)
		}
	})
	return dir
}

// RemoveAll is os.RemoveAll; under Wine it removes path's tree entry by
// entry with os.Remove, deepest first (os.RemoveAll fails there on a
// folder that is not empty).
func RemoveAll(path string) error {
	if !Running() {
		return os.RemoveAll(path)
	}
	var paths []string
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range slices.Backward(paths) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
