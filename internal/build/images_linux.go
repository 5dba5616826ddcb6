package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/buildkit/util/leaseutil"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// hullImages is BuildKit's image store (containerd's images.Store) read
// through to hull's: an image a build starts FROM is looked up by name
// in the daemon's store and, the first time, its blobs are copied into
// BuildKit's content store from docker save of it (an OCI layout whose
// layers are uncompressed, so each layer blob is the tar whose digest is
// its diff id). The copy is held by a lease named after the image's id,
// which a build cache prune does not release: hull's image and its copy
// for the builder cost the image's size twice on disk, plus BuildKit's
// unpacked snapshot of it.
//
// The store is read only: BuildKit's exporters do not write to it (the
// moby exporter loads the built image into the daemon instead).
type hullImages struct {
	api    *daemonAPI
	cs     content.Store
	leases *leaseutil.Manager

	mu sync.Mutex
	// copied maps an image id to the manifest of its copy.
	copied map[string]ocispecs.Descriptor
}

func newHullImages(api *daemonAPI, cs content.Store, lm *leaseutil.Manager) *hullImages {
	return &hullImages{api: api, cs: cs, leases: lm, copied: map[string]ocispecs.Descriptor{}}
}

// Get is the image the daemon has under name (docker.io/library/busybox:latest).
func (h *hullImages) Get(ctx context.Context, name string) (images.Image, error) {
	id, err := h.api.imageID(ctx, name)
	if errdefs.IsNotFound(err) {
		return images.Image{}, fmt.Errorf("image %q: %w", name, cerrdefs.ErrNotFound)
	}
	if err != nil {
		return images.Image{}, err
	}
	desc, err := h.copy(ctx, id)
	if err != nil {
		return images.Image{}, fmt.Errorf("image %s from hull's store: %w", name, err)
	}
	return images.Image{Name: name, Target: desc}, nil
}

// List lists nothing: BuildKit asks only to keep what images refer to
// from its cache prunes, and hull's images keep their own copies.
func (h *hullImages) List(context.Context, ...string) ([]images.Image, error) { return nil, nil }

func (h *hullImages) Create(context.Context, images.Image) (images.Image, error) {
	return images.Image{}, errReadOnlyImages
}

func (h *hullImages) Update(context.Context, images.Image, ...string) (images.Image, error) {
	return images.Image{}, errReadOnlyImages
}

func (h *hullImages) Delete(context.Context, string, ...images.DeleteOpt) error {
	return errReadOnlyImages
}

var errReadOnlyImages = fmt.Errorf("hull's image store is written by the moby exporter only: %w", cerrdefs.ErrNotImplemented)

// copy makes sure BuildKit's content store holds image id (its manifest,
// config and layers) and returns the manifest's descriptor.
func (h *hullImages) copy(ctx context.Context, id string) (ocispecs.Descriptor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if desc, ok := h.copied[id]; ok {
		if _, err := h.cs.Info(ctx, desc.Digest); err == nil {
			return desc, nil
		}
		delete(h.copied, id)
	}
	dgst, err := digest.Parse(id)
	if err != nil {
		return ocispecs.Descriptor{}, fmt.Errorf("image id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	leaseID := "hull-image-" + dgst.Encoded()
	if _, err := h.leases.Create(ctx, leases.WithID(leaseID)); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return ocispecs.Descriptor{}, err
	}
	lctx := leases.WithLease(ctx, leaseID)
	r, err := h.api.save(ctx, id)
	if err != nil {
		return ocispecs.Descriptor{}, err
	}
	defer r.Close()
	desc, err := h.ingest(lctx, r)
	if err != nil {
		return ocispecs.Descriptor{}, err
	}
	h.copied[id] = desc
	return desc, nil
}

// ingest writes the blobs of an OCI layout tar (docker save's) into the
// content store, each checked against its digest, and returns the
// descriptor of the layout's first manifest.
func (h *hullImages) ingest(ctx context.Context, r io.Reader) (ocispecs.Descriptor, error) {
	tr := tar.NewReader(r)
	var index ocispecs.Index
	sawIndex := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ocispecs.Descriptor{}, fmt.Errorf("docker save: %w", err)
		}
		name := path.Clean(hdr.Name)
		switch {
		case name == "index.json":
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&index); err != nil {
				return ocispecs.Descriptor{}, fmt.Errorf("docker save: index.json: %w", err)
			}
			sawIndex = true
		case hdr.Typeflag == tar.TypeReg && strings.HasPrefix(name, "blobs/sha256/"):
			d := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(name, "blobs/sha256/"))
			if err := d.Validate(); err != nil {
				return ocispecs.Descriptor{}, fmt.Errorf("docker save: %s: %w", name, err)
			}
			if err := content.WriteBlob(ctx, h.cs, "hull-"+d.Encoded(), tr, ocispecs.Descriptor{Digest: d, Size: hdr.Size}); err != nil {
				return ocispecs.Descriptor{}, fmt.Errorf("docker save: %s: %w", name, err)
			}
		}
	}
	if !sawIndex || len(index.Manifests) == 0 {
		return ocispecs.Descriptor{}, fmt.Errorf("docker save: no manifest in its index.json: %w", errdefs.ErrInvalidArgument)
	}
	desc := index.Manifests[0]
	desc.Annotations = nil
	return desc, nil
}
