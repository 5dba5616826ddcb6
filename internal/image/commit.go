package image

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// newImage is an image whose layers exist, ready to be recorded.
type newImage struct {
	config []byte
	cfg    *configFile
	layers []layerRecord
	// manifests are manifest blobs to keep, the image manifest first.
	manifests []manifestBlob
	tags      []ref
	digests   []ref
	// parent is the image a commit was made from (docker's local parent
	// link: ParentId, the ancestor filter, intermediate images).
	parent string
	// tagged: the tags are given as docker tag gives them, which records
	// the image's LastTagTime (import, commit); load and pull add their
	// references without it, as dockerd's reference store does.
	tagged bool
}

type manifestBlob struct {
	blobRef
	data []byte
}

// commit stores the image's config and manifest blobs and then writes its
// record and references in one transaction. A tag another image held
// moves to this one. Preconditions: the image's layers exist and are
// pinned.
func (s *Store) commit(ctx context.Context, img newImage) (string, error) {
	id, err := s.content.IngestBytes(ctx, img.config)
	if err != nil {
		return "", fmt.Errorf("store image config: %w", err)
	}
	for _, m := range img.manifests {
		if err := s.content.Ingest(ctx, m.Digest, int64(len(m.data)), bytes.NewReader(m.data)); err != nil {
			return "", fmt.Errorf("store manifest: %w", err)
		}
	}
	crashpoint.At("image: the config and manifests are stored, the record is not")
	now := time.Now().UTC()
	err = s.db.Update(func(tx *bolt.Tx) error {
		rec, err := getRecord(tx, id)
		if errdefs.IsNotFound(err) {
			rec, err = &record{ID: id}, nil
		}
		if err != nil {
			return err
		}
		old := rec.Layers
		rec.Layers = img.layers
		for i := range rec.Layers {
			if i < len(old) && old[i].DiffID == rec.Layers[i].DiffID {
				if rec.Layers[i].Blob == nil {
					rec.Layers[i].Blob = old[i].Blob
				}
				if rec.Layers[i].TarSize == 0 {
					rec.Layers[i].TarSize = old[i].TarSize
				}
			}
		}
		rec.Size = 0
		for _, l := range rec.Layers {
			rec.Size += l.Size
		}
		rec.Created = img.cfg.Created
		if img.parent != "" {
			rec.Parent = img.parent
		}
		for i := len(img.manifests) - 1; i >= 0; i-- {
			m := img.manifests[i].blobRef
			rec.Manifests = slices.DeleteFunc(rec.Manifests, func(b blobRef) bool { return b.Digest == m.Digest })
			rec.Manifests = slices.Insert(rec.Manifests, 0, m)
		}
		if err := putRecord(tx, rec); err != nil {
			return err
		}
		tagTime := now
		if !img.tagged {
			tagTime = time.Time{}
		}
		for _, r := range append(slices.Clone(img.tags), img.digests...) {
			if err := setRef(tx, r, id, tagTime); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("record image %s: %w", id, err)
	}
	return id, nil
}

// setRef points reference r at image id, taking it from the image that
// held it before; a new tag sets the image's LastTagTime to now unless
// now is zero.
func setRef(tx *bolt.Tx, r ref, id string, now time.Time) error {
	refs := tx.Bucket(bucketRefs)
	key := r.String()
	if prev := refs.Get([]byte(key)); prev != nil && string(prev) != id {
		if err := dropRefFromRecord(tx, string(prev), key); err != nil {
			return err
		}
	}
	if err := refs.Put([]byte(key), []byte(id)); err != nil {
		return err
	}
	rec, err := getRecord(tx, id)
	if err != nil {
		return err
	}
	list := &rec.RepoTags
	if r.digest != "" {
		list = &rec.RepoDigests
	}
	if !slices.Contains(*list, key) {
		*list = append(*list, key)
	}
	if r.digest == "" && !now.IsZero() {
		rec.LastTagTime = now // also when the tag was there, as dockerd
	}
	return putRecord(tx, rec)
}

// dropRef removes reference key (normalized) from its image.
func dropRef(tx *bolt.Tx, key string) error {
	refs := tx.Bucket(bucketRefs)
	prev := refs.Get([]byte(key))
	if prev == nil {
		return nil
	}
	id := string(prev)
	if err := refs.Delete([]byte(key)); err != nil {
		return err
	}
	return dropRefFromRecord(tx, id, key)
}

func dropRefFromRecord(tx *bolt.Tx, id, key string) error {
	rec, err := getRecord(tx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	rec.RepoTags = slices.DeleteFunc(rec.RepoTags, func(s string) bool { return s == key })
	rec.RepoDigests = slices.DeleteFunc(rec.RepoDigests, func(s string) bool { return s == key })
	return putRecord(tx, rec)
}

// Tag gives the image source names (an id or a reference) the reference
// target, taking it from any image that had it, as docker tag does.
func (s *Store) Tag(ctx context.Context, source, target string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		// dockerd looks the image up first.
		id, _, err := resolveTx(tx, source)
		if err != nil {
			return err
		}
		r, err := parseTagRef(target)
		if err != nil {
			return err
		}
		return setRef(tx, r, id, time.Now().UTC())
	})
	if err != nil {
		return fmt.Errorf("tag %s as %s: %w", source, target, err)
	}
	return nil
}
