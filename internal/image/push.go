package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
)

// PushOptions tune Push.
type PushOptions struct {
	RegistryOptions
	// Progress receives docker-style events; nil for none.
	Progress func(Progress)
}

// Push sends the image tagged ref (busybox means busybox:latest) to its
// registry and returns the digest of the manifest pushed. A layer goes as
// the compressed blob it was pulled as when the content store still has
// it (and an image pulled whole is pushed with its original manifest);
// otherwise the layer's tar is exported and gzip-compressed on the fly.
// Blobs the registry has already are not sent. Refused credentials fail
// with errdefs.ErrUnauthorized.
func (s *Store) Push(ctx context.Context, refStr string, opts PushOptions) (string, error) {
	r, err := parseTagRef(refStr)
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	d, err := s.push(ctx, r, opts)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", r.Familiar(), err)
	}
	return d, nil
}

// pushLayer is one layer on its way to the registry.
type pushLayer struct {
	rec  layerRecord
	desc descriptor
	// stored: the blob is in the content store; remote: the registry has
	// it; neither: it is exported and compressed.
	stored, remote bool
}

func (s *Store) push(ctx context.Context, r ref, opts PushOptions) (string, error) {
	progress := opts.Progress
	emit(progress, Progress{Status: "The push refers to repository [" + r.Name() + "]"})
	var rec *record
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketRefs).Get([]byte(r.String()))
		if id == nil {
			return errdefs.Dockerf(errdefs.ErrNotFound, "An image does not exist locally with the tag: %s", r.familiarName())
		}
		var err error
		rec, err = getRecord(tx, string(id))
		return err
	})
	if err != nil {
		return "", err
	}
	config, err := s.content.ReadAll(ctx, rec.ID)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	pins := s.newPins()
	defer pins.release()
	for _, l := range rec.Layers {
		pins.pin(hexOf(l.ChainID))
	}

	nref, ropts, rc, err := s.pushEndpoint(ctx, r, opts.RegistryOptions)
	if err != nil {
		return "", err
	}
	opts.RegistryOptions = ropts
	repo := nref.Context()
	pusher, err := remote.NewPusher(opts.remoteOptions(ctx)...)
	if err != nil {
		return "", classifyRemote(err, "push")
	}

	// The manifest the image came with, if every blob it names is at hand.
	var orig *blobRef
	var origBytes []byte
	if len(rec.Manifests) > 0 {
		m := rec.Manifests[0]
		if m.MediaType == mediaOCIManifest || m.MediaType == mediaDockerManifest {
			if b, err := s.content.ReadAll(ctx, m.Digest); err == nil && s.manifestComplete(ctx, b, rec.ID) {
				orig, origBytes = &m, b
			}
		}
	}
	oci := len(rec.Manifests) > 0 && rec.Manifests[0].MediaType == mediaOCIManifest

	layers := make([]*pushLayer, len(rec.Layers))
	for i := len(rec.Layers) - 1; i >= 0; i-- {
		emit(progress, Progress{ID: shortID(rec.Layers[i].DiffID), Status: "Preparing"})
	}
	for i, l := range rec.Layers {
		pl := &pushLayer{rec: l}
		layers[i] = pl
		if b := l.Blob; b != nil {
			pl.desc = descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
			pl.stored = s.content.Has(ctx, b.Digest)
			has, err := rc.hasBlob(ctx, b.Digest)
			if err != nil {
				return "", err
			}
			pl.remote = has
			if strings.Contains(b.MediaType, "zstd") {
				oci = true
			}
		}
	}
	for i := len(layers) - 1; i >= 0; i-- {
		pl := layers[i]
		id := shortID(pl.rec.DiffID)
		switch {
		case pl.remote:
			emit(progress, Progress{ID: id, Status: "Layer already exists"})
			continue
		case pl.stored:
			bl := &blobLayer{s: s, ctx: ctx, b: blobRef{Digest: pl.desc.Digest, Size: pl.desc.Size, MediaType: pl.desc.MediaType}, diffID: pl.rec.DiffID, id: id, progress: progress}
			if err := pusher.Upload(ctx, repo, bl); err != nil {
				return "", classifyRemote(err, "upload layer "+pl.desc.Digest)
			}
		default:
			d, err := s.pushExported(ctx, pusher, repo, pl, oci, progress)
			if err != nil {
				return "", err
			}
			pl.desc = d
		}
		emit(progress, Progress{ID: id, Status: "Pushed"})
	}

	configType := mediaDockerConfig
	if oci {
		configType = mediaOCIConfig
	}
	if has, err := rc.hasBlob(ctx, rec.ID); err != nil {
		return "", err
	} else if !has {
		if err := pusher.Upload(ctx, repo, static.NewLayer(config, types.MediaType(configType))); err != nil {
			return "", classifyRemote(err, "upload config")
		}
	}

	mb, mt := origBytes, ""
	if orig != nil && manifestMatches(origBytes, layers) {
		mt = orig.MediaType
	} else {
		m := manifestJSON{SchemaVersion: 2, MediaType: mediaDockerManifest,
			Config: descriptor{MediaType: configType, Digest: rec.ID, Size: int64(len(config))}, Layers: []descriptor{}}
		if oci {
			m.MediaType = mediaOCIManifest
		}
		for _, pl := range layers {
			d := pl.desc
			d.MediaType = layerMediaType(d.MediaType, oci)
			m.Layers = append(m.Layers, descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
		}
		if mb, err = json.MarshalIndent(m, "", "   "); err != nil {
			return "", err
		}
		mt = m.MediaType
	}
	if err := pusher.Put(ctx, nref, rawManifest{b: mb, mt: mt}); err != nil {
		return "", classifyRemote(err, "put manifest")
	}
	md := digestOf(mb)

	// Remember what was pushed: the layers' compressed forms, the manifest
	// and the repository digest.
	if err := s.content.Ingest(ctx, md, int64(len(mb)), strings.NewReader(string(mb))); err != nil {
		return "", fmt.Errorf("store manifest: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getRecord(tx, rec.ID)
		if err != nil {
			return err
		}
		for i := range cur.Layers {
			if i < len(layers) && cur.Layers[i].Blob == nil && layers[i].desc.Digest != "" {
				d := layers[i].desc
				cur.Layers[i].Blob = &blobRef{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType}
			}
		}
		if !slices.ContainsFunc(cur.Manifests, func(b blobRef) bool { return b.Digest == md }) {
			cur.Manifests = append(cur.Manifests, blobRef{Digest: md, Size: int64(len(mb)), MediaType: mt})
		}
		if err := putRecord(tx, cur); err != nil {
			return err
		}
		return setRef(tx, r.withDigest(md), rec.ID, time.Now().UTC())
	})
	if err != nil {
		return "", fmt.Errorf("record push: %w", err)
	}
	emit(progress, Progress{Status: fmt.Sprintf("%s: digest: %s size: %d", r.tag, md, len(mb))})
	return md, nil
}

// manifestComplete reports whether manifest b is of image id and every
// layer blob it names is in the content store.
func (s *Store) manifestComplete(ctx context.Context, b []byte, id string) bool {
	var m manifestJSON
	if json.Unmarshal(b, &m) != nil || m.Config.Digest != id {
		return false
	}
	for _, l := range m.Layers {
		if !s.content.Has(ctx, l.Digest) {
			return false
		}
	}
	return true
}

// manifestMatches reports whether manifest b names exactly the layers
// being pushed.
func manifestMatches(b []byte, layers []*pushLayer) bool {
	var m manifestJSON
	if json.Unmarshal(b, &m) != nil || len(m.Layers) != len(layers) {
		return false
	}
	for i, l := range m.Layers {
		if l.Digest != layers[i].desc.Digest {
			return false
		}
	}
	return true
}

// layerMediaType gives a layer's media type in the family of the
// manifest it goes in; the bytes are the same.
func layerMediaType(mt string, oci bool) string {
	comp := "gzip"
	switch {
	case strings.Contains(mt, "zstd"):
		comp = "zstd"
	case mt == mediaOCILayer || mt == "application/vnd.docker.image.rootfs.diff.tar":
		comp = ""
	}
	if oci {
		if comp == "" {
			return mediaOCILayer
		}
		return mediaOCILayer + "+" + comp
	}
	if comp == "" {
		return "application/vnd.docker.image.rootfs.diff.tar"
	}
	return mediaDockerLayerGzip
}

// pushExported exports a layer and uploads it gzip-compressed as it
// streams; the blob's digest is known only at the end.
func (s *Store) pushExported(ctx context.Context, pusher *remote.Pusher, repo name.Repository, pl *pushLayer, oci bool, progress func(Progress)) (descriptor, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.layers.Export(ctx, hexOf(pl.rec.ChainID), pw)) }()
	defer pr.Close()
	mt := layerMediaType(mediaOCILayerGzip, oci)
	prog := &progressReader{r: pr, total: pl.rec.TarSize, id: shortID(pl.rec.DiffID), status: "Pushing", fn: progress}
	l := stream.NewLayer(readCloser{prog, pr}, stream.WithMediaType(types.MediaType(mt)))
	if err := pusher.Upload(ctx, repo, l); err != nil {
		return descriptor{}, classifyRemote(err, "upload layer "+pl.rec.DiffID)
	}
	diffID, err := l.DiffID()
	if err != nil {
		return descriptor{}, err
	}
	if diffID.String() != pl.rec.DiffID {
		return descriptor{}, fmt.Errorf("layer %s exported with diff id %s: %w", pl.rec.ChainID, diffID, errdefs.ErrDataLoss)
	}
	dg, err := l.Digest()
	if err != nil {
		return descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: mt, Digest: dg.String(), Size: size}, nil
}

// rawManifest is a manifest to put, as go-containerregistry's Taggable.
type rawManifest struct {
	b  []byte
	mt string
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.MediaType(m.mt), nil }

// blobLayer is a compressed layer blob of the content store, as
// go-containerregistry's v1.Layer, reporting upload progress.
type blobLayer struct {
	s        *Store
	ctx      context.Context
	b        blobRef
	diffID   string
	id       string
	progress func(Progress)
}

func (l *blobLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.b.Digest) }
func (l *blobLayer) DiffID() (v1.Hash, error) { return v1.NewHash(l.diffID) }
func (l *blobLayer) Size() (int64, error)     { return l.b.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.b.MediaType), nil
}

func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	f, err := l.s.content.Open(l.ctx, l.b.Digest)
	if err != nil {
		return nil, err
	}
	pr := &progressReader{r: f, total: l.b.Size, id: l.id, status: "Pushing", fn: l.progress}
	return readCloser{pr, f}, nil
}

func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := l.s.content.Open(l.ctx, l.b.Digest)
	if err != nil {
		return nil, err
	}
	t, err := decompress(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{t, closers{t, f}}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
