package server

import (
	"context"
	"net/http"
	"strings"

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
// The build cache is BuildKit's (hull-buildkit's DiskUsage): empty, and
// nothing started, when the builder never ran.
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
		records, err := s.buildCacheRecords(ctx)
		if err != nil {
			return err
		}
		// As moby's builder counts them: a record in use is active, one
		// neither in use nor shared with another can be reclaimed.
		usage := &build.DiskUsage{TotalCount: int64(len(records))}
		for _, r := range records {
			usage.TotalSize += r.Size
			if r.InUse {
				usage.ActiveCount++
			} else if !r.Shared {
				usage.Reclaimable += r.Size
			}
		}
		if items {
			usage.Items = records
		}
		newFields["BuildCacheUsage"] = usage
		if legacy {
			if before(ctx, "1.42") {
				// Parent (the first of Parents) until 1.42, and
				// BuilderSize, the records' total, not yet left out.
				shapes, err := shapesOf(records)
				if err != nil {
					return err
				}
				for i, sh := range shapes {
					for k := range sh {
						if strings.TrimSpace(k) == "Parents" {
							delete(sh, k)
						}
					}
					parent := ""
					if len(records[i].Parents) > 0 {
						parent = records[i].Parents[0]
					}
					sh.set("Parent", parent)
				}
				out.set("BuildCache", shapes)
				if usage.TotalSize != 0 {
					out.set("BuilderSize", usage.TotalSize)
				}
			} else {
				out.set("BuildCache", records)
			}
		}
	}
	if newShape {
		for k, v := range newFields {
			out.set(k, v)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// buildCacheRecords are BuildKit's cache records, none when the builder
// has never run. A builder with state that is not running is started:
// its cache databases are hull-buildkit's to read (BuildKit holds them
// open and locked while it runs), and a daemon that has built once pays
// for the start on its next system df, as on its next build.
func (s *Server) buildCacheRecords(ctx context.Context) ([]build.CacheRecord, error) {
	if s.BuildKit == nil || s.BuildCache == nil {
		return []build.CacheRecord{}, nil
	}
	if kept, _ := s.BuildCache.BuildState(); !kept {
		return []build.CacheRecord{}, nil
	}
	if err := s.BuildKit.Start(ctx); err != nil {
		return nil, err
	}
	records, err := s.BuildCache.BuildCacheUsage(ctx)
	if err != nil {
		return nil, err
	}
	if records == nil {
		records = []build.CacheRecord{}
	}
	return records, nil
}
