package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// JSONLog writes a container's output in Docker's json-file format, one
// JSON object per line: {"log","stream","time"}.
//
// A line that cannot be written (the disk is full) is dropped whole, never
// left half written, and counted: Dropped gives the count, and the shim's
// own log says when lines start to be lost and how many once writing works
// again. dockerd's json-file logger drops them the same way.
type JSONLog struct {
	path string
	// cri writes the Kubernetes CRI's format instead (NewCRILog).
	cri bool
	mu  sync.Mutex
	f   *os.File
	// size is the file's size while f is open.
	size int64
	// dropped counts the lines lost since the log was made; losing those
	// of the current run of failures (0 while writes succeed).
	dropped, losing uint64
}

// NewJSONLog returns the log at path (created on first write).
func NewJSONLog(path string) *JSONLog { return &JSONLog{path: path} }

// NewCRILog returns a log at path in the format of the Kubernetes CRI, one
// line per line of output: "<RFC3339Nano time> <stream> <F|P> <line>", F
// for a line that ended with a newline (left out), P for a part of a
// longer line (cut at 16 KiB) or the unfinished end of a stream.
func NewCRILog(path string) *JSONLog { return &JSONLog{path: path, cri: true} }

// Write appends one line of stream.
func (l *JSONLog) Write(stream string, line []byte) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var b []byte
	if l.cri {
		tag, content := "P", line
		if c, ok := bytes.CutSuffix(line, []byte("\n")); ok {
			tag, content = "F", c
		}
		b = append([]byte(now+" "+stream+" "+tag+" "), content...)
	} else {
		b, _ = json.Marshal(struct {
			Log    string `json:"log"`
			Stream string `json:"stream"`
			Time   string `json:"time"`
		}{string(line), stream, now})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			l.drop(err)
			return
		}
		l.f = f
		if st, err := f.Stat(); err == nil {
			l.size = st.Size()
		}
	}
	n, err := l.f.Write(append(b, '\n'))
	if err != nil {
		// Take back the part written, so that the next line starts a
		// line of its own; appends go to the end the truncate leaves.
		if n > 0 && l.f.Truncate(l.size) != nil {
			l.size += int64(n)
		}
		l.drop(err)
		return
	}
	l.size += int64(n)
	if l.losing > 0 {
		slog.Warn("container log written again", "log", l.path, "lost", l.losing, "lost_total", l.dropped)
		l.losing = 0
	}
}

// Reopen closes the log's file and opens the file at its path again,
// creating it: the file was moved away (log rotation) and the lines that
// follow go to a new one. It returns once the new file exists.
func (l *JSONLog) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopen the log %s: %w", l.path, err)
	}
	l.f = f
	st, err := f.Stat()
	if err != nil {
		return err
	}
	l.size = st.Size()
	return nil
}

// Close closes the log's file; a line written after it opens the file
// again. On Windows a file held open cannot be removed: the daemon closes
// a container's log when its output has all been read.
func (l *JSONLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// drop counts a line lost to err; the first of a run is logged.
// Preconditions: l.mu is held.
func (l *JSONLog) drop(err error) {
	l.dropped++
	if l.losing++; l.losing == 1 {
		slog.Warn("container log lines lost: the log cannot be written", "log", l.path, "error", err)
	}
}

// Dropped is the number of lines lost because the log could not be
// written.
func (l *JSONLog) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Size is the log's size: the offset at which the next line will be
// written.
func (l *JSONLog) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return l.size
	}
	st, err := os.Stat(l.path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// maxLogLine is where a line without a newline is cut in the log, as
// Docker's json-file driver cuts at 16 KiB.
const maxLogLine = 16 << 10

// Pump copies one output stream of a container to out — its attached
// clients as it comes, its log line by line — until the stream ends.
func Pump(stream string, r io.Reader, out *Fanout) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			out.Write(stream, buf[:n])
		}
		if err != nil {
			out.End(stream)
			return
		}
	}
}
