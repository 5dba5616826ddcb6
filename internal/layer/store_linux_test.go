package layer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/layer/layertest"
)

// TestOverlayConformance runs the layer store's conformance suite on
// overlayfs, for real: it needs root.
func TestOverlayConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlayfs mounts need root; run the tests as root")
	}
	layertest.Run(t, func(t *testing.T) (*layer.Store, string) {
		root := t.TempDir()
		s, err := layer.NewStore(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		return s, root
	})
}

// Layer folders name each other by absolute path, whatever root the store
// was opened with.
func TestStoreRelativeRoot(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := layer.NewStore(context.Background(), "rel")
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Dir(layertest.ID("x")); !filepath.IsAbs(d) {
		t.Fatalf("layer folder %s is not absolute", d)
	}
}
