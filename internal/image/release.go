package image

import (
	"context"
	"fmt"
	"path/filepath"
)

// ReleaseLayers removes, nearest first, the read-only layers of chain (the
// layer folders a container's scratch layer stood on, as layer.Info.Chain
// gives them) that no image needs any more: those of an image removed with
// force while a container used it. dockerd frees them when the container
// goes; without this they would hold their space, invisible to image
// lists and prune, until the next start's cleanup. It stops at the first
// layer that stays (an image names it, another layer stands on it, or an
// operation has pinned it): every layer below is then still needed.
// Precondition: the container's own scratch layer is already gone.
func (s *Store) ReleaseLayers(ctx context.Context, chain []string) error {
	if len(chain) == 0 {
		return nil
	}
	recs, err := s.allRecords()
	if err != nil {
		return fmt.Errorf("release layers: %w", err)
	}
	needed := map[string]bool{}
	for _, r := range recs {
		for _, l := range r.Layers {
			needed[hexOf(l.ChainID)] = true
		}
	}
	for _, dir := range chain {
		id := filepath.Base(dir)
		if needed[id] {
			return nil
		}
		removed, err := s.removeLayer(ctx, id, 0)
		if err != nil {
			return fmt.Errorf("release layer %s: %w", id, err)
		}
		if !removed {
			return nil
		}
	}
	return nil
}
