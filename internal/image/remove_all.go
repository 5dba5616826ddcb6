package image

import (
	"context"
	"slices"

	"github.com/hullproject/hull/internal/errdefs"
)

// RemoveAll removes image id with all its references whoever uses it, as
// the CRI's RemoveImage does (containerd drops the image record
// regardless): the layers a container stands on stay — the layer store
// refuses to remove them — until ReleaseLayers frees them when the
// container goes. An image other images were committed on keeps its
// record and loses its references only.
func (s *Store) RemoveAll(ctx context.Context, id string) ([]Deleted, error) {
	out, err := s.remove(ctx, id, true, true, true)
	if !errdefs.IsConflict(err) {
		return out, err
	}
	rec, _, lerr := s.load(ctx, id)
	if lerr != nil {
		return out, lerr
	}
	for _, r := range slices.Concat(rec.RepoTags, rec.RepoDigests) {
		d, err := s.remove(ctx, r, true, false, true)
		if err != nil && !errdefs.IsNotFound(err) {
			return out, err
		}
		out = append(out, d...)
	}
	return out, nil
}
