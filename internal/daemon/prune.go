package daemon

// Disk usage and prunes: docker system df, container/image prune, and
// docker system prune's calls.

import (
	"context"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

// LayersSize is the size of every read-only layer (the images' content).
func (d *Daemon) LayersSize(ctx context.Context) (int64, error) {
	infos, err := d.layers.List(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, i := range infos {
		if !i.Scratch {
			n += i.Size
		}
	}
	return n, nil
}

// containerSizes fills SizeRw (the scratch layer's files) and SizeRootFs.
func (d *Daemon) containerSizes(ctx context.Context, list []container.Summary) {
	imageSize := map[string]int64{}
	if imgs, err := d.images.List(ctx); err == nil {
		for _, im := range imgs {
			imageSize[im.ID] = im.Size
		}
	}
	for i := range list {
		if n, err := d.layers.Size(ctx, list[i].ID); err == nil {
			list[i].SizeRw = n
			list[i].SizeRootFs = n + imageSize[list[i].ImageID]
		}
	}
}

// VolumesUsage is the volumes with their size and the number of
// containers that use each (docker system df -v).
func (d *Daemon) VolumesUsage(ctx context.Context) ([]volume.Volume, error) {
	l, err := d.VolumeList(ctx)
	if err != nil {
		return nil, err
	}
	for i, v := range l.Volumes {
		l.Volumes[i].UsageData = &volume.UsageData{Size: dirSize(d.volumeDir(v.Name)), RefCount: int64(len(d.volumeUsers(v.Name)))}
	}
	return l.Volumes, nil
}

// ContainersPrune is POST /containers/prune: every container that is not
// running goes.
func (d *Daemon) ContainersPrune(ctx context.Context) (container.PruneReport, error) {
	rep := container.PruneReport{ContainersDeleted: []string{}}
	list, err := d.ContainerList(ctx, true, -1, nil)
	if err != nil {
		return rep, err
	}
	for _, s := range list {
		if s.State == container.StateRunning || s.State == container.StatePaused || s.State == container.StateRestarting {
			continue
		}
		size, _ := d.layers.Size(ctx, s.ID)
		if err := d.ContainerRemove(ctx, s.ID, false, false); err == nil {
			rep.ContainersDeleted = append(rep.ContainersDeleted, s.ID)
			rep.SpaceReclaimed += uint64(size)
		}
	}
	return rep, nil
}

// ImagesPrune is POST /images/prune: dangling images (no tag), or with
// all every image no container uses.
func (d *Daemon) ImagesPrune(ctx context.Context, all bool) (apiimage.PruneReport, error) {
	rep := apiimage.PruneReport{ImagesDeleted: []apiimage.DeleteResponse{}}
	list, err := d.images.List(ctx)
	if err != nil {
		return rep, err
	}
	for _, im := range list {
		if d.imageInUse(im.ID) || (!all && len(im.RepoTags) > 0) {
			continue
		}
		before, _ := d.LayersSize(ctx)
		del, err := d.ImageDelete(ctx, im.ID, true, true)
		if err != nil {
			continue
		}
		after, _ := d.LayersSize(ctx)
		rep.ImagesDeleted = append(rep.ImagesDeleted, del...)
		if before > after {
			rep.SpaceReclaimed += uint64(before - after)
		}
	}
	if len(rep.ImagesDeleted) > 0 {
		d.emit(events.ImageEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	}
	return rep, nil
}
