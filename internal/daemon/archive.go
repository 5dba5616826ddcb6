package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/errdefs"
)

// withRootfs runs fn on the container's root file system: its scratch
// layer mounted (mounts are counted, so a running container's is shared).
func (d *Daemon) withRootfs(ctx context.Context, ref string, fn func(c *ctr, root string) error) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	root, err := d.layers.Mount(ctx, c.rec.ID)
	if err != nil {
		return err
	}
	defer d.layers.Unmount(context.WithoutCancel(ctx), c.rec.ID)
	return fn(c, root)
}

// ContainerStatPath is HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, p string) (any, error) {
	var ps PathStat
	err := d.withRootfs(ctx, ref, func(c *ctr, root string) (err error) {
		ps, err = statPath(root, p)
		return err
	})
	return ps, err
}

// ContainerArchivePath is GET /containers/{id}/archive: p as a tar.
// started gets the path's stat before the first byte.
func (d *Daemon) ContainerArchivePath(ctx context.Context, ref, p string, started func(stat any), w io.Writer) error {
	return d.withRootfs(ctx, ref, func(c *ctr, root string) error {
		ps, err := statPath(root, p)
		if err != nil {
			return err
		}
		started(ps)
		_, err = archivePath(ctx, root, p, w)
		if err == nil {
			d.containerEvent(c, events.ActionArchivePath, "path", p)
		}
		return err
	})
}

// ContainerExtractToDir is PUT /containers/{id}/archive.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, ref, p string, r io.Reader, copyOwner bool) error {
	return d.withRootfs(ctx, ref, func(c *ctr, root string) error {
		if c.rec.HostConfig.ReadonlyRootfs {
			return fmt.Errorf("container rootfs is marked read-only: %w", errdefs.ErrConflict)
		}
		if err := extractToPath(ctx, root, p, r, copyOwner); err != nil {
			return err
		}
		d.containerEvent(c, events.ActionExtractToDir, "path", p)
		return nil
	})
}
