package image

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
)

// Deleted is one line of what Remove did, as docker rmi reports it: a
// reference taken away (Untagged, in docker's short form) or an image or
// layer removed (Deleted, a digest).
type Deleted struct {
	Untagged string `json:"Untagged,omitempty"`
	Deleted  string `json:"Deleted,omitempty"`
}

// Remove removes refOrID with docker's rules. Given a reference, it
// takes that reference away, and the image goes with its last reference.
// Given an id, it removes the image with its references; an image
// referenced in several repositories needs force. An image a container
// uses (see SetInUse) is kept unless force is set: removing its last
// reference, or removing it by id, fails with errdefs.ErrConflict. The
// layers of a removed image go, top down, as far as no other image and
// no container stands on them; its config and manifest blobs go unless
// another image names them. An image another was committed from (its
// parent) stays while it has children: untagged, or refused by id
// (cannot be forced), as dockerd keeps it. With prune, a removed image's
// parent goes too when nothing else holds it (no reference, no other
// child, no container), and so on down.
func (s *Store) Remove(ctx context.Context, refOrID string, force, prune bool) ([]Deleted, error) {
	id, err := s.Resolve(ctx, refOrID)
	if err != nil {
		return nil, err
	}
	// The daemon's hook may take its own locks: ask it outside any
	// transaction.
	inUse := s.isInUse(id)

	var out []Deleted
	var deleted *record
	var blobs []string
	err = s.db.Update(func(tx *bolt.Tx) error {
		out, deleted, blobs = nil, nil, nil
		rid, matched, err := resolveTx(tx, refOrID)
		if err != nil {
			return err
		}
		if rid != id {
			return fmt.Errorf("image %s changed while being removed; retry: %w", refOrID, errdefs.ErrConflict)
		}
		rec, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		refs := append(slices.Clone(rec.RepoTags), rec.RepoDigests...)
		untag := func(key string) error {
			if err := dropRef(tx, key); err != nil {
				return err
			}
			out = append(out, Deleted{Untagged: familiar(key)})
			return nil
		}

		if matched != "" {
			if !force && inUse && isSingleReference(refs) {
				return fmt.Errorf("conflict: unable to remove repository reference %q (must force) - a container is using its referenced image %s: %w",
					refOrID, shortID(id), errdefs.ErrConflict)
			}
			if err := untag(matched); err != nil {
				return err
			}
			mr, _ := parseRef(matched)
			rec, err = getRecord(tx, id)
			if err != nil {
				return err
			}
			if mr.digest == "" {
				// The last tag of a repository takes its digests along.
				sameRepoTag := slices.ContainsFunc(rec.RepoTags, func(t string) bool {
					r, err := parseRef(t)
					return err == nil && r.Name() == mr.Name()
				})
				if !sameRepoTag {
					for _, d := range slices.Clone(rec.RepoDigests) {
						if r, err := parseRef(d); err == nil && r.Name() == mr.Name() {
							if err := untag(d); err != nil {
								return err
							}
						}
					}
				}
				rec, err = getRecord(tx, id)
				if err != nil {
					return err
				}
			}
			if len(rec.RepoTags)+len(rec.RepoDigests) > 0 {
				return nil
			}
			if inUse && !force {
				// Untagged, kept for the container that uses it.
				return nil
			}
			if hasChildren(tx, id) {
				return nil // untagged, kept for the images made from it
			}
		} else {
			if hasChildren(tx, id) {
				return fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image has dependent child images: %w",
					shortID(id), errdefs.ErrConflict)
			}
			if !force {
				if len(refs) > 1 && !isSingleReference(refs) {
					return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories: %w",
						shortID(id), errdefs.ErrConflict)
				}
				if inUse {
					return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by a container: %w",
						shortID(id), errdefs.ErrConflict)
				}
			}
			for _, r := range refs {
				if err := untag(r); err != nil {
					return err
				}
			}
		}

		rec, err = getRecord(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketImages).Delete([]byte(id)); err != nil {
			return err
		}
		// What the other images still use stays.
		usedLayers := map[string]bool{}
		usedBlobs := map[string]bool{}
		err = tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			o, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			usedBlobs[o.ID] = true
			for _, m := range o.Manifests {
				usedBlobs[m.Digest] = true
			}
			for _, l := range o.Layers {
				usedLayers[l.ChainID] = true
				if l.Blob != nil {
					usedBlobs[l.Blob.Digest] = true
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		deleted = &record{ID: id, Parent: rec.Parent}
		for _, l := range rec.Layers {
			if !usedLayers[l.ChainID] {
				deleted.Layers = append(deleted.Layers, l)
			}
			if l.Blob != nil && !usedBlobs[l.Blob.Digest] {
				blobs = append(blobs, l.Blob.Digest)
			}
		}
		blobs = append(blobs, id)
		for _, m := range rec.Manifests {
			if !usedBlobs[m.Digest] {
				blobs = append(blobs, m.Digest)
			}
		}
		out = append(out, Deleted{Deleted: id})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove image %s: %w", refOrID, err)
	}
	if deleted == nil {
		return out, nil
	}
	parent := deleted.Parent

	for _, b := range blobs {
		if err := s.content.Delete(ctx, b); err != nil {
			slog.WarnContext(ctx, "removing blob of a removed image", "blob", b, "error", err)
		}
	}
	// Top down: a layer cannot go while one stands on it, and once one
	// stays, so do all below it.
	for i := len(deleted.Layers) - 1; i >= 0; i-- {
		cid := deleted.Layers[i].ChainID
		gone, err := s.removeLayer(ctx, hexOf(cid), 0)
		if err != nil {
			return out, fmt.Errorf("remove image %s: layer %s: %w", refOrID, cid, err)
		}
		if !gone {
			break
		}
		out = append(out, Deleted{Deleted: cid})
	}
	if prune && parent != "" {
		if p, err := s.record(parent); err == nil && len(p.RepoTags)+len(p.RepoDigests) == 0 && !s.isInUse(parent) {
			if more, err := s.Remove(ctx, parent, false, true); err == nil {
				out = append(out, more...)
			}
		}
	}
	return out, nil
}

// hasChildren reports whether an image was committed from image id.
func hasChildren(tx *bolt.Tx, id string) bool {
	found := false
	tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		if r, err := decodeRecord(k, v); err == nil && r.Parent == id {
			found = true
		}
		return nil
	})
	return found
}

// isSingleReference reports whether refs (normalized) are one tag plus,
// at most, digests of that tag's repository, or only digests of one
// repository: the references docker removes along with an image removed
// by id without force.
func isSingleReference(refs []string) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	var single *ref
	digestRepos := map[string]bool{}
	for _, s := range refs {
		r, err := parseRef(s)
		if err != nil {
			return false
		}
		if r.digest != "" {
			digestRepos[r.Name()] = true
			continue
		}
		if single != nil {
			return false
		}
		single = &r
	}
	if single == nil {
		r, _ := parseRef(refs[0])
		single = &r
	}
	return len(digestRepos) == 1 && digestRepos[single.Name()]
}
