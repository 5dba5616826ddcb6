// Package image is hull's image store: a content store of blobs (configs,
// manifests, compressed layers) checked by digest, image records and
// references kept in bbolt, and the operations that bring images in and out
// (load, save, import, pull, push), unpacking their layers into the layer
// store by chain id.
//
// An image's id is the digest of its config. Its layers live in the layer
// store under their chain ids (OCI image spec), so images that share a base
// share its layers. An image record is written only after every blob and
// layer it names exists, in one bbolt transaction; what an interrupted
// operation leaves behind (ingest files, temporary spools, layers and blobs
// no record names) is removed when the store is opened.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// The store's top-level buckets in the shared hull.db.
var (
	// bucketImages maps an image id ("sha256:…") to its record (JSON).
	bucketImages = []byte("images")
	// bucketRefs maps a normalized reference (docker.io/library/busybox:latest,
	// or …@sha256:…) to an image id.
	bucketRefs = []byte("refs")
)

// DBFile is the name of the bbolt database under the root that Open uses.
const DBFile = "hull.db"

// Store is the image store. It is safe for concurrent use.
type Store struct {
	root    string
	tmp     string // <root>/tmp: spools of streamed archives
	db      *bolt.DB
	layers  *layer.Store
	content *Content

	// pinMu guards pins, removing and inUse. A layer is pinned while an
	// operation that will name it in a record is under way, so that the
	// removal of another image does not take it away in between; removing
	// marks layers being removed, so that a pin waits for the removal.
	// pinMu is never held while calling into the layer store.
	pinMu    sync.Mutex
	pinCond  *sync.Cond
	pins     map[string]int
	removing map[string]bool
	inUse    ImageUsers

	// registries are the mirrors and insecure registries pulls follow;
	// set once, before the store is used (SetRegistries).
	registries Registries
}

// record is an image as the store keeps it in bucketImages.
type record struct {
	ID     string        `json:"id"`
	Layers []layerRecord `json:"layers"`
	// RepoTags and RepoDigests hold normalized references.
	RepoTags    []string `json:"repoTags,omitempty"`
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Manifests are manifest (and index) blobs kept in the content store,
	// the first being the image manifest it was pulled or loaded with.
	Manifests   []blobRef `json:"manifests,omitempty"`
	Created     time.Time `json:"created,omitzero"`
	Size        int64     `json:"size"`
	LastTagTime time.Time `json:"lastTagTime,omitzero"`
	// Parent is the image this one was committed from, when it was.
	Parent string `json:"parent,omitempty"`
}

// layerRecord is one layer of an image, base first.
type layerRecord struct {
	DiffID  string `json:"diffID"`
	ChainID string `json:"chainID"`
	// TarSize is the length of the layer's uncompressed tar (0: unknown).
	TarSize int64 `json:"tarSize,omitempty"`
	// Size is the bytes of file content the layer holds.
	Size int64 `json:"size"`
	// Blob is the compressed form the layer was pulled as, or pushed as;
	// it may or may not be kept in the content store.
	Blob *blobRef `json:"blob,omitempty"`
}

// blobRef names a blob.
type blobRef struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType,omitempty"`
}

// New opens the image store under root on db (the daemon's hull.db, in
// which the store keeps its own buckets) and layers, and removes what an
// interrupted operation left: ingest files, spools, read-only layers that
// no image uses and that no other layer stands on, and blobs no image
// names. Scratch layers (containers') are never touched.
func New(ctx context.Context, root string, db *bolt.DB, layers *layer.Store) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	content, err := newContent(filepath.Join(root, "content"))
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	s := &Store{
		root:     root,
		tmp:      filepath.Join(root, "tmp"),
		db:       db,
		layers:   layers,
		content:  content,
		pins:     map[string]int{},
		removing: map[string]bool{},
	}
	s.pinCond = sync.NewCond(&s.pinMu)
	if err := os.MkdirAll(s.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketImages, bucketRefs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open image store: create buckets: %w", err)
	}
	if err := s.cleanup(ctx); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	return s, nil
}

// Open opens the store under root on its own: root/hull.db and the layer
// store under root. It is for tools that run without the daemon; while the
// daemon holds the database, Open fails with errdefs.ErrUnavailable. Call
// close when done.
func Open(ctx context.Context, root string) (s *Store, close func() error, err error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	dbPath := filepath.Join(root, DBFile)
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, nil, fmt.Errorf("open %s: store in use by another process (is the daemon running?): %w", dbPath, errdefs.ErrUnavailable)
		}
		return nil, nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	layers, err := layer.NewStore(ctx, root)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	s, err = New(ctx, root, db, layers)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return s, db.Close, nil
}

// Content returns the store's content store.
func (s *Store) Content() *Content { return s.content }

// Layers returns the layer store the images are unpacked into.
func (s *Store) Layers() *layer.Store { return s.layers }

// ImageUsers tells which containers use image imageID: the id of one
// that runs (or is paused or restarting) and of one that is stopped,
// either empty when there is none.
type ImageUsers func(imageID string) (running, stopped string)

// SetInUse installs the daemon's test of which containers use an image;
// Remove refuses to delete such an image (see Remove). Call it before the
// store is shared.
func (s *Store) SetInUse(f ImageUsers) {
	s.pinMu.Lock()
	s.inUse = f
	s.pinMu.Unlock()
}

// users is what the daemon's hook says of image id.
func (s *Store) users(id string) (running, stopped string) {
	s.pinMu.Lock()
	f := s.inUse
	s.pinMu.Unlock()
	if f == nil {
		return "", ""
	}
	return f(id)
}

// isInUse tells whether a container uses image id.
func (s *Store) isInUse(id string) bool {
	running, stopped := s.users(id)
	return running != "" || stopped != ""
}

// pinSet is the layers one operation has pinned; release drops them all.
type pinSet struct {
	s   *Store
	ids []string
}

func (s *Store) newPins() *pinSet { return &pinSet{s: s} }

// pin pins layer id (a chain id hex), waiting while it is being removed.
// Preconditions: the caller holds no layer store call in progress (the
// wait would deadlock against the removal).
func (p *pinSet) pin(id string) {
	s := p.s
	s.pinMu.Lock()
	for s.removing[id] {
		s.pinCond.Wait()
	}
	s.pins[id]++
	s.pinMu.Unlock()
	p.ids = append(p.ids, id)
}

// tryPin pins id unless it is being removed; it never waits, so it may be
// called from inside a layer store call.
func (p *pinSet) tryPin(id string) bool {
	s := p.s
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	if s.removing[id] {
		return false
	}
	s.pins[id]++
	p.ids = append(p.ids, id)
	return true
}

// count is how many pins of id the set holds.
func (p *pinSet) count(id string) int {
	n := 0
	for _, x := range p.ids {
		if x == id {
			n++
		}
	}
	return n
}

func (p *pinSet) release() {
	s := p.s
	s.pinMu.Lock()
	for _, id := range p.ids {
		if s.pins[id]--; s.pins[id] <= 0 {
			delete(s.pins, id)
		}
	}
	s.pinMu.Unlock()
	p.ids = nil
}

// removeLayer removes layer id (chain id hex) unless another operation
// pins more than ownPins of it. It reports whether the layer is gone;
// a layer something stands on is kept without error.
func (s *Store) removeLayer(ctx context.Context, id string, ownPins int) (bool, error) {
	s.pinMu.Lock()
	if s.pins[id] > ownPins || s.removing[id] {
		s.pinMu.Unlock()
		return false, nil
	}
	s.removing[id] = true
	s.pinMu.Unlock()
	defer func() {
		s.pinMu.Lock()
		delete(s.removing, id)
		s.pinCond.Broadcast()
		s.pinMu.Unlock()
	}()
	err := s.layers.Remove(ctx, id, false)
	switch {
	case err == nil:
	case errdefs.IsNotFound(err):
		return true, nil
	case errdefs.IsConflict(err):
		slog.DebugContext(ctx, "keeping layer in use", "layer", id, "reason", err)
		return false, nil
	default:
		return false, err
	}
	return true, nil
}

// cleanup removes what an interrupted operation left behind.
func (s *Store) cleanup(ctx context.Context) error {
	for _, dir := range []string{s.tmp, s.content.ingestDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			slog.DebugContext(ctx, "removing leftover of an interrupted operation", "path", p)
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("remove leftover %s: %w", p, err)
			}
		}
	}

	recs, err := s.allRecords()
	if err != nil {
		return err
	}
	needed := map[string]bool{}
	blobs := map[string]bool{}
	for _, r := range recs {
		blobs[r.ID] = true
		for _, m := range r.Manifests {
			blobs[m.Digest] = true
		}
		for _, l := range r.Layers {
			needed[hexOf(l.ChainID)] = true
			if l.Blob != nil {
				blobs[l.Blob.Digest] = true
			}
		}
	}

	// Dangling references and layer notes.
	err = s.db.Update(func(tx *bolt.Tx) error {
		images := tx.Bucket(bucketImages)
		refs := tx.Bucket(bucketRefs)
		var drop [][]byte
		_ = refs.ForEach(func(k, v []byte) error {
			if images.Get(v) == nil {
				drop = append(drop, slices.Clone(k))
			}
			return nil
		})
		for _, k := range drop {
			if err := refs.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clean references: %w", err)
	}

	// Orphan read-only layers, children before parents.
	all, err := s.layers.List(ctx)
	if err != nil {
		return fmt.Errorf("list layers: %w", err)
	}
	for _, in := range all {
		if in.Scratch {
			for _, p := range in.Chain {
				needed[filepath.Base(p)] = true
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i].Chain) > len(all[j].Chain) })
	for _, in := range all {
		if in.Scratch || needed[in.ID] {
			continue
		}
		if needed[in.Parent] && s.layers.Disposable(in) {
			continue // kept over a layer that stays (the daemon's init layers)
		}
		slog.InfoContext(ctx, "removing layer no image uses", "layer", in.ID)
		if _, err := s.removeLayer(ctx, in.ID, 0); err != nil {
			return fmt.Errorf("remove orphan layer %s: %w", in.ID, err)
		}
	}

	// Blobs no record names.
	return s.content.Walk(ctx, func(dgst string, _ int64) error {
		if blobs[dgst] {
			return nil
		}
		slog.DebugContext(ctx, "removing blob no image uses", "blob", dgst)
		return s.content.Delete(ctx, dgst)
	})
}

// allRecords reads every image record.
func (s *Store) allRecords() ([]*record, error) {
	var out []*record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

func decodeRecord(k, v []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("image record %s: %v: %w", k, err, errdefs.ErrDataLoss)
	}
	return &r, nil
}

func getRecord(tx *bolt.Tx, id string) (*record, error) {
	v := tx.Bucket(bucketImages).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("image %s: %w", id, errdefs.ErrNotFound)
	}
	return decodeRecord([]byte(id), v)
}

func putRecord(tx *bolt.Tx, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketImages).Put([]byte(r.ID), b)
}

// record returns the record of image id.
func (s *Store) record(id string) (*record, error) {
	var r *record
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		r, err = getRecord(tx, id)
		return err
	})
	return r, err
}

// Resolve returns the id ("sha256:…") of the image refOrID names: a full
// id with or without "sha256:", a unique prefix of an id, or a reference
// (busybox, busybox:latest, example.com/a/b@sha256:…). It fails with
// errdefs.ErrNotFound when nothing matches and errdefs.ErrInvalidArgument
// when an id prefix matches several images.
func (s *Store) Resolve(ctx context.Context, refOrID string) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		id, _, err = resolveTx(tx, refOrID)
		return err
	})
	return id, err
}

// resolveTx resolves refOrID as dockerd does: a reference first, then an
// id or a prefix of one (with or without "sha256:"). A name that resolves
// to nothing (a prefix of several ids too) fails with noSuchImage, one
// that is not a reference with dockerd's parse error; ref is the
// normalized reference it matched, empty when it named an id.
func resolveTx(tx *bolt.Tx, refOrID string) (id, ref string, err error) {
	images := tx.Bucket(bucketImages)
	if refOrID == "" {
		return "", "", noSuchImage(refOrID)
	}
	if rest, ok := strings.CutPrefix(refOrID, "sha256:"); ok && isHex(rest) {
		if id, ok := idByPrefix(images, rest); ok {
			return id, "", nil
		}
		return "", "", noSuchImage(refOrID)
	}
	if r, perr := parseRef(refOrID); perr == nil {
		if v := tx.Bucket(bucketRefs).Get([]byte(r.String())); v != nil {
			return string(v), r.String(), nil
		}
	} else if !isHex(refOrID) {
		return "", "", noSuchImage(refOrID)
	}
	if isHex(refOrID) {
		if id, ok := idByPrefix(images, refOrID); ok {
			return id, "", nil
		}
	}
	return "", "", noSuchImage(refOrID)
}

// idByPrefix finds the one image whose id's hex begins with prefix.
func idByPrefix(images *bolt.Bucket, prefix string) (string, bool) {
	full := "sha256:" + prefix
	if len(prefix) == 64 {
		return full, images.Get([]byte(full)) != nil
	}
	c := images.Cursor()
	var found string
	for k, _ := c.Seek([]byte(full)); k != nil && strings.HasPrefix(string(k), full); k, _ = c.Next() {
		if found != "" {
			return "", false // ambiguous: dockerd says no such image
		}
		found = string(k)
	}
	return found, found != ""
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hexOf drops the algorithm from a digest.
func hexOf(d string) string {
	if _, h, ok := strings.Cut(d, ":"); ok {
		return h
	}
	return d
}

// shortID is the 12-digit form docker shows of a digest.
func shortID(d string) string {
	h := hexOf(d)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
