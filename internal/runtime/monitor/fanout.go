package monitor

import (
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

// Fanout are the clients attached to a container's output: each gets the
// output from the moment it attaches, as it comes.
type Fanout struct {
	mu   sync.Mutex
	subs map[*Subscriber]struct{}
}

// Add attaches x.
func (f *Fanout) Add(x *Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*Subscriber]struct{}{}
	}
	f.subs[x] = struct{}{}
}

// Remove detaches x.
func (f *Fanout) Remove(x *Subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, x)
}

// Write gives b to every attached client. A client that cannot take it
// (it went away) is dropped. A slow client slows the container's output,
// as with Docker's attach.
func (f *Fanout) Write(stream string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for x := range f.subs {
		w := x.Stdout
		if stream == "stderr" {
			w = x.Stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(b); err != nil {
			delete(f.subs, x)
			close(x.Gone)
		}
	}
}

// orNil keeps a nil *os.File a nil io.Writer.
func orNil(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}
