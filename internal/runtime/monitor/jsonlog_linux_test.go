package monitor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestJSONLogPartialWrite: on a one-page tmpfs a line that only partly
// fits is taken back, so the log stays whole lines, and a shorter line
// that fits after it is written.
func TestJSONLogPartialWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("jsonlogtest", dir, "tmpfs", 0, "size=4k"); err != nil {
		t.Skipf("mount a tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	path := filepath.Join(dir, "c.log")
	l := NewJSONLog(path)
	long := bytes.Repeat([]byte("a"), 900)
	for range 5 { // 4 lines fit in the page, the 5th only in part
		l.Write("stdout", long)
	}
	if n := l.Dropped(); n != 1 {
		t.Errorf("dropped %d lines, want 1", n)
	}
	l.Write("stdout", []byte("short\n"))
	if n := l.Dropped(); n != 1 {
		t.Errorf("dropped %d lines after a short one, want still 1", n)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 5 || l.Size() != int64(len(b)) {
		t.Fatalf("%d lines, %d bytes (size %d), want 4 long ones and the short one", len(lines), len(b), l.Size())
	}
	for i, s := range lines {
		var e struct{ Log string }
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			t.Errorf("line %d: %v: %.60q…", i, err, s)
		}
	}
}
