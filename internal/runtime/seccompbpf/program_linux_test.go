package seccompbpf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hullproject/hull/internal/runtime/seccompbpf"
	"golang.org/x/sys/unix"
)

func sampleProgram() *seccompbpf.Program {
	return &seccompbpf.Program{
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
	q, err := seccompbpf.ReadProgram(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.Filter, p.Filter) || q.Flags != p.Flags || q.NoNewPrivs != p.NoNewPrivs {
		t.Fatalf("round trip: got %+v, want %+v", q, p)
	}
	p.NoNewPrivs = true
	b2, _ := p.MarshalBinary()
	if q, err := seccompbpf.ReadProgram(bytes.NewReader(b2)); err != nil || !q.NoNewPrivs {
		t.Fatalf("no_new_privs round trip: %+v, %v", q, err)
	}

	// A file is whole and checked, or it is not a program.
	for n := range len(b) {
		if _, err := seccompbpf.ReadProgram(bytes.NewReader(b[:n])); err == nil {
			t.Errorf("the first %d of %d bytes read as a program", n, len(b))
		}
	}
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x10
		if _, err := seccompbpf.ReadProgram(bytes.NewReader(c)); err == nil {
			t.Errorf("a file with byte %d changed read as a program", i)
		}
	}
	if _, err := seccompbpf.ReadProgram(bytes.NewReader(append(slices.Clone(b), 0))); err == nil {
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
		if _, err := seccompbpf.ReadProgram(bytes.NewReader(resum(c))); err == nil {
			t.Errorf("%s: read as a program", name)
		}
	}
	// Refused before encoding, and before loading.
	for name, bad := range map[string]*seccompbpf.Program{
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
	if q, err := seccompbpf.ReadProgramFile(path); err != nil || !slices.Equal(q.Filter, sampleProgram().Filter) {
		t.Fatalf("ReadProgramFile: %v", err)
	}
	if _, err := seccompbpf.ReadProgramFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadProgramFile of a missing file: %v", err)
	}
}

// marker is the verdict of the stand-in for libseccomp's program behind
// the stub in TestEnosysStub.
const marker = unix.SECCOMP_RET_TRACE | 0x1234

func TestEnosysStub(t *testing.T) {
	const x32 = 0x40000000
	type arch = [3]uint32 // audit, max, x32Max
	cases := []struct {
		name  string
		archs []arch
	}{
		{"x86_64, x32, i386", []arch{{unix.AUDIT_ARCH_I386, 400, 0}, {unix.AUDIT_ARCH_X86_64, 300, x32 | 200}}},
		{"x86_64 only", []arch{{unix.AUDIT_ARCH_X86_64, 300, 0}}},
		{"x32 only", []arch{{unix.AUDIT_ARCH_X86_64, 0, x32 | 500}}},
		{"s390x", []arch{{unix.AUDIT_ARCH_S390X, 350, 0}, {unix.AUDIT_ARCH_X86_64, 300, 0}}},
		{"an architecture without calls", []arch{{unix.AUDIT_ARCH_AARCH64, 0, 0}, {unix.AUDIT_ARCH_X86_64, 300, 0}}},
		{"none", nil},
	}
	// Every architecture at once: the jumps still fit.
	var every []arch
	for _, a := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_MIPS,
		unix.AUDIT_ARCH_MIPS64, unix.AUDIT_ARCH_MIPS64N32, unix.AUDIT_ARCH_MIPSEL, unix.AUDIT_ARCH_MIPSEL64,
		unix.AUDIT_ARCH_MIPSEL64N32, unix.AUDIT_ARCH_PPC, unix.AUDIT_ARCH_PPC64, unix.AUDIT_ARCH_PPC64LE,
		unix.AUDIT_ARCH_S390, unix.AUDIT_ARCH_S390X, unix.AUDIT_ARCH_RISCV64, unix.AUDIT_ARCH_LOONGARCH64} {
		every = append(every, arch{a, 100 + a%200, 0})
	}
	every = append(every, arch{unix.AUDIT_ARCH_X86_64, 300, x32 | 200})
	cases = append(cases, struct {
		name  string
		archs []arch
	}{"every architecture", every})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stub, err := seccompbpf.EnosysStub(tc.archs, unix.AUDIT_ARCH_X86_64)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.archs) == 0 {
				if stub != nil {
					t.Fatalf("a stub without architectures: %v", stub)
				}
				return
			}
			// The same stub whatever the order it is given the architectures in.
			rev := slices.Clone(tc.archs)
			slices.Reverse(rev)
			if again, _ := seccompbpf.EnosysStub(rev, unix.AUDIT_ARCH_X86_64); !slices.Equal(again, stub) {
				t.Error("the stub depends on the order of the architectures")
			}
			prog := append(slices.Clone(stub), unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: marker})
			vm, err := newVM(prog)
			if err != nil {
				t.Fatal(err)
			}
			want := func(audit, nr uint32) uint32 {
				for _, a := range tc.archs {
					if a[0] != audit {
						continue
					}
					max := a[1]
					if audit == unix.AUDIT_ARCH_X86_64 && nr&x32 != 0 {
						max = a[2]
					}
					if max == 0 {
						return marker
					}
					if (audit == unix.AUDIT_ARCH_S390 || audit == unix.AUDIT_ARCH_S390X) && nr == 0 {
						return seccompbpf.RetENOSYS
					}
					if nr > max {
						return seccompbpf.RetENOSYS
					}
				}
				return marker
			}
			audits := []uint32{0x12345678}
			for _, a := range every {
				audits = append(audits, a[0])
			}
			enosys := 0
			for _, audit := range audits {
				for _, nr := range syscallNumbers() {
					d := &seccompData{nr: nr, arch: audit}
					got, err := eval(prog, d)
					if err != nil {
						t.Fatal(err)
					}
					if w := want(audit, nr); got != w {
						t.Fatalf("arch %#x nr %#x: verdict %#x, want %#x", audit, nr, got, w)
					}
					if got == seccompbpf.RetENOSYS {
						enosys++
					}
					if v, err := vm.Run(d.bytes()); err != nil || uint32(v) != got {
						t.Fatalf("arch %#x nr %#x: x/net/bpf says %#x (%v), eval %#x", audit, nr, v, err, got)
					}
				}
			}
			if enosys == 0 {
				t.Fatal("no number answered ENOSYS")
			}
		})
	}
}

// syscallNumbers are the numbers every sweep tries: 0 to 1023, the same
// with x32's bit 30, and the edges of the 32-bit range.
func syscallNumbers() []uint32 {
	var nrs []uint32
	for nr := uint32(0); nr < 1024; nr++ {
		nrs = append(nrs, nr, 0x40000000|nr)
	}
	return append(nrs, 0x3fffffff, 0x7fffffff, 0x80000000, 0xbfffffff, 0xc0000000, 0xfffffffe, 0xffffffff)
}
