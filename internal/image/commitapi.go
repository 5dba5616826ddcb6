package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

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
}

// Commit makes a new image from parent (an image reference or id) and
// diff, a layer tar with whiteouts (a container's scratch layer exported),
// as docker commit does: the diff becomes a new read-only layer on top of
// the parent's, and the image's config is the parent's with opts applied
// and a history entry added. It returns the new image's id.
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
	if err := applyChanges(&cfg.Config, opts.Changes); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	now := time.Now().UTC()
	cfg.Created, cfg.Comment, cfg.Author = now, opts.Comment, opts.Author
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
	cfg.RootFS = rootFS{Type: "layers", DiffIDs: append(slices.Clone(pcfg.RootFS.DiffIDs), in.DiffID)}
	config, err := json.Marshal(&cfg)
	if err != nil {
		return "", err
	}
	layers := append(slices.Clone(prec.Layers), layerRecord{DiffID: in.DiffID, ChainID: chain, TarSize: in.TarSize, Size: in.Size})
	id, err := s.commit(ctx, newImage{config: config, cfg: &cfg, layers: layers, tags: tags, parent: prec.ID})
	if err != nil {
		s.rollbackLayer(ctx, hexOf(chain), pins.count(hexOf(chain)))
		return "", fmt.Errorf("commit: %w", err)
	}
	return id, nil
}
