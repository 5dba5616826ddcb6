package seccompprog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hullproject/hull/internal/runtime/seccompprog"
	"golang.org/x/sys/unix"
)

func sampleProgram() *seccompprog.Program {
	return &seccompprog.Program{
		Filter: []unix.SockFilter{
			{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4},
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
			{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_KILL_PROCESS},
			{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		},
		Flags: unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	}
}

func TestProgramEncoding(t *testing.T) {
	p := sampleProgram()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := 24 + 8*len(p.Filter) + 32; len(b) != want {
		t.Fatalf("encoding is %d bytes, want %d", len(b), want)
	}
	q, err := seccompprog.ReadProgram(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.Filter, p.Filter) || q.Flags != p.Flags || q.NoNewPrivs != p.NoNewPrivs {
		t.Fatalf("round trip: got %+v, want %+v", q, p)
	}
	p.NoNewPrivs = true
	b2, _ := p.MarshalBinary()
	if q, err := seccompprog.ReadProgram(bytes.NewReader(b2)); err != nil || !q.NoNewPrivs {
		t.Fatalf("no_new_privs round trip: %+v, %v", q, err)
	}

	// A file is whole and checked, or it is not a program.
	for n := range len(b) {
		if _, err := seccompprog.ReadProgram(bytes.NewReader(b[:n])); err == nil {
			t.Errorf("the first %d of %d bytes read as a program", n, len(b))
		}
	}
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x10
		if _, err := seccompprog.ReadProgram(bytes.NewReader(c)); err == nil {
			t.Errorf("a file with byte %d changed read as a program", i)
		}
	}
	if _, err := seccompprog.ReadProgram(bytes.NewReader(append(slices.Clone(b), 0))); err == nil {
		t.Error("a file with a byte more read as a program")
	}
	// Well-formed, checksummed, but what this version must refuse.
	resum := func(c []byte) []byte {
		body := c[:len(c)-32]
		sum := sha256.Sum256(body)
		return append(slices.Clone(body), sum[:]...)
	}
	for name, edit := range map[string]func([]byte){
		"version 2":           func(c []byte) { binary.LittleEndian.PutUint32(c[8:], 2) },
		"NEW_LISTENER flag":   func(c []byte) { binary.LittleEndian.PutUint32(c[12:], unix.SECCOMP_FILTER_FLAG_NEW_LISTENER) },
		"TSYNC flag":          func(c []byte) { binary.LittleEndian.PutUint32(c[12:], unix.SECCOMP_FILTER_FLAG_TSYNC) },
		"unknown option":      func(c []byte) { binary.LittleEndian.PutUint32(c[16:], 2) },
		"zero instructions":   func(c []byte) { binary.LittleEndian.PutUint32(c[20:], 0) },
		"count past the data": func(c []byte) { binary.LittleEndian.PutUint32(c[20:], 5) },
	} {
		c := slices.Clone(b)
		edit(c)
		if _, err := seccompprog.ReadProgram(bytes.NewReader(resum(c))); err == nil {
			t.Errorf("%s: read as a program", name)
		}
	}
	// Refused before encoding, and before loading.
	for name, bad := range map[string]*seccompprog.Program{
		"empty":             {},
		"4097 instructions": {Filter: make([]unix.SockFilter, 4097)},
		"NEW_LISTENER":      {Filter: sampleProgram().Filter, Flags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
	} {
		if _, err := bad.MarshalBinary(); err == nil {
			t.Errorf("%s: encoded", name)
		}
		if err := bad.Load(); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}

	path := filepath.Join(t.TempDir(), "p.bpf")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if q, err := seccompprog.ReadProgramFile(path); err != nil || !slices.Equal(q.Filter, sampleProgram().Filter) {
		t.Fatalf("ReadProgramFile: %v", err)
	}
	if _, err := seccompprog.ReadProgramFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadProgramFile of a missing file: %v", err)
	}
}
