//go:build !windows

package shimapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// Send writes v as one message on c (a SOCK_SEQPACKET connection), with fds.
func Send(c *net.UnixConn, v any, fds ...*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		ints := make([]int, len(fds))
		for i, f := range fds {
			ints[i] = int(f.Fd())
		}
		oob = unix.UnixRights(ints...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// maxFds is the most descriptors a message carries (Request.Fds names
// four; Recv takes up to twice as many).
const maxFds = 8

// Recv reads one message into v and returns the descriptors sent with it
// (close-on-exec). A closed connection is io.EOF.
func Recv(c *net.UnixConn, v any) ([]*os.File, error) {
	// A message is read whole; peek at its length first, so that a shim
	// does not hold a large buffer for a small request.
	size := 64 << 10
	if rc, err := c.SyscallConn(); err == nil {
		rc.Read(func(fd uintptr) bool {
			n, _, err := unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_TRUNC)
			if err == unix.EAGAIN {
				return false
			}
			if err == nil && n > 0 {
				size = n
			}
			return true
		})
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(4*maxFds))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				files = append(files, os.NewFile(uintptr(fd), "fd"))
			}
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		// More descriptors than a message of the protocol carries: the
		// kernel closed the ones that did not fit. Refuse the message
		// rather than act on part of it.
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("shim message with more than %d descriptors: %w", maxFds, errdefs.ErrInvalidArgument)
	}
	if n == 0 {
		return files, io.EOF
	}
	return files, json.Unmarshal(buf[:n], v)
}
