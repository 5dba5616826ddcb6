//go:build linux && cgo && seccomp

package seccompbpf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/seccompbpf"
	"github.com/hullproject/hull/internal/runtime/seccompprog"
	"github.com/opencontainers/runc/libcontainer/configs"
)

// TestCached: the same profile is one file, compiled once; another
// capability set is another file; a file cut short, overwritten or
// emptied is found out, compiled again and replaced, never returned.
func TestCached(t *testing.T) {
	d14, dAll := dockerProfiles(t)
	dir := filepath.Join(t.TempDir(), "seccomp") // made by Cached

	compiles := seccompbpf.Compiles()
	path, err := seccompbpf.Cached(dir, d14.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := seccompbpf.Compiles() - compiles; n != 1 {
		t.Fatalf("the first Cached compiled %d times, want 1", n)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || filepath.Dir(path) != dir || filepath.Ext(path) != ".bpf" {
		t.Errorf("cache file %s mode %v, want <dir>/<key>.bpf with mode 0600", path, fi.Mode())
	}
	key, err := seccompbpf.CacheKey(d14.cfg)
	if err != nil || filepath.Base(path) != key+".bpf" {
		t.Errorf("cache file %s, key %s (%v)", path, key, err)
	}

	// A copy of the profile (as another shim decodes it) is the same file,
	// read, not compiled.
	var copied configs.Seccomp
	b, _ := json.Marshal(d14.cfg)
	if err := json.Unmarshal(b, &copied); err != nil {
		t.Fatal(err)
	}
	compiles = seccompbpf.Compiles()
	again, err := seccompbpf.Cached(dir, &copied)
	if err != nil || again != path {
		t.Fatalf("second Cached: %s, %v; want %s", again, err, path)
	}
	if n := seccompbpf.Compiles() - compiles; n != 0 {
		t.Fatalf("the second Cached compiled %d times, want 0", n)
	}
	want, err := seccompbpf.Compile(d14.cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := seccompprog.ReadProgramFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Filter, want.Filter) || got.Flags != want.Flags {
		t.Fatal("the cached program is not what Compile makes")
	}

	other, err := seccompbpf.Cached(dir, dAll.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if other == path {
		t.Fatal("Docker's profile with every capability has the 14-capability profile's file")
	}

	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"cut short": good[:len(good)/2],
		"one byte off": func() []byte {
			c := slices.Clone(good)
			c[len(c)/2] ^= 1
			return c
		}(),
		"empty":   {},
		"garbage": []byte("#!/bin/sh\nexit 0\n"),
	} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := seccompprog.ReadProgramFile(path); err == nil {
			t.Fatalf("%s: a bad file reads as a program", name)
		}
		compiles = seccompbpf.Compiles()
		p, err := seccompbpf.Cached(dir, d14.cfg)
		if err != nil || p != path {
			t.Fatalf("%s: Cached: %s, %v", name, p, err)
		}
		if n := seccompbpf.Compiles() - compiles; n != 1 {
			t.Fatalf("%s: Cached compiled %d times, want 1", name, n)
		}
		if b, _ := os.ReadFile(path); !slices.Equal(b, good) {
			t.Fatalf("%s: the file was not replaced by the good program", name)
		}
	}

	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("cache folder holds %v, want the two programs only", names)
	}
}

// cacheChildEnv makes the test binary a shim stand-in that calls Cached
// with the folder it names and the configuration in the file
// cacheChildConfigEnv names, waits for its stdin to close (so that all
// start together), reads the program back and prints the path.
const (
	cacheChildEnv       = "SECCOMPBPF_CACHE_CHILD"
	cacheChildConfigEnv = "SECCOMPBPF_CACHE_CHILD_CONFIG"
)

func cacheChild(dir, config string) {
	b, err := os.ReadFile(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var c configs.Seccomp
	if err := json.Unmarshal(b, &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	io.Copy(io.Discard, os.Stdin)
	path, err := seccompbpf.Cached(dir, &c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// What the container's init then does, while the others may still
	// be writing.
	if _, err := seccompprog.ReadProgramFile(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// TestCachedProcesses: shims (processes) starting containers of the same
// profile at the same moment, into a folder none has made yet, all get
// the path of one whole file, and no temporary file is left.
func TestCachedProcesses(t *testing.T) {
	d14, _ := dockerProfiles(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "seccomp")
	config := filepath.Join(tmp, "config.json")
	b, _ := json.Marshal(d14.cfg)
	if err := os.WriteFile(config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 4
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	var gates []io.Closer
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), cacheChildEnv+"="+dir, cacheChildConfigEnv+"="+config)
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		gate, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		cmds, outs, gates = append(cmds, cmd), append(outs, out), append(gates, gate)
	}
	for _, g := range gates {
		g.Close()
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shim stand-in %d: %v: %s", i, err, outs[i])
		}
	}
	first := strings.TrimSpace(outs[0].String())
	for i, out := range outs {
		if got := strings.TrimSpace(out.String()); got != first || filepath.Dir(got) != dir {
			t.Fatalf("shim stand-in %d: %q; first: %q", i, got, first)
		}
	}
	if _, err := seccompprog.ReadProgramFile(first); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("cache folder holds %d entries, want 1 (no temporary files left)", len(entries))
	}
}

// TestCachedConcurrent: goroutines of one process calling Cached for the
// same profile at once all get the path of one whole file.
func TestCachedConcurrent(t *testing.T) {
	d14, _ := dockerProfiles(t)
	dir := t.TempDir()
	const n = 6
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = seccompbpf.Cached(dir, d14.cfg)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("Cached %d: %s, %v; first: %s", i, paths[i], errs[i], paths[0])
		}
	}
	if _, err := seccompprog.ReadProgramFile(paths[0]); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("cache folder holds %d entries, want 1 (no temporary files left)", len(entries))
	}
}

func TestCompileNotify(t *testing.T) {
	errno := uint(1)
	for _, c := range []*configs.Seccomp{
		{DefaultAction: configs.Errno, DefaultErrnoRet: &errno, Syscalls: []*configs.Syscall{{Name: "getpid", Action: configs.Notify}}},
		{DefaultAction: configs.Notify},
	} {
		if _, err := seccompbpf.Compile(c); !errors.Is(err, seccompbpf.ErrNotify) || !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("Compile of a notify profile: %v, want ErrNotify", err)
		}
		if _, err := seccompbpf.Cached(t.TempDir(), c); !errors.Is(err, seccompbpf.ErrNotify) {
			t.Errorf("Cached of a notify profile: %v, want ErrNotify", err)
		}
	}
	if _, err := seccompbpf.Compile(nil); err == nil {
		t.Error("Compile(nil) did not fail")
	}
}

// BenchmarkCompileDocker is what every container start pays today inside
// libcontainer's init (less the loading): Docker's profile through
// libseccomp and the stub.
func BenchmarkCompileDocker(b *testing.B) {
	d14, _ := dockerProfiles(b)
	for b.Loop() {
		if _, err := seccompbpf.Compile(d14.cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedDocker is what the shim pays per start once the file
// exists: the key (the profile's JSON and its hash) and a checked read.
func BenchmarkCachedDocker(b *testing.B) {
	d14, _ := dockerProfiles(b)
	dir := b.TempDir()
	if _, err := seccompbpf.Cached(dir, d14.cfg); err != nil {
		b.Fatal(err)
	}
	compiles := seccompbpf.Compiles()
	for b.Loop() {
		if _, err := seccompbpf.Cached(dir, d14.cfg); err != nil {
			b.Fatal(err)
		}
	}
	if seccompbpf.Compiles() != compiles {
		b.Fatal("Cached compiled")
	}
}

// BenchmarkReadProgramDocker is what the init pays: read and check the
// file.
func BenchmarkReadProgramDocker(b *testing.B) {
	d14, _ := dockerProfiles(b)
	path, err := seccompbpf.Cached(b.TempDir(), d14.cfg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := seccompprog.ReadProgramFile(path); err != nil {
			b.Fatal(err)
		}
	}
}
