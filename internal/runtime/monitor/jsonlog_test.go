package monitor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/wine"
)

// TestJSONLogDrops: lines that cannot be written are counted, whole; the
// lines written before and after stay whole JSON lines.
func TestJSONLogDrops(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	full := NewJSONLog("/dev/full") // every write: no space left on device
	for range 3 {
		full.Write("stdout", []byte("lost\n"))
	}
	if n := full.Dropped(); n != 3 {
		t.Errorf("dropped %d lines, want 3", n)
	}

	missing := NewJSONLog(filepath.Join(wine.TempDir(t), "gone", "x.log")) // cannot be opened
	missing.Write("stderr", []byte("lost\n"))
	if n := missing.Dropped(); n != 1 {
		t.Errorf("dropped %d lines of a log that cannot be opened, want 1", n)
	}

	path := filepath.Join(wine.TempDir(t), "c.log")
	ok := NewJSONLog(path)
	defer ok.Close()
	ok.Write("stdout", []byte("one\n"))
	ok.Write("stdout", []byte("two\n"))
	if n := ok.Dropped(); n != 0 {
		t.Errorf("dropped %d lines of a writable log", n)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %q", b)
	}
	for _, l := range lines {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("line %q: %v", l, err)
		}
	}
}
