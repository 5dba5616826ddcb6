package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// importComment is the history comment docker writes for an import from
// standard input.
const importComment = "Imported from -"

// Import makes a single-layer image from r, a root file system as a tar
// (plain or gzip, zstd or bzip2 compressed), as docker import does. The
// tar streams straight into the layer store; the image's config gets this
// machine's OS and architecture, the time of the import, a history entry
// "Imported from -", and changes applied (Dockerfile instructions, see
// docker import --change: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR). tag, a reference,
// when given, names the image. A bad reference or change fails with
// errdefs.ErrInvalidArgument before r is read. It returns the image id.
func (s *Store) Import(ctx context.Context, r io.Reader, tag string, changes []string, progress func(Progress)) (string, error) {
	var tags []ref
	if tag != "" {
		t, err := parseTagRef(tag)
		if err != nil {
			return "", fmt.Errorf("import: %w", err)
		}
		tags = append(tags, t)
	}
	now := time.Now().UTC()
	cfg := &configFile{
		Architecture: runtime.GOARCH,
		Variant:      hostVariant(),
		OS:           runtime.GOOS,
		Created:      now,
		Comment:      importComment,
		History:      []historyEntry{{Created: now, Comment: importComment}},
	}
	if err := applyChanges(&cfg.Config, changes); err != nil {
		return "", fmt.Errorf("import: %w", err)
	}

	pins := s.newPins()
	defer pins.release()
	pr := &progressReader{r: ctxReader{ctx, r}, status: "Importing", fn: progress, total: -1}
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
	id, err := s.commit(ctx, newImage{config: config, cfg: cfg, layers: layers, tags: tags})
	if err != nil {
		s.rollbackLayer(ctx, hexOf(in.DiffID), pins.count(hexOf(in.DiffID)))
		return "", fmt.Errorf("import: %w", err)
	}
	return id, nil
}
