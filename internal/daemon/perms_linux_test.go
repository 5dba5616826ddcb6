package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecureRoots: a fresh pair of roots gets the table's modes, and a
// data root as an older hull left it (0711, volumes 0755, a database
// readable by all) is closed again; a second pass changes nothing.
func TestSecureRoots(t *testing.T) {
	base := t.TempDir()
	root, execRoot := filepath.Join(base, "root"), filepath.Join(base, "run")
	check := func(when string) {
		t.Helper()
		want := map[string]os.FileMode{
			filepath.Join(root, "volumes", "old"):          volumeDirMode,
			filepath.Join(root, "volumes", "old", "_data"): 0o755,
			filepath.Join(root, "hull.db"):                 0o600,
		}
		for _, f := range rootFolders(root, execRoot) {
			want[f.path] = f.mode
		}
		for p, m := range want {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSetuid | os.ModeSticky); got != m {
				t.Errorf("%s: %s is %04o, want %04o", when, p, got, m)
			}
		}
	}
	for p, m := range map[string]os.FileMode{root: 0o711, filepath.Join(root, "containers"): 0o711, filepath.Join(root, "volumes"): 0o755,
		filepath.Join(root, "volumes", "old"): 0o755, filepath.Join(root, "volumes", "old", "_data"): 0o755, execRoot: 0o755,
		filepath.Join(execRoot, "netns"): 0o755, filepath.Join(execRoot, "runtime", "shims"): 0o711} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "hull.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o2711); err != nil {
		t.Fatal(err)
	}
	if err := secureRoots(root, execRoot); err != nil {
		t.Fatal(err)
	}
	check("an older hull's roots")
	if err := secureRoots(root, execRoot); err != nil {
		t.Fatal(err)
	}
	check("again")

	fresh := t.TempDir()
	root, execRoot = filepath.Join(fresh, "a", "root"), filepath.Join(fresh, "b", "run")
	if err := secureRoots(root, execRoot); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "volumes", "old", "_data"), 0o755)
	os.Chmod(filepath.Join(root, "volumes", "old"), volumeDirMode)
	os.WriteFile(filepath.Join(root, "hull.db"), nil, 0o600)
	check("new roots")
}
