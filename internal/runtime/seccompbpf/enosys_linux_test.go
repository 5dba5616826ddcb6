package seccompbpf_test

import (
	"slices"
	"testing"

	"github.com/hullproject/hull/internal/runtime/seccompbpf"
	"golang.org/x/sys/unix"
)

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
