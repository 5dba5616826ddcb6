package daemon

// An attach with logs and stream gives the container's output once and
// whole: the log up to where the client joined the live streams, then the
// streams. The shim (or, on Windows, the daemon's own fanout) says how far
// the log was written when the client joined; the live output that comes
// while the log is still being replayed waits in a gate.

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// decodeLogLine reads one line of a json-file log.
func decodeLogLine(b []byte) (logEntry, bool) {
	var l struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
	if json.Unmarshal(b, &l) != nil {
		return logEntry{}, false
	}
	return logEntry{Stream: l.Stream, Line: []byte(l.Log), Time: l.Time}, true
}

// replayLog writes the lines of c's log between the offsets from and to
// (to < 0: its end) to stdout and stderr (nil: not wanted), and returns
// the offset after the last whole line it read.
func (d *Daemon) replayLog(c *ctr, from, to int64, stdout, stderr io.Writer) (int64, error) {
	f, err := os.Open(d.logPath(c.rec.ID))
	if os.IsNotExist(err) {
		return from, nil
	}
	if err != nil {
		return from, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return from, err
	}
	var r io.Reader = f
	if to >= 0 {
		r = io.LimitReader(f, to-from)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	at := from
	for {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 || b[len(b)-1] != '\n' {
			// The end, or a line still being written: not read.
			if err == io.EOF {
				err = nil
			}
			return at, err
		}
		at += int64(len(b))
		e, ok := decodeLogLine(b)
		if !ok {
			continue
		}
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(e.Line); err != nil {
			return at, err
		}
	}
}

// gate holds what is written to it until it is opened, then writes it and
// all that follows to w, in order.
type gate struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	open bool
	err  error
}

func (g *gate) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.buf = append(g.buf, b...)
		return len(b), nil
	}
	if g.err != nil {
		return 0, g.err
	}
	return g.w.Write(b)
}

// Open writes what was held and lets writes through from now on.
func (g *gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return
	}
	g.open = true
	if len(g.buf) > 0 {
		_, g.err = g.w.Write(g.buf)
	}
	g.buf = nil
}

// gates holds writers closed until Open.
type gates []*gate

// add returns w behind a new closed gate (nil stays nil).
func (gs *gates) add(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	g := &gate{w: w}
	*gs = append(*gs, g)
	return g
}

// Open opens them all.
func (gs gates) Open() {
	for _, g := range gs {
		g.Open()
	}
}
