package monitor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/wine"
)

// TestFanoutJoinOffset: a client joining in the middle of a line gets the
// part of it already written (it is not in the log yet), and the offset it
// is given ends the log where its own output begins.
func TestFanoutJoinOffset(t *testing.T) {
	path := filepath.Join(wine.TempDir(t), "log")
	f := &Fanout{Log: NewJSONLog(path)}
	defer f.Log.Close()
	f.Write("stdout", []byte("one\ntw"))
	var got bytes.Buffer
	at := f.Add(NewSubscriber(&got, nil))
	f.Write("stdout", []byte("o\nthree"))
	f.End("stdout")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at <= 0 || at >= int64(len(b)) {
		t.Fatalf("offset %d of a %d-byte log", at, len(b))
	}
	if before := string(b[:at]); strings.Count(before, "\n") != 1 || !strings.Contains(before, `"log":"one\n"`) {
		t.Errorf("log before the offset: %q", before)
	}
	if after := string(b[at:]); !strings.Contains(after, `"log":"two\n"`) || !strings.Contains(after, `"log":"three"`) {
		t.Errorf("log after the offset: %q", after)
	}
	if got.String() != "two\nthree" {
		t.Errorf("the client got %q", got.String())
	}
	if n := NewJSONLog(path).Size(); n != int64(len(b)) {
		t.Errorf("size of a log not yet opened: %d, want %d", n, len(b))
	}
}
