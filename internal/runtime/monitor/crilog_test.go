package monitor

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/wine"
)

// TestCRILog: through the fanout, whole lines are F, a line longer than
// 16 KiB is cut into P parts ending with an F, a stream's unfinished end is
// P; the time is RFC 3339 with nanoseconds; Reopen makes a new file at once
// after the old one was moved away.
func TestCRILog(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CRI logs are hull-shim's, on Linux: their rotation renames the open log, which Windows refuses")
	}
	dir := wine.TempDir(t)
	path := filepath.Join(dir, "0.log")
	f := &Fanout{Log: NewCRILog(path)}
	f.Write("stdout", []byte("hello\nwor"))
	f.Write("stdout", []byte("ld\n"))
	f.Write("stderr", []byte(strings.Repeat("x", maxLogLine+10)+"\n"))
	f.Write("stdout", []byte("no newline"))
	f.End("stdout")
	f.End("stderr")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^(\S+) (stdout|stderr) (P|F) (.*)$`)
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %.80q is not in the CRI format", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil || !strings.HasSuffix(m[1], "Z") {
			t.Errorf("time %q: %v", m[1], err)
		}
		got = append(got, m[2]+" "+m[3]+" "+strings.ReplaceAll(m[4], strings.Repeat("x", 100), "x*100"))
	}
	part := strings.Repeat("x*100", (maxLogLine)/100) + strings.Repeat("x", maxLogLine%100)
	want := []string{"stdout F hello", "stdout F world", "stderr P " + part, "stderr F " + strings.Repeat("x", 10), "stdout P no newline"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("CRI log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Log.Reopen(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 0 {
		t.Fatalf("after Reopen: %v %v, want an empty new file", st, err)
	}
	f.Write("stdout", []byte("after\n"))
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), " stdout F after\n") {
		t.Errorf("the reopened log: %q", b)
	}
	if b, _ := os.ReadFile(path + ".1"); strings.Contains(string(b), "after") {
		t.Errorf("a line went to the moved log: %q", b)
	}
}
