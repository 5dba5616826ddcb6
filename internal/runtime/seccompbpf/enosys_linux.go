package seccompbpf

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// The ENOSYS stub. A profile lists the system calls a container may make
// and refuses the rest with its default action, usually EPERM. A system
// call newer than the profile — added to the kernel after the profile was
// written — would then answer EPERM, and programs (glibc's clone3 and
// statx fallbacks, for instance) read EPERM as "forbidden" where ENOSYS
// means "try the older call". libcontainer therefore puts a stub before
// libseccomp's program (libcontainer/seccomp/patchbpf): for each
// architecture the filter covers, a call numbered above the newest one the
// profile names answers ENOSYS; everything else goes on to the filter.
// This file builds a stub with that behaviour; its layout is our own (and,
// unlike libcontainer's, which follows Go map order, the same on every
// run).

// retENOSYS is SECCOMP_RET_ERRNO with ENOSYS, what the stub answers.
const retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// x32Bit marks an x32 system call on AUDIT_ARCH_X86_64.
const x32Bit = 0x40000000

// seccomp_data's offsets: the system call number, then the audit arch.
const (
	offNr   = 0
	offArch = 4
)

// enosysArch is one audit architecture of the stub.
type enosysArch struct {
	audit uint32
	// max is the newest system call number the profile names for the
	// architecture's main ABI; 0 leaves the ABI out of the stub (its calls
	// all go to the filter).
	max uint32
	// x32Max, on AUDIT_ARCH_X86_64 only, is the newest x32 number (bit 30
	// set) the profile names; 0 sends every x32 call to the filter.
	x32Max uint32
}

func stmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

const (
	ldAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgt    = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	jset   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	ja     = unix.BPF_JMP | unix.BPF_JA
	retK   = unix.BPF_RET | unix.BPF_K
	toNext = 0
)

// toFilter is an unconditional jump to the first instruction after the
// stub; enosysStub sets its offset once the stub's length is known.
var toFilter = stmt(ja, ^uint32(0))

// limit answers ENOSYS for a number above max (the accumulator holds the
// number) and sends the rest to the filter; max 0 sends everything there.
func limit(max uint32) []unix.SockFilter {
	if max == 0 {
		return []unix.SockFilter{toFilter}
	}
	return []unix.SockFilter{
		jump(jgt, max, toNext, 1),
		stmt(retK, retENOSYS),
		toFilter,
	}
}

// section is the stub's code for one architecture, entered with the
// architecture matched.
func (a enosysArch) section() []unix.SockFilter {
	s := []unix.SockFilter{stmt(ldAbs, offNr)}
	switch a.audit {
	case unix.AUDIT_ARCH_X86_64:
		main := limit(a.max)
		s = append(s, jump(jset, x32Bit, uint8(len(main)), toNext))
		s = append(s, main...)
		return append(s, limit(a.x32Max)...)
	case unix.AUDIT_ARCH_S390, unix.AUDIT_ARCH_S390X:
		// s390's setup(2), number 0, multiplexes the system calls with
		// large numbers; one the kernel does not know stays 0, so 0 must
		// answer ENOSYS too (libcontainer does the same). Jumps to
		// limit's return of ENOSYS (a.max is never 0 here).
		s = append(s, jump(jeq, 0, 1, toNext))
	}
	return append(s, limit(a.max)...)
}

// enosysStub builds the stub for archs, native first (it is the one
// matched most), the others in audit number order. Architectures without
// a number are left out; an empty result means no stub.
func enosysStub(archs []enosysArch, native uint32) ([]unix.SockFilter, error) {
	archs = slices.DeleteFunc(slices.Clone(archs), func(a enosysArch) bool { return a.max == 0 && a.x32Max == 0 })
	if len(archs) == 0 {
		return nil, nil
	}
	slices.SortFunc(archs, func(a, b enosysArch) int {
		switch {
		case a.audit == b.audit:
			return 0
		case a.audit == native:
			return -1
		case b.audit == native:
			return 1
		case a.audit < b.audit:
			return -1
		}
		return 1
	})
	for i := 1; i < len(archs); i++ {
		if archs[i].audit == archs[i-1].audit {
			return nil, fmt.Errorf("seccomp ENOSYS stub: architecture %#x twice", archs[i].audit)
		}
	}

	// ld arch; one jeq per architecture to its section; ja filter; the
	// sections.
	sections := make([][]unix.SockFilter, len(archs))
	for i, a := range archs {
		sections[i] = a.section()
	}
	stub := []unix.SockFilter{stmt(ldAbs, offArch)}
	skip := len(archs) // from the first jeq's successor to section 0
	for i, a := range archs {
		skip-- // one jeq fewer to pass
		dist := skip + 1
		for _, s := range sections[:i] {
			dist += len(s)
		}
		if dist > 255 {
			return nil, fmt.Errorf("seccomp ENOSYS stub: jump of %d instructions to architecture %#x", dist, a.audit)
		}
		stub = append(stub, jump(jeq, a.audit, uint8(dist), toNext))
	}
	stub = append(stub, toFilter)
	for _, s := range sections {
		stub = append(stub, s...)
	}
	for i := range stub {
		if stub[i] == toFilter {
			stub[i].K = uint32(len(stub) - i - 1)
		}
	}
	return stub, nil
}
