package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/image"
)

// ContainerCommit is POST /commit: a new image of the container's image
// plus what the container changed (its scratch layer), with the
// container's configuration (or cfg, when given) and changes applied.
// pause freezes a running container while its layer is read.
func (d *Daemon) ContainerCommit(ctx context.Context, ref, newRef, comment, author string, changes []string, pause bool, cfg *container.Config) (string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if cfg == nil {
		cfg = rec.Config
	}
	var icfg image.Config
	b, _ := json.Marshal(cfg)
	if err := json.Unmarshal(b, &icfg); err != nil {
		return "", fmt.Errorf("commit: the container's config: %w", err)
	}
	if pause && rec.State.Status == container.StateRunning {
		if err := d.ContainerPause(ctx, rec.ID); err == nil {
			defer d.ContainerUnpause(context.WithoutCancel(ctx), rec.ID)
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(d.layers.Export(ctx, rec.ID, pw)) }()
	id, err := d.images.Commit(ctx, rec.Image, pr, image.CommitOptions{
		Ref: newRef, Config: icfg, Changes: changes, Comment: comment, Author: author,
		CreatedBy: strings.Join(append([]string{rec.Path}, rec.Args...), " "),
	})
	pr.CloseWithError(err)
	if err != nil {
		return "", err
	}
	d.containerEvent(c, events.ActionCommit)
	return id, nil
}
