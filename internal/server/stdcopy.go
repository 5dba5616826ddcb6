package server

import (
	"encoding/binary"
	"io"
)

// Stream numbers of the multiplexed attach/logs framing (the Engine API's
// "stream format"): each frame is [stream, 0, 0, 0, size (big-endian
// uint32)] then size bytes.
const (
	streamStdout = 1
	streamStderr = 2
)

// framedWriter writes each Write as one frame of stream.
type framedWriter struct {
	w      io.Writer
	stream byte
}

func newFramedWriter(w io.Writer, stream byte) io.Writer { return &framedWriter{w: w, stream: stream} }

func (f *framedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf := make([]byte, 8+len(p))
	buf[0] = f.stream
	binary.BigEndian.PutUint32(buf[4:], uint32(len(p)))
	copy(buf[8:], p)
	if _, err := f.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
