package monitor

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// Subscriber is one attached client's output.
type Subscriber struct {
	Stdout, Stderr io.Writer
	// Gone is closed when a write to the client failed.
	Gone chan struct{}
}

// NewSubscriber returns a client taking stdout and stderr (either nil).
func NewSubscriber(stdout, stderr io.Writer) *Subscriber {
	return &Subscriber{Stdout: stdout, Stderr: stderr, Gone: make(chan struct{})}
}

// Fanout is where a container's output goes: to the clients attached to
// it, as it comes, and line by line to its log. Both are written under one
// lock, so that a client attaching learns the log's size at that moment:
// every byte of output is either in the log before that offset or written
// to the client (the part of a line not yet logged is given to the client
// when it joins). An attach with logs replays the log up to the offset and
// loses nothing and repeats nothing.
type Fanout struct {
	// Log takes whole lines (nil: no log).
	Log *JSONLog

	mu   sync.Mutex
	subs map[*Subscriber]struct{}
	// partial is each stream's line begun but not yet logged.
	partial map[string][]byte
}

// Add attaches x and returns the log's size at that moment (-1 without a
// log).
func (f *Fanout) Add(x *Subscriber) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*Subscriber]struct{}{}
	}
	f.subs[x] = struct{}{}
	for _, stream := range []string{"stdout", "stderr"} {
		if b := f.partial[stream]; len(b) > 0 {
			f.writeTo(x, stream, b)
		}
	}
	if f.Log == nil {
		return -1
	}
	return f.Log.Size()
}

// Remove detaches x.
func (f *Fanout) Remove(x *Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, x)
}

// Write gives b, output of stream, to every attached client and logs the
// lines it completes. A client that cannot take it (it went away) is
// dropped. A slow client slows the container's output, as with Docker's
// attach.
func (f *Fanout) Write(stream string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for x := range f.subs {
		f.writeTo(x, stream, b)
	}
	line := append(f.partial[stream], b...)
	for {
		i := bytes.IndexByte(line, '\n')
		if i < 0 && len(line) < maxLogLine {
			break
		}
		if i < 0 || i >= maxLogLine {
			i = maxLogLine - 1
		}
		f.log(stream, line[:i+1])
		line = line[i+1:]
	}
	if f.partial == nil {
		f.partial = map[string][]byte{}
	}
	f.partial[stream] = append([]byte(nil), line...)
}

// End logs what is left of stream's last line: the stream has ended.
func (f *Fanout) End(stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.partial[stream]; len(b) > 0 {
		f.log(stream, b)
	}
	delete(f.partial, stream)
}

func (f *Fanout) log(stream string, line []byte) {
	if f.Log != nil {
		f.Log.Write(stream, line)
	}
}

// writeTo gives b to x; f.mu is held.
func (f *Fanout) writeTo(x *Subscriber, stream string, b []byte) {
	if _, ok := f.subs[x]; !ok {
		return
	}
	w := x.Stdout
	if stream == "stderr" {
		w = x.Stderr
	}
	if w == nil {
		return
	}
	if _, err := w.Write(b); err != nil {
		delete(f.subs, x)
		close(x.Gone)
	}
}

// orNil keeps a nil *os.File a nil io.Writer.
func orNil(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}
