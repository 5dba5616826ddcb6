package layer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/layer/layertest"
)

// TestDiscard: a discarded layer is out of the store at once — unmounted,
// not listed, its id free, refused while a layer stands on it or, without
// force, while mounted — and its files wait in the trash, in the store's
// folder, until EmptyTrash; the trash survives a reopening of the store
// (what a daemon that died left) and a layer discarded twice under one id
// keeps two entries.
func TestDiscard(t *testing.T) {
	needMounts(t)
	ctx := context.Background()
	root := t.TempDir()
	s, base, scratch := storeWithScratch(t, root)
	trash := filepath.Join(root, "layers", ".trash")
	inTrash := func() int { ents, _ := os.ReadDir(trash); return len(ents) }
	mkBase := func() { t.Helper(); createBase(t, s) }
	merged, err := s.Mount(ctx, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(merged, "written"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, base, false); !errdefs.IsConflict(err) {
		t.Errorf("discard of a layer another stands on: %v, want a conflict", err)
	}
	if err := s.Discard(ctx, scratch, false); !errdefs.IsConflict(err) {
		t.Errorf("discard of a mounted layer without force: %v, want a conflict", err)
	}
	if err := s.Discard(ctx, scratch, true); err != nil {
		t.Fatal(err)
	}
	if mi, _ := os.ReadFile("/proc/thread-self/mountinfo"); strings.Contains(string(mi), scratch) {
		t.Errorf("the discarded layer is still mounted")
	}
	if _, err := s.Get(ctx, scratch); !errdefs.IsNotFound(err) {
		t.Errorf("get of a discarded layer: %v, want not found", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != base {
		t.Errorf("list after the discard: %+v %v, want the base only", list, err)
	}
	if n := inTrash(); n != 1 {
		t.Fatalf("trash entries: %d, want 1", n)
	}
	ents, _ := os.ReadDir(trash)
	if b, err := os.ReadFile(filepath.Join(trash, ents[0].Name(), "diff", "written")); err != nil || string(b) != "y" {
		t.Errorf("the layer's files in the trash: %q %v", b, err)
	}
	// The id is free at once; discarded again, it takes a second entry.
	if err := s.Discard(ctx, base, false); err != nil {
		t.Fatal(err)
	}
	mkBase()
	if err := s.Discard(ctx, base, false); err != nil {
		t.Fatal(err)
	}
	if n := inTrash(); n != 3 {
		t.Errorf("trash entries: %d, want 3", n)
	}
	// A store opened again (a daemon that died) keeps the trash for
	// EmptyTrash.
	if s, err = layer.NewStore(ctx, root); err != nil {
		t.Fatal(err)
	}
	if n := inTrash(); n != 3 {
		t.Errorf("trash entries after reopening: %d, want 3", n)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.EmptyTrash(cancelled); err == nil || inTrash() != 3 {
		t.Errorf("EmptyTrash with its context done: %v, %d entries left, want an error and 3", err, inTrash())
	}
	if err := s.EmptyTrash(ctx); err != nil {
		t.Fatal(err)
	}
	if n := inTrash(); n != 0 {
		t.Errorf("trash entries after EmptyTrash: %d", n)
	}
}

// TestMountVolatile: a scratch layer mounted volatile has overlayfs's
// volatile option (no sync at its unmount), and mounts again after a clean
// unmount, volatile or not (overlayfs refuses while its mark is there).
func TestMountVolatile(t *testing.T) {
	needMounts(t)
	ctx := context.Background()
	s, _, scratch := storeWithScratch(t, t.TempDir())
	t.Cleanup(func() { s.Remove(ctx, scratch, true) })
	options := func(merged string) string {
		t.Helper()
		mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == merged {
				return l
			}
		}
		t.Fatalf("%s is not mounted", merged)
		return ""
	}
	for i, volatile := range []bool{true, false, true} {
		mount := s.Mount
		if volatile {
			mount = s.MountVolatile
		}
		merged, err := mount(ctx, scratch)
		if err != nil {
			t.Fatalf("mount %d (volatile %v): %v", i, volatile, err)
		}
		if got := strings.Contains(options(merged), "volatile"); got != volatile {
			t.Errorf("mount %d: volatile option %v, want %v", i, got, volatile)
		}
		if err := os.WriteFile(filepath.Join(merged, "w"), []byte{byte('0' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.Unmount(ctx, scratch); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDisposable: a layer the store's disposable predicate names goes
// along with the layer it stands on, unless something stands on it; any
// other child still refuses the removal.
func TestDisposable(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := layer.NewStore(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	base, keep, other, scratch := layertest.ID("base"), layertest.ID("keep"), layertest.ID("other"), layertest.ID("scratch")
	s.SetDisposable(func(in layer.Info) bool { return in.ID == keep })
	mk := func(id, parent string) {
		t.Helper()
		if _, err := s.Create(ctx, id, parent, bytes.NewReader(layertest.Tar(t, layertest.File{Name: id[:8], Body: "x"})), layer.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk(base, "")
	mk(keep, base)
	if _, err := s.CreateScratch(ctx, scratch, keep); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, base, false); !errdefs.IsConflict(err) {
		t.Errorf("remove with a scratch layer on its disposable child: %v, want a conflict", err)
	}
	if err := s.Discard(ctx, scratch, true); err != nil {
		t.Fatal(err)
	}
	mk(other, base)
	if err := s.Remove(ctx, base, false); !errdefs.IsConflict(err) {
		t.Errorf("remove with a child that is not disposable: %v, want a conflict", err)
	}
	if err := s.Remove(ctx, other, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, base, false); err != nil {
		t.Fatalf("remove with only a disposable child: %v", err)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("layers left: %+v %v, want none", list, err)
	}
	if err := s.EmptyTrash(ctx); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "layers", ".trash")); len(ents) != 0 {
		t.Errorf("trash entries left: %d", len(ents))
	}
}

// TestDiscardMounted: a layer discarded mounted goes into the trash with
// its mount — out of the store at once, its id free — and a store opened
// again (a daemon that died then) still finds it: EmptyTrash detaches the
// mount before it deletes the files, and nothing stays mounted.
func TestDiscardMounted(t *testing.T) {
	needMounts(t)
	ctx := context.Background()
	root := t.TempDir()
	s, base, scratch := storeWithScratch(t, root)
	if _, err := s.Mount(ctx, scratch); err != nil {
		t.Fatal(err)
	}
	mounts := func() int {
		mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
		return strings.Count(string(mi), root)
	}
	t.Cleanup(func() {
		if mounts() > 0 {
			exec.Command("sh", "-c", "grep -o ' "+root+"[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l").Run()
		}
	})
	if err := s.DiscardMounted(ctx, scratch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, scratch); !errdefs.IsNotFound(err) {
		t.Errorf("get of a discarded layer: %v, want not found", err)
	}
	mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
	if !strings.Contains(string(mi), filepath.Join(root, "layers", ".trash", scratch)) {
		t.Errorf("the mount did not go into the trash with the layer:\n%s", mi)
	}
	if _, err := s.CreateScratch(ctx, scratch, base); err != nil {
		t.Fatalf("the id is not free: %v", err)
	}
	if err := s.Remove(ctx, scratch, false); err != nil {
		t.Fatal(err)
	}
	s, err := layer.NewStore(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EmptyTrash(ctx); err != nil {
		t.Fatal(err)
	}
	if n := mounts(); n != 0 {
		t.Errorf("%d mounts left after EmptyTrash", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "layers", ".trash")); len(ents) != 0 {
		t.Errorf("trash entries left: %d", len(ents))
	}
}

// needMounts skips a test that mounts overlayfs without root, and keeps
// it on one thread until it ends: the tests read their mounts from the
// thread's mountinfo, and another test of the package may leave the main
// thread, /proc/self, in a mount namespace of its own.
func needMounts(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("overlayfs mounts need root; run the tests as root")
	}
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread) // run on the test's goroutine
}

// storeWithScratch is a store at root with a base layer and a scratch
// layer on it.
func storeWithScratch(t *testing.T, root string) (s *layer.Store, base, scratch string) {
	t.Helper()
	ctx := context.Background()
	s, err := layer.NewStore(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	base, scratch = createBase(t, s), layertest.ID("scratch")
	if _, err := s.CreateScratch(ctx, scratch, base); err != nil {
		t.Fatal(err)
	}
	return s, base, scratch
}

// createBase makes the read-only layer "base" (one file) in s.
func createBase(t *testing.T, s *layer.Store) string {
	t.Helper()
	base := layertest.ID("base")
	if _, err := s.Create(context.Background(), base, "", bytes.NewReader(layertest.Tar(t, layertest.File{Name: "f", Body: "x"})), layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	return base
}
