package daemon

import (
	"context"

	"github.com/moby/moby/api/types/events"
)

// ImageRemoveAll removes image id (a config digest) with every reference
// it has, as the CRI's RemoveImage does, even while containers use it:
// their layers stay until the last of them goes (removeScratch releases
// them), as containerd keeps the snapshots of a removed image's
// containers. An image other images were committed on keeps its record
// (dockerd cannot delete it either) and loses its references only. The
// events are docker rmi's.
func (d *Daemon) ImageRemoveAll(ctx context.Context, id string) error {
	img, err := d.images.Get(ctx, id)
	if err != nil {
		return err
	}
	del, err := d.images.RemoveAll(ctx, id)
	for _, x := range del {
		if x.Untagged != "" {
			d.imageEventLabels(img.ID, img.ID, events.ActionUnTag, img.Config.Labels)
		}
		if x.Deleted == img.ID {
			d.imageEventLabels(x.Deleted, x.Deleted, events.ActionDelete, nil)
		}
	}
	return err
}
