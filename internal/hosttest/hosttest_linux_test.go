package hosttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestHoldLastWritesBack: two holders (the second in another process, as
// go test's packages are); the first to let go leaves the setting as the
// other needs it, the last puts back the value from before both.
func TestHoldLastWritesBack(t *testing.T) {
	if os.Getenv("HOSTTEST_CHILD") != "" {
		Dir = os.Getenv("HOSTTEST_DIR")
		release := Hold(os.Getenv("HOSTTEST_FILE"))
		os.WriteFile(os.Getenv("HOSTTEST_FILE"), []byte("child"), 0o644)
		os.Stdout.WriteString("held\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf) // until the parent says
		release()
		return
	}
	Dir = t.TempDir()
	setting := filepath.Join(t.TempDir(), "forwarding")
	os.WriteFile(setting, []byte("0\n"), 0o644)

	release := Hold(setting)
	os.WriteFile(setting, []byte("1\n"), 0o644)

	child := exec.Command(os.Args[0], "-test.run=^TestHoldLastWritesBack$")
	child.Env = append(os.Environ(), "HOSTTEST_CHILD=1", "HOSTTEST_FILE="+setting, "HOSTTEST_DIR="+Dir)
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("child: %q %v", buf, err)
	}
	release()
	if b, _ := os.ReadFile(setting); string(b) != "child" {
		t.Errorf("the first to let go wrote %q while another held", b)
	}
	stdin.Write([]byte("x"))
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(setting); string(b) != "0\n" {
		t.Errorf("after the last let go: %q, want the value from before both", b)
	}
	if _, err := os.Stat(filepath.Join(Dir, savedName)); !os.IsNotExist(err) {
		t.Errorf("the recorded values are left: %v", err)
	}
}
