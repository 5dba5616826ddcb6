package daemon

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/mount"

	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/errdefs"
)

// withRootfs runs fn on the file system that holds p in the container:
// a volume or bind mount whose destination p is at or under (then p is
// made relative to it), else the container's scratch layer, mounted
// (mounts are counted, so a running container's is shared).
func (d *Daemon) withRootfs(ctx context.Context, ref, p string, fn func(c *ctr, root, p string, readOnly bool) error) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	clean := path.Clean("/" + p)
	c.mu.Lock()
	mounts := slices.Clone(c.rec.Mounts)
	c.mu.Unlock()
	var best *mountPoint
	for i, m := range mounts {
		if m.Type == mount.TypeTmpfs {
			continue
		}
		if clean == m.Destination || strings.HasPrefix(clean, m.Destination+"/") {
			if best == nil || len(m.Destination) > len(best.Destination) {
				best = &mounts[i]
			}
		}
	}
	if best != nil {
		rel := strings.TrimPrefix(clean, best.Destination)
		if rel == "" {
			rel = "/"
		}
		if strings.HasSuffix(p, "/") && rel != "/" {
			rel += "/"
		}
		return fn(c, best.Source, rel, !best.RW)
	}
	root, err := d.layers.Mount(ctx, c.rec.ID)
	if err != nil {
		return err
	}
	defer d.layers.Unmount(context.WithoutCancel(ctx), c.rec.ID)
	return fn(c, root, p, c.rec.HostConfig.ReadonlyRootfs)
}

// ContainerStatPath is HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, p string) (any, error) {
	var ps PathStat
	err := d.withRootfs(ctx, ref, p, func(c *ctr, root, p string, _ bool) (err error) {
		ps, err = statPath(root, p)
		return err
	})
	return ps, err
}

// ContainerArchivePath is GET /containers/{id}/archive: p as a tar.
// started gets the path's stat before the first byte.
func (d *Daemon) ContainerArchivePath(ctx context.Context, ref, p string, started func(stat any), w io.Writer) error {
	return d.withRootfs(ctx, ref, p, func(c *ctr, root, p string, _ bool) error {
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
	return d.withRootfs(ctx, ref, p, func(c *ctr, root, p string, readOnly bool) error {
		if readOnly {
			return fmt.Errorf("%s is on a read-only file system of the container (a read-only root, or a mount made ro): %w", p, errdefs.ErrConflict)
		}
		if err := extractToPath(ctx, root, p, r, copyOwner); err != nil {
			return err
		}
		d.containerEvent(c, events.ActionExtractToDir, "path", p)
		return nil
	})
}
