package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/hullproject/hull/internal/wine"
)

// TestReconcileVolumes: what a volume create or remove cut short leaves is
// finished at the next start, and nothing else is touched.
func TestReconcileVolumes(t *testing.T) {
	wine.Skip(t, "the POSIX-semantics delete os.RemoveAll uses (a volume's data folder is removed with it)")
	d := testDaemonDB(t)
	d.cfg.Root = wine.TempDir(t)
	for _, name := range []string{"whole", "used", "removed"} {
		if _, err := d.createVolume(name, nil, nil, false, ""); err != nil {
			t.Fatal(err)
		}
	}
	// A container uses "used", whose folder went by some other hand.
	c := &ctr{rec: record{ID: newID(), Mounts: []mountPoint{{Type: mount.TypeVolume, Name: "used"}}}}
	d.ctrs[c.rec.ID] = c
	for _, name := range []string{"used", "removed"} {
		if err := os.RemoveAll(d.volumeDir(name)); err != nil {
			t.Fatal(err)
		}
	}
	// A create cut short: the folder, no record; and a file that is no
	// volume's.
	if err := os.MkdirAll(filepath.Join(d.volumeDir("made"), "_data", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.cfg.Root, "volumes", "notes"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	d.reconcileVolumes(context.Background())

	for name, want := range map[string]bool{"whole": true, "used": true, "removed": false, "made": false} {
		if _, err := d.getVolume(name); (err == nil) != want {
			t.Errorf("volume %s: record kept %v, want %v", name, err == nil, want)
		}
	}
	for p, want := range map[string]bool{d.volumeDataDir("whole"): true, d.volumeDir("made"): false, filepath.Join(d.cfg.Root, "volumes", "notes"): true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
}
