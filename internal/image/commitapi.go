package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// emptyTarDiffID is the diff id of a tar with no entries.
const emptyTarDiffID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

// CommitOptions describe the image Commit makes.
type CommitOptions struct {
	// Ref names the new image (repository[:tag]); empty for none.
	Ref string
	// Config is the container's configuration, which becomes the image's
	// (docker commit keeps the container's Cmd, Env, …); Changes then
	// apply Dockerfile instructions to it.
	Config  Config
	Changes []string
	Comment string
	Author  string
	// CreatedBy is the history entry's command.
	CreatedBy string
	// Container and ContainerConfig record the container committed (its
	// id and configuration as JSON), as docker's image config does.
	Container       string
	ContainerConfig json.RawMessage
}

// Commit makes a new image from parent (an image reference or id) and
// diff, a layer tar with whiteouts (a container's scratch layer exported),
// as docker commit does: the diff becomes a new read-only layer on top of
// the parent's (none when it is empty), the image's config is the
// parent's with opts applied and a history entry added, and the parent is
// recorded as the new image's (docker's Parent, its history's ids, and
// the "dependent child images" that keep a parent). It returns the new
// image's id.
func (s *Store) Commit(ctx context.Context, parent string, diff io.Reader, opts CommitOptions) (string, error) {
	var tags []ref
	if opts.Ref != "" {
		t, err := parseTagRef(opts.Ref)
		if err != nil {
			return "", fmt.Errorf("commit: %w", err)
		}
		tags = append(tags, t)
	}
	prec, pcfg, err := s.load(ctx, parent)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	cfg := *pcfg
	cfg.Config = opts.Config
	if err := ApplyChanges(&cfg.Config, opts.Changes); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	now := time.Now().UTC()
	cfg.Created, cfg.Comment, cfg.Author = now, opts.Comment, opts.Author
	cfg.Container, cfg.ContainerConfig = opts.Container, opts.ContainerConfig
	cfg.History = append(slices.Clone(pcfg.History), historyEntry{Created: now, CreatedBy: opts.CreatedBy, Author: opts.Author, Comment: opts.Comment})

	pins := s.newPins()
	defer pins.release()
	parentLayer, parentChain := "", ""
	if n := len(prec.Layers); n > 0 {
		parentChain = prec.Layers[n-1].ChainID
		parentLayer = hexOf(parentChain)
		if !pins.tryPin(parentLayer) {
			return "", fmt.Errorf("commit: the parent's layer is being removed; try again: %w", errdefs.ErrConflict)
		}
	}
	var chain string
	in, err := s.layers.CreateFunc(ctx, parentLayer, diff, layer.ApplyOptions{}, func(m layer.Meta) (string, error) {
		if err := ValidateDigest(m.DiffID); err != nil {
			return "", err
		}
		chain = m.DiffID
		if parentChain != "" {
			chain = chainID(parentChain, m.DiffID)
		}
		id := hexOf(chain)
		if !pins.tryPin(id) {
			return "", fmt.Errorf("layer %s is being removed; try again: %w", id, errdefs.ErrConflict)
		}
		return id, nil
	})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	// A container that changed nothing adds no layer, as with dockerd:
	// its history step is marked empty.
	empty := in.DiffID == emptyTarDiffID
	cfg.RootFS = rootFS{Type: "layers", DiffIDs: slices.Clone(pcfg.RootFS.DiffIDs)}
	layers := slices.Clone(prec.Layers)
	if empty {
		cfg.History[len(cfg.History)-1].EmptyLayer = true
	} else {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, in.DiffID)
		layers = append(layers, layerRecord{DiffID: in.DiffID, ChainID: chain, TarSize: in.TarSize, Size: in.Size})
	}
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []string{}
	}
	config, err := json.Marshal(&cfg)
	if err != nil {
		return "", err
	}
	crashpoint.At("commit: the layer is made, the image is not recorded")
	id, err := s.commit(ctx, newImage{config: config, cfg: &cfg, layers: layers, tags: tags, parent: prec.ID, tagged: true})
	if err != nil || empty {
		s.rollbackLayer(ctx, hexOf(chain), pins.count(hexOf(chain)))
	}
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return id, nil
}
