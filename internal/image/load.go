package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// Media types hull reads and writes.
const (
	mediaOCIManifest     = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex        = "application/vnd.oci.image.index.v1+json"
	mediaOCIConfig       = "application/vnd.oci.image.config.v1+json"
	mediaOCILayer        = "application/vnd.oci.image.layer.v1.tar"
	mediaOCILayerGzip    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaDockerManifest  = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerList      = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerConfig    = "application/vnd.docker.container.image.v1+json"
	mediaDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Annotations that name an image in an OCI layout.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerdRef = "io.containerd.image.name"
)

// Bounds on the small JSON files of an archive.
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 8 << 20
)

// loadImage is one image an archive holds, checked and ready to unpack.
type loadImage struct {
	config    []byte
	id        string
	cfg       *configFile
	sources   []layerSource
	tags      []ref
	manifests []manifestBlob
	// blobs are the compressed forms of the layers, when the archive
	// gives them with digests (OCI layout); nil entries otherwise.
	blobs []*blobRef
}

// Load reads images from r, a docker-archive (docker save, with its
// manifest.json) or an OCI image layout tarball (oci-layout and
// index.json; image names from the io.containerd.image.name or
// org.opencontainers.image.ref.name annotations), possibly compressed.
// It returns the images loaded, in the archive's order. Every image and layer is checked before it is
// used; a broken archive fails with errdefs.ErrInvalidArgument (not an
// image archive, a file missing) or errdefs.ErrDataLoss (content that
// does not match its digest), leaving nothing behind of the image that
// failed.
//
// When r is a regular file, Load reads it in place. A stream is read
// once: when the archive names its images before their layers (as Save
// writes it), each layer is applied as it streams past; other files are
// held in memory (up to 1 GiB of layers) or spooled under the store's tmp
// folder until the archive's end says where they go.
func (s *Store) Load(ctx context.Context, r io.Reader, progress func(Progress)) (_ []Loaded, rerr error) {
	d := &directLoader{s: s, ctx: ctx, pins: s.newPins(), progress: progress, pre: map[string]layerRecord{}, pinned: map[string]bool{}}
	defer func() {
		if rerr != nil {
			for i := len(d.created) - 1; i >= 0; i-- {
				s.rollbackLayer(ctx, d.created[i], d.pins.count(d.created[i]))
			}
		}
		d.pins.release()
	}()
	a, err := readArchive(ctx, r, s.tmp, d.offer)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer a.close()
	imgs, err := archiveImages(a)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var loaded []Loaded
	for _, img := range imgs {
		id, err := s.loadOne(ctx, img, progress, d.pre)
		if err != nil {
			return loaded, fmt.Errorf("load image %s: %w", img.id, err)
		}
		l := Loaded{ID: id}
		for _, t := range img.tags {
			l.Tags = append(l.Tags, t.Familiar())
		}
		loaded = append(loaded, l)
	}
	return loaded, nil
}

// Loaded is an image Load loaded: its id and the references the archive
// gave it, in docker's short form (busybox:latest).
type Loaded struct {
	ID   string
	Tags []string
}

// archiveImages finds the images of an archive.
func archiveImages(a *archive) ([]*loadImage, error) {
	switch {
	case a.present("manifest.json"):
		return dockerArchiveImages(a)
	case a.present("index.json"):
		return ociLayoutImages(a)
	}
	return nil, fmt.Errorf("archive has neither manifest.json (docker save) nor index.json (OCI layout): %w", errdefs.ErrInvalidArgument)
}

func (s *Store) loadOne(ctx context.Context, img *loadImage, progress func(Progress), pre map[string]layerRecord) (string, error) {
	pins := s.newPins()
	defer pins.release()
	layers, err := s.unpack(ctx, pins, img.cfg.RootFS.DiffIDs, img.sources, loadStatus, progress, pre)
	if err != nil {
		return "", err
	}
	for i, b := range img.blobs {
		if b != nil && layers[i].Blob == nil {
			layers[i].Blob = b
		}
	}
	crashpoint.At("load: the layers are unpacked, the image is not recorded")
	return s.commit(ctx, newImage{config: img.config, cfg: img.cfg, layers: layers, manifests: img.manifests, tags: img.tags})
}

// directLoader applies the layers of a streamed archive as they pass, when
// the archive has named its images and their layers before: it draws a
// plan from the files read so far and applies each layer file that is the
// next one the plan needs. Files out of that order are left to be kept.
// Every check of a normal load is made again once the archive is read;
// the layers made here are found existing then.
type directLoader struct {
	s        *Store
	ctx      context.Context
	pins     *pinSet
	progress func(Progress)

	plan    []*loadImage
	uses    map[string]int // layer file -> times the plan uses it
	tried   int            // archive files known at the last planning
	stopped bool
	k, j    int // the next layer needed: plan[k], layer j
	archive *archive
	pinned  map[string]bool

	// pre are the layers made here, by chain id, created the same in
	// order.
	pre     map[string]layerRecord
	created []string
}

func (d *directLoader) offer(a *archive, name string, size int64, r io.Reader) (bool, error) {
	if d.stopped {
		return false, nil
	}
	d.archive = a
	if d.plan == nil {
		if len(d.archive.entries) == d.tried {
			return false, nil
		}
		d.tried = len(d.archive.entries)
		d.archive.partial = true
		plan, err := archiveImages(d.archive)
		d.archive.partial = false
		if err != nil {
			return false, nil
		}
		d.plan, d.uses = plan, map[string]int{}
		for _, img := range plan {
			for _, src := range img.sources {
				d.uses[src.name]++
			}
		}
	}
	// Move past the layers that exist.
	for {
		if d.k >= len(d.plan) {
			d.stopped = true
			return false, nil
		}
		img := d.plan[d.k]
		if d.j >= len(img.sources) {
			d.k, d.j = d.k+1, 0
			continue
		}
		chain := chainIDs(img.cfg.RootFS.DiffIDs)[d.j]
		if _, ok := d.pre[chain]; ok {
			d.j++
			continue
		}
		if !d.pinned[chain] {
			d.pins.pin(hexOf(chain))
			d.pinned[chain] = true
		}
		if _, err := d.s.layers.Get(d.ctx, hexOf(chain)); err == nil {
			d.j++
			continue
		}
		break
	}
	img := d.plan[d.k]
	src := img.sources[d.j]
	if src.name != name || d.uses[name] != 1 {
		return false, nil
	}
	diffIDs := img.cfg.RootFS.DiffIDs
	chains := chainIDs(diffIDs)
	parent := ""
	if d.j > 0 {
		parent = hexOf(chains[d.j-1])
	}
	src.open = func() (io.ReadCloser, error) { return io.NopCloser(r), nil }
	src.size = size
	in, err := d.s.createLayer(d.ctx, parent, diffIDs[d.j], src, loadStatus, d.progress)
	if err != nil {
		return true, fmt.Errorf("load image %s: layer %d of %d (%s): %w", img.id, d.j+1, len(diffIDs), diffIDs[d.j], err)
	}
	d.created = append(d.created, in.ID)
	d.pre[chains[d.j]] = layerRecord{DiffID: diffIDs[d.j], ChainID: chains[d.j], TarSize: in.TarSize, Size: in.Size}
	emit(d.progress, Progress{ID: shortID(diffIDs[d.j]), Status: loadStatus.done})
	d.j++
	return true, nil
}

// present reports whether file name has been read, partial or not.
func (a *archive) present(name string) bool {
	p := a.partial
	a.partial = false
	_, ok := a.get(name)
	a.partial = p
	return ok
}

// dockerManifest is one image of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func dockerArchiveImages(a *archive) ([]*loadImage, error) {
	b, err := a.readSmall("manifest.json", maxManifestSize)
	if err != nil {
		return nil, err
	}
	var ms []dockerManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("manifest.json names no image: %w", errdefs.ErrInvalidArgument)
	}
	var out []*loadImage
	for _, m := range ms {
		config, err := a.readSmall(m.Config, maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("manifest.json: config: %w", err)
		}
		img := &loadImage{config: config, id: digestOf(config)}
		if want := digestInName(m.Config); want != "" && want != img.id {
			return nil, fmt.Errorf("config %s has digest %s: %w", m.Config, img.id, errdefs.ErrDataLoss)
		}
		if img.cfg, err = parseConfig(config); err != nil {
			return nil, fmt.Errorf("config %s: %w", m.Config, err)
		}
		diffIDs := img.cfg.RootFS.DiffIDs
		if len(diffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("manifest.json lists %d layers, config %s has %d diff ids: %w",
				len(m.Layers), m.Config, len(diffIDs), errdefs.ErrInvalidArgument)
		}
		for i, l := range m.Layers {
			e, ok := a.get(l)
			if !ok {
				return nil, fmt.Errorf("manifest.json names layer %s, which the archive lacks: %w", l, errdefs.ErrInvalidArgument)
			}
			src := layerSource{name: cleanName(l), open: openEntry(e), size: e.size}
			if d := digestInName(l); d != "" && d != diffIDs[i] {
				// A compressed layer named by its digest: check it too.
				src.digest = d
			}
			img.sources = append(img.sources, src)
			img.blobs = append(img.blobs, nil)
		}
		for _, t := range m.RepoTags {
			r, err := parseTagRef(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: tag: %w", err)
			}
			img.tags = append(img.tags, r)
		}
		out = append(out, img)
	}
	return out, nil
}

func openEntry(e *entry) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(e.reader()), nil }
}

// digestInName finds the digest an archive path is named by, as the
// writers of docker archives name files: blobs/sha256/<hex>,
// sha256:<hex>, <hex>.json, <hex>.tar.gz. It returns "" when the name
// holds none.
func digestInName(p string) string {
	base := path.Base(p)
	if dir := path.Dir(cleanName(p)); path.Base(dir) == "sha256" && path.Dir(dir) == "blobs" {
		if len(base) == 64 && isHex(base) {
			return "sha256:" + base
		}
		return ""
	}
	base = strings.TrimPrefix(base, "sha256:")
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if len(base) == 64 && isHex(base) {
		return "sha256:" + base
	}
	return ""
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"os.version,omitempty"`
}

type indexJSON struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Manifests     []descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type manifestJSON struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// blobPath is where an OCI layout keeps blob d.
func blobPath(d string) string {
	alg, h, _ := strings.Cut(d, ":")
	return "blobs/" + alg + "/" + h
}

// readBlob returns a small blob of an OCI layout, checked against desc.
func (a *archive) readBlob(desc descriptor, max int64) ([]byte, error) {
	if err := ValidateDigest(desc.Digest); err != nil {
		return nil, err
	}
	b, err := a.readSmall(blobPath(desc.Digest), max)
	if err != nil {
		return nil, err
	}
	if got := digestOf(b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s has digest %s: %w", desc.Digest, got, errdefs.ErrDataLoss)
	}
	if desc.Size != 0 && int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("blob %s is %d bytes, its descriptor says %d: %w", desc.Digest, len(b), desc.Size, errdefs.ErrDataLoss)
	}
	return b, nil
}

func ociLayoutImages(a *archive) ([]*loadImage, error) {
	b, err := a.readSmall("index.json", maxManifestSize)
	if err != nil {
		return nil, err
	}
	var idx indexJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	byID := map[string]*loadImage{}
	var out []*loadImage
	for _, d := range idx.Manifests {
		md, err := pickManifest(a, d, 0)
		if err != nil {
			return nil, err
		}
		if md == nil {
			continue
		}
		img, err := ociImage(a, *md)
		if err != nil {
			return nil, err
		}
		if prev, ok := byID[img.id]; ok {
			img = prev
		} else {
			byID[img.id] = img
			out = append(out, img)
		}
		if r, ok := layoutName(d.Annotations); ok {
			img.tags = append(img.tags, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("index.json names no image for %s/%s: %w", runtime.GOOS, runtime.GOARCH, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

// pickManifest follows d down to an image manifest for this platform; it
// returns nil for descriptors that are not images (attestations, other
// artifacts).
func pickManifest(a *archive, d descriptor, depth int) (*descriptor, error) {
	switch d.MediaType {
	case mediaOCIManifest, mediaDockerManifest:
		return &d, nil
	case mediaOCIIndex, mediaDockerList:
	default:
		return nil, nil
	}
	if depth > 4 {
		return nil, fmt.Errorf("index %s: indexes nested too deep: %w", d.Digest, errdefs.ErrInvalidArgument)
	}
	b, err := a.readBlob(d, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", d.Digest, err)
	}
	var idx indexJSON
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index %s: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
	}
	var best *descriptor
	for i := range idx.Manifests {
		c := idx.Manifests[i]
		if c.Platform != nil && !platformMatches(*c.Platform, hostPlatform()) {
			continue
		}
		md, err := pickManifest(a, c, depth+1)
		if err != nil {
			return nil, err
		}
		if md != nil && best == nil {
			best = md
		}
	}
	return best, nil
}

// hostPlatform is the platform images are chosen for.
func hostPlatform() platform {
	return platform{OS: runtime.GOOS, Architecture: runtime.GOARCH, Variant: hostVariant()}
}

func hostVariant() string {
	switch runtime.GOARCH {
	case "arm64":
		return "v8"
	}
	return ""
}

// platformMatches reports whether an image for p runs on want.
func platformMatches(p, want platform) bool {
	if p.OS != want.OS || p.Architecture != want.Architecture {
		return false
	}
	return p.Variant == "" || want.Variant == "" || p.Variant == want.Variant
}

// layoutName is the image name an index entry's annotations give: the
// containerd name, else a ref.name that is a whole reference (a bare tag
// names no repository).
func layoutName(ann map[string]string) (ref, bool) {
	if n := ann[annotationContainerdRef]; n != "" {
		if r, err := parseTagRef(n); err == nil {
			return r, true
		}
	}
	if n := ann[annotationRefName]; strings.ContainsAny(n, "/:") {
		if r, err := parseTagRef(n); err == nil {
			return r, true
		}
	}
	return ref{}, false
}

func ociImage(a *archive, md descriptor) (*loadImage, error) {
	mb, err := a.readBlob(md, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", md.Digest, err)
	}
	var m manifestJSON
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %v: %w", md.Digest, err, errdefs.ErrInvalidArgument)
	}
	config, err := a.readBlob(m.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: config: %w", md.Digest, err)
	}
	img := &loadImage{config: config, id: m.Config.Digest}
	if img.cfg, err = parseConfig(config); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	mt := md.MediaType
	if mt == "" {
		mt = m.MediaType
	}
	img.manifests = []manifestBlob{{blobRef: blobRef{Digest: md.Digest, Size: int64(len(mb)), MediaType: mt}, data: mb}}
	if len(m.Layers) != len(img.cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("manifest %s lists %d layers, its config %d diff ids: %w",
			md.Digest, len(m.Layers), len(img.cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	for i, l := range m.Layers {
		if err := ValidateDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("manifest %s: layer: %w", md.Digest, err)
		}
		e, ok := a.get(blobPath(l.Digest))
		if !ok {
			return nil, fmt.Errorf("manifest %s names layer %s, which the archive lacks: %w", md.Digest, l.Digest, errdefs.ErrInvalidArgument)
		}
		if l.Size != 0 && e.size >= 0 && e.size != l.Size {
			return nil, fmt.Errorf("layer %s is %d bytes, the manifest says %d: %w", l.Digest, e.size, l.Size, errdefs.ErrDataLoss)
		}
		src := layerSource{name: blobPath(l.Digest), open: openEntry(e), size: e.size}
		if l.Digest != img.cfg.RootFS.DiffIDs[i] {
			// Compressed: check the blob as well as the tar in it.
			src.digest = l.Digest
		}
		img.sources = append(img.sources, src)
		img.blobs = append(img.blobs, &blobRef{Digest: l.Digest, Size: e.size, MediaType: l.MediaType})
	}
	return img, nil
}
