package seccompprog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Program is a seccomp filter ready for the kernel: what libcontainer's
// init would pass to seccomp(2) for the same profile.
type Program struct {
	// Filter is the classic BPF program, libseccomp's filter behind an
	// ENOSYS stub, in the host's byte order as the kernel reads it.
	Filter []unix.SockFilter
	// Flags are the SECCOMP_FILTER_FLAG_* bits for seccomp(2): LOG,
	// SPEC_ALLOW, WAIT_KILLABLE_RECV. Zero loads with
	// prctl(PR_SET_SECCOMP), as libcontainer does.
	Flags uint
	// NoNewPrivs is true when libcontainer's loading path would set
	// no_new_privs itself before loading (libseccomp's NNP attribute).
	// libcontainer clears that attribute, so it is false for every
	// profile; it is kept so that the file says what the loader must do.
	NoNewPrivs bool
}

// The file format (version 1), every integer little-endian:
//
//	offset  size     field
//	0       8        magic "hullbpf\n"
//	8       4        format version (1)
//	12      4        seccomp(2) flags (Program.Flags)
//	16      4        options: bit 0 = no_new_privs (Program.NoNewPrivs)
//	20      4        n, the number of instructions (1..4096)
//	24      8n       instructions: code u16, jt u8, jf u8, k u32
//	24+8n   32       sha256 of bytes [0, 24+8n)
//
// The checksum makes a truncated, torn or corrupt file an error rather
// than a filter: a file that does not check is never loaded.
const (
	magic = "hullbpf\n"
	// FormatVersion is the file format's version (a part of every cache key).
	FormatVersion = 1
	headerSize    = 24
	trailerSize   = sha256.Size
	// maxInsns is the kernel's BPF_MAXINSNS.
	maxInsns = 4096
	// MaxFileSize bounds what ReadProgram reads.
	MaxFileSize = headerSize + 8*maxInsns + trailerSize

	optNoNewPrivs = 1 << 0

	// knownFlags are the seccomp(2) flags a Program may carry. NEW_LISTENER
	// is not among them: a notify filter needs libcontainer's init, which
	// hands the listener to an agent.
	knownFlags = unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
)

// errCorrupt classifies every way a file can fail to be a Program.
var errCorrupt = errors.New("not a valid seccomp program file")

// Check says whether p is a program this format and loader take: 1 to
// BPF_MAXINSNS instructions and only the flags they know.
func (p *Program) Check() error {
	if n := len(p.Filter); n == 0 || n > maxInsns {
		return fmt.Errorf("seccomp program of %d instructions: the kernel takes 1 to %d", n, maxInsns)
	}
	if p.Flags&^uint(knownFlags) != 0 {
		return fmt.Errorf("seccomp program flags %#x: only LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV (%#x) are supported", p.Flags, knownFlags)
	}
	return nil
}

// MarshalBinary encodes p in the file format described above.
func (p *Program) MarshalBinary() ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	b := make([]byte, headerSize, headerSize+8*len(p.Filter)+trailerSize)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], FormatVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(p.Flags))
	var opts uint32
	if p.NoNewPrivs {
		opts |= optNoNewPrivs
	}
	binary.LittleEndian.PutUint32(b[16:], opts)
	binary.LittleEndian.PutUint32(b[20:], uint32(len(p.Filter)))
	for _, in := range p.Filter {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// UnmarshalBinary decodes the file format into p. Anything but a whole,
// checked file of this version is an error wrapping errCorrupt and leaves p
// unchanged.
func (p *Program) UnmarshalBinary(b []byte) error {
	if len(b) < headerSize+trailerSize || !bytes.Equal(b[:8], []byte(magic)) {
		return fmt.Errorf("%w: no header", errCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != FormatVersion {
		return fmt.Errorf("%w: format version %d, want %d", errCorrupt, v, FormatVersion)
	}
	n := binary.LittleEndian.Uint32(b[20:])
	if n == 0 || n > maxInsns {
		return fmt.Errorf("%w: %d instructions", errCorrupt, n)
	}
	body := headerSize + 8*int(n)
	if len(b) != body+trailerSize {
		return fmt.Errorf("%w: %d bytes for %d instructions, want %d", errCorrupt, len(b), n, body+trailerSize)
	}
	if sum := sha256.Sum256(b[:body]); !bytes.Equal(sum[:], b[body:]) {
		return fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	opts := binary.LittleEndian.Uint32(b[16:])
	if opts&^optNoNewPrivs != 0 {
		return fmt.Errorf("%w: unknown options %#x", errCorrupt, opts)
	}
	q := Program{
		Flags:      uint(binary.LittleEndian.Uint32(b[12:])),
		NoNewPrivs: opts&optNoNewPrivs != 0,
		Filter:     make([]unix.SockFilter, n),
	}
	for i := range q.Filter {
		in := b[headerSize+8*i:]
		q.Filter[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(in),
			Jt:   in[2],
			Jf:   in[3],
			K:    binary.LittleEndian.Uint32(in[4:]),
		}
	}
	if err := q.Check(); err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	*p = q
	return nil
}

// ReadProgram reads a Program in the file format from r.
func ReadProgram(r io.Reader) (*Program, error) {
	p, err := readProgram(r)
	if err != nil {
		return nil, fmt.Errorf("read seccomp program: %w", err)
	}
	return p, nil
}

// ReadProgramFile reads the Program in the file at path (what Cached
// returns).
func ReadProgramFile(path string) (*Program, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read seccomp program: %w", err)
	}
	defer f.Close()
	p, err := readProgram(f)
	if err != nil {
		return nil, fmt.Errorf("read seccomp program %s: %w", path, err)
	}
	return p, nil
}

func readProgram(r io.Reader) (*Program, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", errCorrupt, MaxFileSize)
	}
	p := new(Program)
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return p, nil
}
