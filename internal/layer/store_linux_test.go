package layer_test

import (
	"context"
	"os"
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
