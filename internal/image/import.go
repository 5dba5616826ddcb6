package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// ImportOptions describe the image Import makes, as the parameters of
// POST /images/create?fromSrc= do.
type ImportOptions struct {
	// Repo and Tag name the image (repo may hold the tag; Tag wins);
	// empty Repo for none.
	Repo, Tag string
	// Changes are Dockerfile instructions applied to an empty config (see
	// ApplyChanges).
	Changes []string
	// Message is the image's comment and history comment; empty means
	// "Imported from " and Source.
	Message string
	// Source is where the tar comes from, for the default message: "-"
	// for the request's body, or the URL.
	Source string
	// Platform is os[/arch[/variant]], containerd's form; empty means
	// this machine's. The OS must be this machine's.
	Platform string
	// Progress, when set, hears how many bytes were read.
	Progress func(Progress)
}

// ImportReference checks an import's repo and tag as dockerd does and
// returns the normalized reference, or "" when repo is empty. Errors are
// errdefs.ErrInvalidArgument in dockerd's words.
func ImportReference(repo, tag string) (string, error) {
	if repo == "" {
		return "", nil
	}
	if n, err := reference.ParseNormalizedNamed(repo); err == nil {
		if _, ok := n.(reference.Canonical); ok {
			return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "cannot import digest reference")
		}
	}
	r, err := TagReference(repo, tag)
	if err != nil {
		return "", err
	}
	if _, err := parseTagRef(r); err != nil {
		return "", err
	}
	return r, nil
}

// ImportPlatform reads an import's platform as dockerd does (containerd's
// parser, normalized); empty means this machine's. An OS other than this
// machine's is refused, as dockerd refuses it.
func ImportPlatform(s string) (os, arch, variant string, err error) {
	if s == "" {
		return runtime.GOOS, runtime.GOARCH, hostVariant(), nil
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return "", "", "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
	}
	p = platforms.Normalize(p)
	if p.OS != runtime.GOOS {
		return "", "", "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "operating system is not supported")
	}
	return p.OS, p.Architecture, p.Variant, nil
}

// Import makes a single-layer image from r, a root file system as a tar
// (plain or gzip, bzip2, xz or zstd compressed), as docker import does.
// The tar streams straight into the layer store; the image's config gets
// the platform asked for (this machine's by default), the time of the
// import, the message as its comment and history entry, and the changes
// applied. A bad reference, platform or change fails with
// errdefs.ErrInvalidArgument, in dockerd's words, before r is read. It
// returns the image id.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (string, error) {
	var tags []ref
	if opts.Repo != "" {
		norm, err := ImportReference(opts.Repo, opts.Tag)
		if err != nil {
			return "", fmt.Errorf("import: %w", err)
		}
		t, err := parseTagRef(norm)
		if err != nil {
			return "", fmt.Errorf("import: %w", err)
		}
		tags = append(tags, t)
	}
	os, arch, variant, err := ImportPlatform(opts.Platform)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	msg := opts.Message
	if msg == "" {
		src := opts.Source
		if src == "" {
			src = "-"
		}
		msg = "Imported from " + src
	}
	now := time.Now().UTC()
	cfg := &configFile{
		Architecture: arch,
		Variant:      variant,
		OS:           os,
		Created:      now,
		Comment:      msg,
		History:      []historyEntry{{Created: now, Comment: msg}},
	}
	if err := ApplyChanges(&cfg.Config, opts.Changes); err != nil {
		return "", fmt.Errorf("import: %w", err)
	}

	pins := s.newPins()
	defer pins.release()
	pr := &progressReader{r: ctxReader{ctx, r}, status: "Importing", fn: opts.Progress, total: -1}
	tar, err := decompress(pr)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	defer tar.Close()
	in, err := s.layers.CreateFunc(ctx, "", tar, layer.ApplyOptions{}, func(m layer.Meta) (string, error) {
		if err := ValidateDigest(m.DiffID); err != nil {
			return "", err
		}
		id := hexOf(m.DiffID)
		if !pins.tryPin(id) {
			return "", fmt.Errorf("layer %s is being removed; try again: %w", id, errdefs.ErrConflict)
		}
		return id, nil
	})
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	pr.flush()
	cfg.RootFS = rootFS{Type: "layers", DiffIDs: []string{in.DiffID}}
	config, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	layers := []layerRecord{{DiffID: in.DiffID, ChainID: in.DiffID, TarSize: in.TarSize, Size: in.Size}}
	crashpoint.At("import: the layer is made, the image is not recorded")
	id, err := s.commit(ctx, newImage{config: config, cfg: cfg, layers: layers, tags: tags, tagged: true})
	if err != nil {
		s.rollbackLayer(ctx, hexOf(in.DiffID), pins.count(hexOf(in.DiffID)))
		return "", fmt.Errorf("import: %w", err)
	}
	return id, nil
}
