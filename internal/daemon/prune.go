package daemon

// Disk usage and prunes: docker system df, container/image prune, and
// docker system prune's calls.

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
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
	l, err := d.VolumeList(ctx, filters.Args{})
	if err != nil {
		return nil, err
	}
	for i, v := range l.Volumes {
		l.Volumes[i].UsageData = &volume.UsageData{Size: dirSize(d.volumeDir(v.Name)), RefCount: int64(len(d.volumeUsers(v.Name)))}
	}
	return l.Volumes, nil
}

// ContainersPrune is POST /containers/prune: the containers that are not
// running (paused and restarting ones count as running), among those the
// filters (until, label, label!) select. Nothing goes when a filter is
// wrong. ContainersDeleted is null when nothing went, as dockerd answers.
func (d *Daemon) ContainersPrune(ctx context.Context, f filters.Args) (container.PruneReport, error) {
	var rep container.PruneReport
	if err := f.Validate("label", "label!", "until"); err != nil {
		return rep, err
	}
	until, err := f.Until(time.Now())
	if err != nil {
		return rep, err
	}
	recs := d.records()
	for _, r := range recs {
		if isRunning(r.State.Status) || !until.IsZero() && r.Created.After(until) || !f.MatchLabels(r.Config.Labels) {
			continue
		}
		size, _ := d.layers.Size(ctx, r.ID)
		if err := d.ContainerRemove(ctx, r.ID, false, false); err != nil {
			slog.WarnContext(ctx, "prune container", "container", r.ID, "error", err)
			continue
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, r.ID)
		rep.SpaceReclaimed += uint64(size)
	}
	d.emit(events.ContainerEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}

// ImagesPrune is POST /images/prune, as dockerd: with dangling=true (the
// default) the images without a tag that no other image was made from,
// else every image; among those, the ones the filters (until, label,
// label!) select. An image a container uses stays (its removal is a
// conflict). Nothing goes when a filter is wrong. ImagesDeleted is null
// when nothing went.
func (d *Daemon) ImagesPrune(ctx context.Context, f filters.Args) (apiimage.PruneReport, error) {
	var rep apiimage.PruneReport
	if err := f.Validate("dangling", "label", "label!", "until"); err != nil {
		return rep, err
	}
	danglingOnly, err := f.Bool("dangling", true, []string{"true", "1"}, []string{"false", "0"})
	if err != nil {
		return rep, err
	}
	until, err := f.Until(time.Now())
	if err != nil {
		return rep, err
	}
	list, err := d.images.List(ctx)
	if err != nil {
		return rep, err
	}
	parents := map[string]bool{}
	for _, im := range list {
		parents[im.ParentID] = true
	}
	before, _ := d.LayersSize(ctx)
	for _, im := range list {
		refs := append(slices.Clone(im.RepoTags), im.RepoDigests...)
		switch {
		case danglingOnly && parents[im.ID], len(refs) == 0 && parents[im.ID]:
			continue // not a head, or an intermediate image
		case !until.IsZero() && im.Created.After(until), !f.MatchLabels(im.Labels):
			continue
		case danglingOnly && len(im.RepoTags) > 0:
			continue
		}
		if len(refs) == 0 {
			refs = []string{strings.TrimPrefix(im.ID, "sha256:")}
		}
		for _, ref := range refs {
			del, err := d.ImageDelete(ctx, ref, false, true)
			if err != nil {
				if !errdefs.IsConflict(err) {
					slog.WarnContext(ctx, "prune image", "image", ref, "error", err)
				}
				continue
			}
			rep.ImagesDeleted = append(rep.ImagesDeleted, del...)
		}
	}
	if after, _ := d.LayersSize(ctx); before > after {
		rep.SpaceReclaimed = uint64(before - after)
	}
	d.emit(events.ImageEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)})
	return rep, nil
}
