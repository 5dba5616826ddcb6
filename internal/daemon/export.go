package daemon

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/events"
)

// ContainerExport is GET /containers/{id}/export: the container's file
// system, its layers flattened (volumes and the runtime's mounts are not
// in it), as a tar. started is called before the first byte.
func (d *Daemon) ContainerExport(ctx context.Context, ref string, started func(), w io.Writer) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	// The scratch layer is mounted (again) for the export: mounts are
	// counted, so a running container's mount is shared.
	merged, err := d.layers.Mount(ctx, c.rec.ID)
	if err != nil {
		return err
	}
	defer d.layers.Unmount(context.WithoutCancel(ctx), c.rec.ID)
	started()
	d.containerEvent(c, events.ActionExport)
	return tarTree(ctx, merged, w)
}
