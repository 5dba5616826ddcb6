package image

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// Deleted is one line of what Remove did, as docker rmi reports it: a
// reference taken away (Untagged, in docker's short form) or an image or
// layer removed (Deleted, a digest).
type Deleted struct {
	Untagged string `json:"Untagged,omitempty"`
	Deleted  string `json:"Deleted,omitempty"`
}

// Remove removes refOrID with dockerd's rules and words. Given a
// reference, it takes that reference away, and the image goes with its
// last reference. Given an id, it removes the image with its references;
// an image referenced in several repositories needs force. The containers
// that use the image (see SetInUse) keep it: a running one always (its
// last reference may go with force, the image stays untagged), a stopped
// one unless forced. Refusals are errdefs.ErrConflict ("conflict: unable
// to delete 2d73f005fc4d (must be forced) - image is being used by
// stopped container ad8418629a14"…). The layers of a removed image go,
// top down, as far as no other image and no container stands on them;
// its config and manifest blobs go unless another image names them.
// An image other images were committed on stays while they do; with
// prune, the parents of a removed image go too, quietly, as far as
// nothing (a reference, a container, another child) keeps them.
func (s *Store) Remove(ctx context.Context, refOrID string, force, prune bool) ([]Deleted, error) {
	return s.remove(ctx, refOrID, force, prune, false)
}

// remove is Remove; evenRunning takes a running container's image away
// as a stopped one's with force (RemoveAll).
func (s *Store) remove(ctx context.Context, refOrID string, force, prune, evenRunning bool) ([]Deleted, error) {
	id, err := s.Resolve(ctx, refOrID)
	if err != nil {
		return nil, err
	}
	// The daemon's hook may take its own locks: ask it outside any
	// transaction.
	running, stopped := s.users(id)
	if evenRunning && running != "" {
		running, stopped = "", running
	}
	user := running
	if user == "" {
		user = stopped
	}

	// The containers of the parents a prune may remove keep them.
	var parents []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		rec, err := getRecord(tx, id)
		for i := 0; err == nil && rec.Parent != "" && i < 1000; i++ {
			parents = append(parents, rec.Parent)
			rec, err = getRecord(tx, rec.Parent)
		}
		return nil
	})
	parentUsers := map[string]bool{}
	for _, p := range parents {
		r, st := s.users(p)
		parentUsers[p] = r != "" || st != ""
	}

	var out []Deleted
	var gone []*record
	var blobs []string
	var usedLayers map[string]bool
	err = s.db.Update(func(tx *bolt.Tx) error {
		out, gone, blobs = nil, nil, nil
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

		quiet := false // the image lost its last reference by name
		if matched != "" {
			if !force && user != "" && isSingleReference(refs) {
				return errdefs.Dockerf(errdefs.ErrConflict, "conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
					refOrID, shortID(user), shortID(id))
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
			quiet = true
		} else if isSingleReference(refs) {
			// By id, with one reference: it goes with the image unless a
			// container keeps the image.
			if c := deleteConflict(id, hasChildren(tx, id), running, stopped, !force, false); c != nil {
				return c
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
		multiple := len(rec.RepoTags)+len(rec.RepoDigests) > 0
		if c := deleteConflict(id, hasChildren(tx, id), running, stopped, !force, !force && multiple); c != nil {
			if quiet {
				// Untagged; kept, dangling, for the container that uses it.
				return nil
			}
			return c
		}
		for _, r := range append(slices.Clone(rec.RepoTags), rec.RepoDigests...) {
			if err := untag(r); err != nil {
				return err
			}
		}

		gone = append(gone, rec)
		if err := tx.Bucket(bucketImages).Delete([]byte(id)); err != nil {
			return err
		}
		// With prune, the parents go too, quietly, as far as nothing
		// keeps them: a reference, a container, another child.
		for p := rec.Parent; prune && p != ""; {
			prec, err := getRecord(tx, p)
			if err != nil || len(prec.RepoTags)+len(prec.RepoDigests) > 0 || parentUsers[p] || hasChildren(tx, p) {
				break
			}
			gone = append(gone, prec)
			if err := tx.Bucket(bucketImages).Delete([]byte(p)); err != nil {
				return err
			}
			p = prec.Parent
		}
		// What the other images still use stays.
		usedLayers = map[string]bool{}
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
		for _, g := range gone {
			for _, l := range g.Layers {
				if l.Blob != nil && !usedBlobs[l.Blob.Digest] && !slices.Contains(blobs, l.Blob.Digest) {
					blobs = append(blobs, l.Blob.Digest)
				}
			}
			blobs = append(blobs, g.ID)
			for _, m := range g.Manifests {
				if !usedBlobs[m.Digest] && !slices.Contains(blobs, m.Digest) {
					blobs = append(blobs, m.Digest)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove image %s: %w", refOrID, err)
	}
	crashpoint.At("rmi: the record is gone, the blobs and layers are not")

	for _, b := range blobs {
		if err := s.content.Delete(ctx, b); err != nil {
			slog.WarnContext(ctx, "removing blob of a removed image", "blob", b, "error", err)
		}
	}
	// Each image removed, with the layers of its own that nothing else
	// uses (a parent removed too gives its own below), as dockerd lists
	// them. Top down: a layer cannot go while one stands on it, and once
	// one stays, so do all below it.
	for i, g := range gone {
		out = append(out, Deleted{Deleted: g.ID})
		below := 0
		if i+1 < len(gone) {
			below = len(gone[i+1].Layers)
		}
		for j := len(g.Layers) - 1; j >= below; j-- {
			cid := g.Layers[j].ChainID
			if usedLayers[cid] {
				break
			}
			removed, err := s.removeLayer(ctx, hexOf(cid), 0)
			if err != nil {
				return out, fmt.Errorf("remove image %s: layer %s: %w", refOrID, cid, err)
			}
			if !removed {
				break
			}
			out = append(out, Deleted{Deleted: cid})
		}
	}
	return out, nil
}

// hasChildren tells whether an image was committed on image id.
func hasChildren(tx *bolt.Tx, id string) bool {
	found := false
	tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		if o, err := decodeRecord(k, v); err == nil && o.Parent == id {
			found = true
		}
		return nil
	})
	return found
}

// deleteConflict is dockerd's reason not to delete image id, in its
// order: images committed on it and a running container (never forced
// away), references in several repositories (when multiple), a stopped
// container (when checkStopped).
func deleteConflict(id string, children bool, running, stopped string, checkStopped, multiple bool) error {
	switch {
	case children:
		return errdefs.Dockerf(errdefs.ErrConflict, "conflict: unable to delete %s (cannot be forced) - image has dependent child images", shortID(id))
	case running != "":
		return errdefs.Dockerf(errdefs.ErrConflict, "conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(id), shortID(running))
	case multiple:
		return errdefs.Dockerf(errdefs.ErrConflict, "conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(id))
	case checkStopped && stopped != "":
		return errdefs.Dockerf(errdefs.ErrConflict, "conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(id), shortID(stopped))
	}
	return nil
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
