package server

import (
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/hullproject/hull/internal/filters"
)

// systemDiskUsage is GET /system/df in the shape of the request's version,
// as dockerd gives it:
//   - the type parameter (container, image, volume, build-cache; several
//     allowed) chooses what is computed, from 1.42; another type is 400;
//   - before 1.52 the answer is LayersSize, Images (with VirtualSize before
//     1.44), Containers, Volumes and BuildCache;
//   - from 1.52 it is ImageUsage, ContainerUsage, VolumeUsage and
//     BuildCacheUsage (counts, sizes, what can be reclaimed), with each
//     object's list only when verbose=1 is asked, and dockerd still adds
//     the older fields unless verbose is asked.
//
// hull has no builder: its build cache is empty, as /build/prune says.
func (s *Server) systemDiskUsage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	want := map[string]bool{"container": true, "image": true, "volume": true, "build-cache": true}
	if types, ok := r.URL.Query()["type"]; ok && !before(ctx, "1.42") {
		want = map[string]bool{}
		for _, t := range types {
			switch t {
			case "container", "image", "volume", "build-cache":
				want[t] = true
			default:
				return errNoDiskUsageType(t)
			}
		}
	}
	newShape := !before(ctx, "1.52")
	verbose := newShape && boolValue(r, "verbose")
	legacy := !newShape || !verbose
	items := verbose || legacy

	out := shape{}
	newFields := map[string]any{}
	if want["image"] {
		layers, err := s.backend.LayersSize(ctx)
		if err != nil {
			return err
		}
		images, err := s.backend.Images(ctx)
		if err != nil {
			return err
		}
		if images == nil {
			images = []image.Summary{}
		}
		usage := &image.DiskUsage{TotalCount: int64(len(images)), TotalSize: layers}
		for _, im := range images {
			switch {
			case im.Containers > 0:
				usage.ActiveCount++
			case im.Containers == 0 && im.Size >= 0:
				// dockerd counts the image's own bytes, less what it
				// shares with others.
				usage.Reclaimable += im.Size - max(im.SharedSize, 0)
			}
		}
		if items {
			usage.Items = images
		}
		newFields["ImageUsage"] = usage
		if legacy {
			if layers != 0 {
				out.set("LayersSize", layers)
			}
			if before(ctx, "1.44") {
				shapes, err := shapesOf(images)
				if err != nil {
					return err
				}
				for i, sh := range shapes {
					sh.add(map[string]any{"VirtualSize": images[i].Size})
				}
				out.set("Images", shapes)
			} else {
				out.set("Images", images)
			}
		}
	}
	if want["container"] {
		list, err := s.backend.ContainerListSize(ctx, true, 0, filters.Args{})
		if err != nil {
			return err
		}
		if list == nil {
			list = []container.Summary{}
		}
		usage := &container.DiskUsage{TotalCount: int64(len(list))}
		for i := range list {
			list[i].ImageManifestDescriptor = nil
			usage.TotalSize += list[i].SizeRw
			switch list[i].State {
			case container.StateRunning, container.StatePaused, container.StateRestarting:
				usage.ActiveCount++
			default:
				usage.Reclaimable += list[i].SizeRw
			}
		}
		list = containerListShape(ctx, list)
		if items {
			usage.Items = list
		}
		newFields["ContainerUsage"] = usage
		if legacy {
			shaped, err := containerListVersion(ctx, list)
			if err != nil {
				return err
			}
			out.set("Containers", shaped)
		}
	}
	if want["volume"] {
		vols, err := s.backend.VolumesUsage(ctx)
		if err != nil {
			return err
		}
		if vols == nil {
			vols = []volume.Volume{}
		}
		usage := &volume.DiskUsage{TotalCount: int64(len(vols)), ActiveCount: int64(len(vols))}
		for _, v := range vols {
			if v.UsageData == nil || v.UsageData.Size < 0 {
				continue
			}
			usage.TotalSize += v.UsageData.Size
			if v.UsageData.RefCount == 0 {
				usage.Reclaimable += v.UsageData.Size
				usage.ActiveCount--
			}
		}
		if items {
			usage.Items = vols
		}
		newFields["VolumeUsage"] = usage
		if legacy {
			out.set("Volumes", vols)
		}
	}
	if want["build-cache"] {
		newFields["BuildCacheUsage"] = &build.DiskUsage{}
		if legacy {
			out.set("BuildCache", []build.CacheRecord{})
		}
	}
	if newShape {
		for k, v := range newFields {
			out.set(k, v)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
