package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// PullOptions tune Pull.
type PullOptions struct {
	RegistryOptions
	// Platform chooses the image of a multi-platform index, as
	// os/arch[/variant]; empty means this machine's.
	Platform string
	// Progress receives docker-style events, one at a time; nil for none.
	Progress func(Progress)
}

// serialize makes fn safe to call from the goroutines of one operation:
// the caller's function sees one event at a time.
func serialize(fn func(Progress)) func(Progress) {
	if fn == nil {
		return nil
	}
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		fn(p)
	}
}

// maxConcurrentDownloads is how many layers a pull fetches at once, as
// docker's default.
const maxConcurrentDownloads = 3

// Pull fetches image ref (busybox, busybox:1.36, example.com/a@sha256:…)
// from its registry. The manifest, the config and the compressed layers
// are stored in the content store, each checked against its digest while
// it streams (errdefs.ErrDataLoss otherwise, and nothing of it kept), and
// the layers are unpacked from there; layers already in the layer store
// are not fetched again. Refused credentials fail with
// errdefs.ErrUnauthorized, an unknown image with errdefs.ErrNotFound. It
// returns the image id.
func (s *Store) Pull(ctx context.Context, refStr string, opts PullOptions) (string, error) {
	r, err := parseRef(refStr)
	if err != nil {
		return "", fmt.Errorf("pull: %w", err)
	}
	want := hostPlatform()
	if opts.Platform != "" {
		if want, err = parsePlatform(opts.Platform); err != nil {
			return "", fmt.Errorf("pull %s: %w", refStr, err)
		}
	}
	id, err := s.pull(ctx, r, want, opts)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", r.Familiar(), err)
	}
	return id, nil
}

// parsePlatform reads os[/arch[/variant]] with containerd's parser, as
// dockerd does (and with its words when it is not one).
func parsePlatform(s string) (platform, error) {
	p, err := platforms.Parse(s)
	if err != nil {
		return platform{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
	}
	p = platforms.Normalize(p)
	return platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}, nil
}

// manifestError words a manifest the registry does not give as dockerd
// does: "manifest for REF not found: CODE: MESSAGE", or "pull access
// denied for NAME, repository does not exist or may require 'docker
// login': …" when it refuses.
func manifestError(r ref, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch {
	case errdefs.IsNotFound(err) && slices.ContainsFunc(te.Errors, func(d transport.Diagnostic) bool { return d.Code == transport.NameUnknownErrorCode }):
		return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrNotFound, "repository %s not found: %s", r.familiarName(), registryErrorText(te)), err)
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrNotFound, "manifest for %s not found: %s", r.Familiar(), registryErrorText(te)), err)
	case errdefs.IsUnauthorized(err):
		return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrUnauthorized,
			"pull access denied for %s, repository does not exist or may require 'docker login': %s", r.familiarName(), registryErrorText(te)), err)
	}
	return err
}

// basicAuthError words a registry's refusal of a pull as dockerd does
// when the registry asks for basic authentication: "Head \"URL\": no basic
// auth credentials" without credentials (dockerd asks the manifest with
// HEAD first), "unauthorized" with credentials it refuses. It is nil for
// other errors and other registries (token authentication keeps
// manifestError's "pull access denied" words). The kind stays
// Unauthorized: dockerd's 500 there is no reason for hull to answer one.
func basicAuthError(ctx context.Context, nref name.Reference, tagOrDigest string, opts PullOptions, err error) error {
	var te *transport.Error
	if !errdefs.IsUnauthorized(err) || !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized {
		return nil
	}
	reg := nref.Context().Registry
	ch, perr := transport.Ping(ctx, reg, opts.transport())
	if perr != nil || !strings.EqualFold(ch.Scheme, "basic") {
		return nil
	}
	if opts.Auth == nil && opts.Username == "" {
		u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", reg.Scheme(), reg.RegistryStr(), nref.Context().RepositoryStr(), tagOrDigest)
		return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrUnauthorized, "Head %q: no basic auth credentials", u), err)
	}
	return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrUnauthorized, "unauthorized"), err)
}

// registryErrorText is a registry's error body as the distribution
// client words it: "manifest unknown: manifest unknown".
func registryErrorText(te *transport.Error) string {
	text := func(d transport.Diagnostic) string {
		code := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
		if d.Message == "" {
			return code
		}
		return code + ": " + d.Message
	}
	switch len(te.Errors) {
	case 0:
		return te.Error()
	case 1:
		return text(te.Errors[0])
	}
	msg := "errors:\n"
	for _, d := range te.Errors {
		msg += text(d) + "\n"
	}
	return msg
}

// pullFrom pulls r from one endpoint, nref (r at a mirror, or r itself),
// and records it under r's name.
func (s *Store) pullFrom(ctx context.Context, r ref, nref name.Reference, want platform, opts PullOptions) (string, error) {
	progress := serialize(opts.Progress)
	tagOrDigest := r.tag
	if tagOrDigest == "" {
		tagOrDigest = r.digest
	}
	ropts := opts.remoteOptions(ctx)
	desc, err := remote.Get(nref, ropts...)
	if err != nil {
		err = classifyRemote(err, "fetch manifest")
		if basicErr := basicAuthError(ctx, nref, tagOrDigest, opts, err); basicErr != nil {
			return "", basicErr
		}
		return "", manifestError(r, err)
	}
	// dockerd says this once it has the manifest: a pull that fails
	// before is an ordinary error answer.
	emit(progress, Progress{ID: tagOrDigest, Status: "Pulling from " + r.path})
	topDigest := desc.Digest.String()
	var manifests []manifestBlob
	mdesc := descriptor{MediaType: string(desc.MediaType), Digest: topDigest, Size: desc.Size}
	mbytes := desc.Manifest
	switch mdesc.MediaType {
	case mediaOCIManifest, mediaDockerManifest:
	case mediaOCIIndex, mediaDockerList:
		manifests = append(manifests, manifestBlob{blobRef: blobRef{Digest: topDigest, Size: int64(len(mbytes)), MediaType: mdesc.MediaType}, data: mbytes})
		child, err := pickFromIndex(mbytes, want)
		if err != nil {
			return "", err
		}
		cd, err := remote.Get(nref.Context().Digest(child.Digest), ropts...)
		if err != nil {
			return "", classifyRemote(err, "fetch manifest "+child.Digest)
		}
		mdesc = descriptor{MediaType: string(cd.MediaType), Digest: cd.Digest.String(), Size: cd.Size}
		mbytes = cd.Manifest
		if mdesc.Digest != child.Digest {
			return "", fmt.Errorf("manifest %s has digest %s: %w", child.Digest, mdesc.Digest, errdefs.ErrDataLoss)
		}
	default:
		return "", fmt.Errorf("manifest of media type %q is not an image hull can run: %w", mdesc.MediaType, errdefs.ErrNotImplemented)
	}
	if digestOf(mbytes) != mdesc.Digest {
		return "", fmt.Errorf("manifest %s: content has digest %s: %w", mdesc.Digest, digestOf(mbytes), errdefs.ErrDataLoss)
	}
	manifests = append([]manifestBlob{{blobRef: blobRef{Digest: mdesc.Digest, Size: int64(len(mbytes)), MediaType: mdesc.MediaType}, data: mbytes}}, manifests...)
	var m manifestJSON
	if err := json.Unmarshal(mbytes, &m); err != nil {
		return "", fmt.Errorf("manifest %s: %v: %w", mdesc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if err := ValidateDigest(m.Config.Digest); err != nil {
		return "", fmt.Errorf("manifest %s: config: %w", mdesc.Digest, err)
	}
	for _, l := range m.Layers {
		if err := ValidateDigest(l.Digest); err != nil {
			return "", fmt.Errorf("manifest %s: layer: %w", mdesc.Digest, err)
		}
	}

	rc, err := opts.client(ctx, nref.Context(), nref.Scope(transport.PullScope))
	if err != nil {
		return "", err
	}
	config, err := s.fetchSmall(ctx, rc, m.Config)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	cfg, err := parseConfig(config)
	if err != nil {
		return "", err
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(m.Layers) {
		return "", fmt.Errorf("manifest %s lists %d layers, its config %d diff ids: %w", mdesc.Digest, len(m.Layers), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	upToDate := s.upToDate(m.Config.Digest, r)

	// Fetch what is missing, a few blobs at once, and unpack in order as
	// the blobs arrive.
	pins := s.newPins()
	defer pins.release()
	chains := chainIDs(diffIDs)
	dl := &downloads{done: make([]chan error, len(m.Layers))}
	dctx, cancel := context.WithCancel(ctx)
	sem := make(chan struct{}, maxConcurrentDownloads)
	var wg sync.WaitGroup
	// A fetch no longer needed (its layer came meanwhile) stops.
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i, l := range m.Layers {
		dl.done[i] = make(chan error, 1)
		// Pinned before the look, so that the layer found stays.
		pins.pin(hexOf(chains[i]))
		if _, err := s.layers.Get(ctx, hexOf(chains[i])); err == nil || s.content.Has(ctx, l.Digest) {
			dl.done[i] <- nil
			continue
		}
		emit(progress, Progress{ID: shortID(l.Digest), Status: "Pulling fs layer"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-dctx.Done():
				dl.done[i] <- dctx.Err()
				return
			}
			defer func() { <-sem }()
			err := s.fetchLayer(dctx, rc, l, progress)
			if err == nil {
				dl.addIngested(l.Digest)
			}
			dl.done[i] <- err
		}()
	}
	srcs := make([]layerSource, len(m.Layers))
	for i, l := range m.Layers {
		srcs[i] = layerSource{
			open: func() (io.ReadCloser, error) {
				if err := <-dl.done[i]; err != nil {
					return nil, err
				}
				return s.content.Open(ctx, l.Digest)
			},
			size:       l.Size,
			digest:     l.Digest,
			progressID: shortID(l.Digest),
		}
	}
	layerProgress := progress
	if s.exists(m.Config.Digest) {
		// An image this daemon has already: nothing to say of its
		// layers, as dockerd pulls nothing then.
		layerProgress = nil
	}
	layers, err := s.unpack(ctx, pins, diffIDs, srcs, pullStatus, layerProgress, nil)
	if err != nil {
		cancel()
		wg.Wait()
		s.dropUnused(ctx, dl.all())
		return "", err
	}
	for i, l := range m.Layers {
		b := blobRef{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType}
		layers[i].Blob = &b
	}
	img := newImage{config: config, cfg: cfg, layers: layers, manifests: manifests}
	if r.tag != "" {
		img.tags = []ref{r}
	}
	img.digests = []ref{r.withDigest(topDigest)}
	crashpoint.At("pull: the blobs are fetched and the layers unpacked, the image is not recorded")
	id, err := s.commit(ctx, img)
	if err != nil {
		s.dropUnused(ctx, dl.all())
		return "", err
	}
	emit(progress, Progress{Status: "Digest: " + topDigest})
	if upToDate {
		emit(progress, Progress{Status: "Status: Image is up to date for " + r.Familiar()})
	} else {
		emit(progress, Progress{Status: "Status: Downloaded newer image for " + r.Familiar()})
	}
	return id, nil
}

// downloads tracks a pull's layer fetches.
type downloads struct {
	done []chan error

	// mu guards ingested, the blobs this pull stored.
	mu       sync.Mutex
	ingested []string
}

func (d *downloads) addIngested(dgst string) {
	d.mu.Lock()
	d.ingested = append(d.ingested, dgst)
	d.mu.Unlock()
}

func (d *downloads) all() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ingested...)
}

// upToDate reports whether the image id is stored and r already names it.
func (s *Store) upToDate(id string, r ref) bool {
	ok := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRefs).Get([]byte(r.String()))
		ok = v != nil && string(v) == id
		return nil
	})
	return ok
}

// dropUnused deletes blobs a failed pull stored that no image names.
func (s *Store) dropUnused(ctx context.Context, blobs []string) {
	if len(blobs) == 0 {
		return
	}
	used := map[string]bool{}
	recs, err := s.allRecords()
	if err != nil {
		return
	}
	for _, r := range recs {
		for _, l := range r.Layers {
			if l.Blob != nil {
				used[l.Blob.Digest] = true
			}
		}
	}
	for _, b := range blobs {
		if !used[b] {
			_ = s.content.Delete(ctx, b)
		}
	}
}

// fetchSmall fetches a config or manifest blob into memory, checked
// against its descriptor.
func (s *Store) fetchSmall(ctx context.Context, rc *registryClient, d descriptor) ([]byte, error) {
	if d.Size > maxConfigSize {
		return nil, fmt.Errorf("blob %s is %d bytes, more than the %d allowed: %w", d.Digest, d.Size, maxConfigSize, errdefs.ErrInvalidArgument)
	}
	if b, err := s.content.ReadAll(ctx, d.Digest); err == nil {
		return b, nil
	}
	body, err := rc.getBlob(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxConfigSize+1))
	if err != nil {
		return nil, classifyRemote(err, "fetch blob "+d.Digest)
	}
	if got := digestOf(b); got != d.Digest {
		return nil, fmt.Errorf("blob %s: content has digest %s: %w", d.Digest, got, errdefs.ErrDataLoss)
	}
	if d.Size != 0 && int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob %s is %d bytes, its descriptor says %d: %w", d.Digest, len(b), d.Size, errdefs.ErrDataLoss)
	}
	return b, nil
}

// fetchLayer stores the compressed layer blob d, checked while it
// streams.
func (s *Store) fetchLayer(ctx context.Context, rc *registryClient, d descriptor, progress func(Progress)) error {
	body, err := rc.getBlob(ctx, d.Digest)
	if err != nil {
		return err
	}
	defer body.Close()
	id := shortID(d.Digest)
	pr := &progressReader{r: body, total: d.Size, id: id, status: "Downloading", fn: progress}
	if err := s.content.Ingest(ctx, d.Digest, d.Size, pr); err != nil {
		return classifyRemote(err, "fetch layer "+d.Digest)
	}
	pr.flush()
	emit(progress, Progress{ID: id, Status: "Verifying Checksum"})
	emit(progress, Progress{ID: id, Status: "Download complete"})
	return nil
}

// pickFromIndex chooses the manifest of an index for platform want.
func pickFromIndex(b []byte, want platform) (descriptor, error) {
	var idx indexJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		return descriptor{}, fmt.Errorf("index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for _, d := range idx.Manifests {
		if d.Platform == nil || !platformMatches(*d.Platform, want) {
			continue
		}
		switch d.MediaType {
		case mediaOCIManifest, mediaDockerManifest:
			if err := ValidateDigest(d.Digest); err != nil {
				return descriptor{}, err
			}
			return d, nil
		}
	}
	w := want.OS + "/" + want.Architecture
	if want.Variant != "" {
		w += "/" + want.Variant
	}
	return descriptor{}, fmt.Errorf("no matching manifest for %s in the manifest list entries: %w", w, errdefs.ErrNotFound)
}
