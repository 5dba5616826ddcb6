package wine

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestRunning: under hack/wine.sh the Windows test binaries run in Wine
// (it sets WINEPREFIX for the Wine process, which Windows programs see);
// anywhere else Running is false.
func TestRunning(t *testing.T) {
	want := runtime.GOOS == "windows" && os.Getenv("WINEPREFIX") != ""
	if got := Running(); got != want {
		t.Fatalf("Running() = %v, want %v (GOOS %s, WINEPREFIX %q)", got, want, runtime.GOOS, os.Getenv("WINEPREFIX"))
	}
}

// TestTempDirRemoved: a temp folder with files two levels down is gone
// after its test, under Wine too.
func TestTempDirRemoved(t *testing.T) {
	var dir string
	t.Run("make", func(t *testing.T) {
		dir = TempDir(t)
		if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"f", "a/g", "a/b/h"} {
			if err := os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s remains after its test: %v", dir, err)
	}
}
