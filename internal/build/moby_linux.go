package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/source"
	"github.com/moby/buildkit/source/containerimage"
	"github.com/moby/buildkit/util/progress"
	"github.com/moby/buildkit/util/resolver"
	"github.com/moby/buildkit/worker/base"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// mobyExporter is the name of the exporter that puts the built image in
// the daemon's image store, as dockerd's (what docker build and buildx's
// docker driver ask for by default).
const mobyExporter = "moby"

// hullWorker is BuildKit's base worker with hull's image store behind
// it: FROM takes the daemon's image of that name first (dockerd's
// default, where BuildKit's own would ask the registry first), and the
// moby exporter loads the result into the daemon.
type hullWorker struct {
	*base.Worker
	daemon *daemonAPI
}

// newHullWorker wraps w. Its image source is registered again so that an
// image reference without a resolve mode prefers the local image.
func newHullWorker(w *base.Worker, api *daemonAPI) *hullWorker {
	w.SourceManager.Register(preferLocal{w.ImageSource})
	return &hullWorker{Worker: w, daemon: api}
}

// ResolveSourceMetadata resolves FROM's image config hull's image first.
func (w *hullWorker) ResolveSourceMetadata(ctx context.Context, op *pb.SourceOp, opt sourceresolver.Opt, sm *session.Manager, jobCtx solver.JobContext) (*sourceresolver.MetaResponse, error) {
	if opt.ImageOpt != nil && isDefaultMode(opt.ImageOpt.ResolveMode) {
		o := *opt.ImageOpt
		o.ResolveMode = pb.AttrImageResolveModePreferLocal
		opt.ImageOpt = &o
	}
	return w.Worker.ResolveSourceMetadata(ctx, op, opt, sm, jobCtx)
}

func isDefaultMode(m string) bool { return m == "" || m == pb.AttrImageResolveModeDefault }

// Exporter adds the moby exporter ("image" is taken as moby too, as
// buildx's docker driver means it) to BuildKit's own.
func (w *hullWorker) Exporter(name string, sm *session.Manager) (exporter.Exporter, error) {
	switch name {
	case mobyExporter, client.ExporterImage:
		if w.daemon == nil {
			return nil, fmt.Errorf("exporter %q: hull-buildkit was started without the daemon's socket", name)
		}
		inner, err := w.Worker.Exporter(client.ExporterImage, sm)
		if err != nil {
			return nil, err
		}
		return &toDaemon{inner: inner, w: w}, nil
	}
	return w.Worker.Exporter(name, sm)
}

// preferLocal is BuildKit's registry image source whose default resolve
// mode is "local": the image hull has under the name, else the registry.
type preferLocal struct{ *containerimage.Source }

func (s preferLocal) Identifier(scheme, ref string, attrs map[string]string, platform *pb.Platform) (source.Identifier, error) {
	id, err := s.Source.Identifier(scheme, ref, attrs, platform)
	if iid, ok := id.(*containerimage.ImageIdentifier); ok && iid.ResolveMode == resolver.ResolveModeDefault {
		iid.ResolveMode = resolver.ResolveModePreferLocal
	}
	return id, err
}

// toDaemon is the moby exporter: BuildKit's image exporter writes the
// image (uncompressed layers) into BuildKit's content store, untagged;
// the image is then loaded into the daemon (docker load of config and
// layers) and tagged there with the names asked for.
type toDaemon struct {
	inner exporter.Exporter
	w     *hullWorker
}

func (e *toDaemon) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	a := maps.Clone(attrs)
	if a == nil {
		a = map[string]string{}
	}
	names := a[string(exptypes.OptKeyName)]
	delete(a, string(exptypes.OptKeyName))
	if v := a[string(exptypes.OptKeyPush)]; v != "" && v != "false" {
		return nil, fmt.Errorf("exporter %q: push is not supported; push the image with docker push: %w", mobyExporter, errdefs.ErrInvalidArgument)
	}
	// hull keeps layers unpacked: compressing them only to unpack them
	// again would be lost time.
	if _, ok := a["compression"]; !ok {
		a["compression"] = "uncompressed"
		a["force-compression"] = "true"
	}
	inst, err := e.inner.Resolve(ctx, id, a)
	if err != nil {
		return nil, err
	}
	return &toDaemonInstance{ExporterInstance: inst, names: names, attrs: attrs, w: e.w}, nil
}

type toDaemonInstance struct {
	exporter.ExporterInstance
	names string
	attrs map[string]string
	w     *hullWorker
}

func (i *toDaemonInstance) Name() string             { return "exporting to image" }
func (i *toDaemonInstance) Type() string             { return mobyExporter }
func (i *toDaemonInstance) Attrs() map[string]string { return i.attrs }

func (i *toDaemonInstance) contentStore() content.Store { return i.w.ContentStore() }
func (i *toDaemonInstance) daemon() *daemonAPI          { return i.w.daemon }

func (i *toDaemonInstance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	if len(src.Refs) > 1 {
		return nil, nil, nil, fmt.Errorf("exporter %q: a build for several platforms cannot be loaded into hull's image store: %w", mobyExporter, errdefs.ErrInvalidArgument)
	}
	// Attestations (buildx's provenance) would make an image index;
	// hull's store, as dockerd's graph-driver store, keeps images
	// alone, and the moby exporter drops them as dockerd's does.
	src = src.Clone()
	src.Attestations = nil
	resp, finalize, ref, err := i.ExporterInstance.Export(ctx, src, info)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
		if ref != nil {
			ref.Release()
		}
		return nil, nil, nil, err
	}
	desc := ref.Descriptor()
	if images.IsIndexType(desc.MediaType) {
		return fail(fmt.Errorf("exporter %q: an image index cannot be loaded into hull's image store: %w", mobyExporter, errdefs.ErrInvalidArgument))
	}
	mb, err := content.ReadBlob(ctx, i.contentStore(), desc)
	if err != nil {
		return fail(err)
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return fail(fmt.Errorf("the built image's manifest: %w", err))
	}
	id := m.Config.Digest.String()
	done := progress.OneOff(ctx, "writing image "+id)
	if err := i.load(ctx, m); err != nil {
		return fail(done(err))
	}
	done(nil)
	for _, n := range strings.Split(i.names, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		shown := n // as dockerd's moby exporter: docker.io/library/app:1
		if named, err := reference.ParseNormalizedNamed(n); err == nil {
			shown = named.String()
		}
		done := progress.OneOff(ctx, "naming to "+shown)
		if err := i.tag(ctx, id, n); err != nil {
			return fail(done(err))
		}
		done(nil)
	}
	resp[exptypes.ExporterImageDigestKey] = id
	resp[exptypes.ExporterImageConfigDigestKey] = id
	if i.names != "" {
		resp[exptypes.ExporterImageNameKey] = i.names
	}
	return resp, finalize, ref, nil
}

// load loads the image of manifest m into the daemon: a docker save
// archive of its config and layers, streamed, manifest.json first so
// that the daemon applies each layer as it passes.
func (i *toDaemonInstance) load(ctx context.Context, m ocispecs.Manifest) error {
	// An image the daemon has (a rebuild that changed nothing) is not
	// sent again: its id is its config's digest.
	if id, err := i.daemon().imageID(ctx, m.Config.Digest.String()); err == nil && id == m.Config.Digest.String() {
		return nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(i.writeArchive(ctx, m, pw))
	}()
	ids, err := i.daemon().load(ctx, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("load the built image into hull: %w", err)
	}
	if len(ids) != 1 || ids[0] != m.Config.Digest.String() {
		return fmt.Errorf("load the built image into hull: the daemon loaded %v, not %s", ids, m.Config.Digest)
	}
	return nil
}

func (i *toDaemonInstance) writeArchive(ctx context.Context, m ocispecs.Manifest, w io.Writer) error {
	blobName := func(d ocispecs.Descriptor) string { return "blobs/sha256/" + d.Digest.Encoded() }
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: blobName(m.Config), Layers: []string{}}
	for _, l := range m.Layers {
		if !isUncompressed(l.MediaType) {
			return fmt.Errorf("layer %s is %s, not an uncompressed tar", l.Digest, l.MediaType)
		}
		entry.Layers = append(entry.Layers, blobName(l))
	}
	mj, err := json.Marshal([]any{entry})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	file := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: now})
	}
	if err := file("manifest.json", int64(len(mj))); err != nil {
		return err
	}
	if _, err := tw.Write(mj); err != nil {
		return err
	}
	written := map[string]bool{}
	for _, d := range append([]ocispecs.Descriptor{m.Config}, m.Layers...) {
		if written[d.Digest.String()] {
			continue
		}
		written[d.Digest.String()] = true
		ra, err := i.contentStore().ReaderAt(ctx, d)
		if err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		err = file(blobName(d), ra.Size())
		if err == nil {
			_, err = io.Copy(tw, content.NewReader(ra))
		}
		ra.Close()
		if err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
	}
	return tw.Close()
}

func isUncompressed(mt string) bool {
	switch mt {
	case ocispecs.MediaTypeImageLayer, images.MediaTypeDockerSchema2Layer:
		return true
	}
	return false
}

// tag tags image id in the daemon with name, a normalised reference
// (docker.io/library/app:1) as buildx sends it.
func (i *toDaemonInstance) tag(ctx context.Context, id, name string) error {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return fmt.Errorf("name %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil // a digest names the image, not a tag
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return i.daemon().tag(ctx, id, reference.FamiliarName(named), tag)
}
