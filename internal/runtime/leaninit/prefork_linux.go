package leaninit

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// takeDescriptors receives a pre-forked init's descriptors, which come
// with the first bytes of its config's length (returned), and puts each
// in its place: 0, 1, 2, then 4, 5… (3 is the sync socket); the places
// left over are closed.
func takeDescriptors() ([]byte, error) {
	buf := make([]byte, 4)
	oob := make([]byte, unix.CmsgSpace(4*(3+PreforkPlaces)))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(SyncFd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("receive descriptors: %w", err)
	}
	if n == 0 {
		return nil, errors.New("receive descriptors: the shim went away")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive descriptors: %d control messages (%v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("receive descriptors: %w", err)
	}
	if len(fds) < 4 || len(fds) > 3+PreforkPlaces {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive descriptors: %d, want stdio, the exec fifo and at most %d more", len(fds), PreforkPlaces-1)
	}
	// Out of the way of every place first, then into them.
	high := make([]int, len(fds))
	for i, fd := range fds {
		h, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
		if err != nil {
			return nil, err
		}
		unix.Close(fd)
		high[i] = h
	}
	for i, h := range high {
		place := i
		if place >= SyncFd {
			place++
		}
		if err := unix.Dup3(h, place, 0); err != nil {
			return nil, fmt.Errorf("descriptor %d: %w", place, err)
		}
		unix.Close(h)
	}
	for place := len(fds) + 1; place <= SyncFd+PreforkPlaces; place++ {
		unix.Close(place)
	}
	return buf[:n], nil
}
