package seccompbpf_test

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData is the kernel's struct seccomp_data: what a filter reads.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

// word is the 32-bit word at byte offset off of seccomp_data as a
// little-endian host lays it out (the low half of a 64-bit field first),
// which is how libseccomp's x86 programs read it.
func (d *seccompData) word(off uint32) (uint32, error) {
	if off%4 != 0 || off >= 64 {
		return 0, fmt.Errorf("load at offset %d of seccomp_data", off)
	}
	switch off {
	case 0:
		return d.nr, nil
	case 4:
		return d.arch, nil
	case 8:
		return uint32(d.ip), nil
	case 12:
		return uint32(d.ip >> 32), nil
	}
	v := d.args[(off-16)/8]
	if (off-16)%8 == 4 {
		v >>= 32
	}
	return uint32(v), nil
}

// bytes lays seccomp_data out for golang.org/x/net/bpf's VM, whose loads
// read big-endian: each 32-bit word at its own offset, big-endian, so that
// the VM loads the same values as the kernel on this host.
func (d *seccompData) bytes() []byte {
	b := make([]byte, 64)
	for off := uint32(0); off < 64; off += 4 {
		w, _ := d.word(off)
		binary.BigEndian.PutUint32(b[off:], w)
	}
	return b
}

// eval runs a classic BPF seccomp program on d as the kernel does and
// returns its verdict (SECCOMP_RET_*). It knows every instruction
// seccomp's checker admits; any other one, a load out of seccomp_data or
// running off the end is an error.
func eval(prog []unix.SockFilter, d *seccompData) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		k := in.K
		var err error
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a, err = d.word(k)
		case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
			a = 64
		case unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN:
			x = 64
		case unix.BPF_LD | unix.BPF_IMM:
			a = k
		case unix.BPF_LDX | unix.BPF_IMM:
			x = k
		case unix.BPF_LD | unix.BPF_MEM, unix.BPF_LDX | unix.BPF_MEM, unix.BPF_ST, unix.BPF_STX:
			if k >= 16 {
				return 0, fmt.Errorf("pc %d: scratch slot %d", pc, k)
			}
			switch in.Code {
			case unix.BPF_LD | unix.BPF_MEM:
				a = mem[k]
			case unix.BPF_LDX | unix.BPF_MEM:
				x = mem[k]
			case unix.BPF_ST:
				mem[k] = a
			default:
				mem[k] = x
			}
		case unix.BPF_MISC | unix.BPF_TAX:
			x = a
		case unix.BPF_MISC | unix.BPF_TXA:
			a = x
		case unix.BPF_RET | unix.BPF_K:
			return k, nil
		case unix.BPF_RET | unix.BPF_A:
			return a, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(k)
		default:
			switch in.Code & 0x07 {
			case unix.BPF_ALU:
				operand := k
				if in.Code&unix.BPF_X != 0 {
					operand = x
				}
				switch in.Code &^ (0x07 | unix.BPF_X) {
				case unix.BPF_ADD:
					a += operand
				case unix.BPF_SUB:
					a -= operand
				case unix.BPF_MUL:
					a *= operand
				case unix.BPF_DIV:
					if operand == 0 {
						return 0, nil // the kernel's answer to a division by zero
					}
					a /= operand
				case unix.BPF_MOD:
					if operand == 0 {
						return 0, nil
					}
					a %= operand
				case unix.BPF_AND:
					a &= operand
				case unix.BPF_OR:
					a |= operand
				case unix.BPF_XOR:
					a ^= operand
				case unix.BPF_LSH:
					a <<= operand & 31
				case unix.BPF_RSH:
					a >>= operand & 31
				case unix.BPF_NEG:
					a = -a
				default:
					return 0, fmt.Errorf("pc %d: ALU code %#x", pc, in.Code)
				}
			case unix.BPF_JMP:
				operand := k
				if in.Code&unix.BPF_X != 0 {
					operand = x
				}
				var cond bool
				switch in.Code &^ (0x07 | unix.BPF_X) {
				case unix.BPF_JEQ:
					cond = a == operand
				case unix.BPF_JGT:
					cond = a > operand
				case unix.BPF_JGE:
					cond = a >= operand
				case unix.BPF_JSET:
					cond = a&operand != 0
				default:
					return 0, fmt.Errorf("pc %d: jump code %#x", pc, in.Code)
				}
				if cond {
					pc += int(in.Jt)
				} else {
					pc += int(in.Jf)
				}
			default:
				return 0, fmt.Errorf("pc %d: code %#x", pc, in.Code)
			}
		}
		if err != nil {
			return 0, fmt.Errorf("pc %d: %w", pc, err)
		}
	}
	return 0, fmt.Errorf("program of %d instructions ran off its end", len(prog))
}

// newVM loads prog into golang.org/x/net/bpf's VM, an evaluator that is
// not ours, to check eval against; run it on seccompData.bytes().
func newVM(prog []unix.SockFilter) (*bpf.VM, error) {
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, fmt.Errorf("x/net/bpf cannot disassemble the program")
	}
	return bpf.NewVM(insns)
}
