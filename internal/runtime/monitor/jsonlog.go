package monitor

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// JSONLog writes a container's output in Docker's json-file format, one
// JSON object per line: {"log","stream","time"}.
type JSONLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// NewJSONLog returns the log at path (created on first write).
func NewJSONLog(path string) *JSONLog { return &JSONLog{path: path} }

// Write appends one line of stream.
func (l *JSONLog) Write(stream string, line []byte) {
	b, _ := json.Marshal(struct {
		Log    string `json:"log"`
		Stream string `json:"stream"`
		Time   string `json:"time"`
	}{string(line), stream, time.Now().UTC().Format(time.RFC3339Nano)})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return
		}
		l.f = f
	}
	l.f.Write(append(b, '\n'))
}

// maxLogLine is where a line without a newline is cut in the log, as
// Docker's json-file driver cuts at 16 KiB.
const maxLogLine = 16 << 10

// Pump copies one output stream of a container, as it comes, to tee (the
// attached clients) and, line by line, to the log, until the stream ends.
func Pump(stream string, r io.Reader, log *JSONLog, tee func([]byte)) {
	buf := make([]byte, 32<<10)
	var line []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			tee(buf[:n])
			line = append(line, buf[:n]...)
			for {
				i := bytes.IndexByte(line, '\n')
				if i < 0 && len(line) < maxLogLine {
					break
				}
				if i < 0 || i >= maxLogLine {
					i = maxLogLine - 1
				}
				log.Write(stream, line[:i+1])
				line = line[i+1:]
			}
			line = append([]byte(nil), line...)
		}
		if err != nil {
			if len(line) > 0 {
				log.Write(stream, line)
			}
			return
		}
	}
}
