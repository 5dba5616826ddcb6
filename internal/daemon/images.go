package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/storage"

	"github.com/hullproject/hull/internal/image"
)

// Images is GET /images/json.
func (d *Daemon) Images(ctx context.Context) ([]apiimage.Summary, error) {
	list, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]apiimage.Summary, 0, len(list))
	for _, s := range list {
		out = append(out, apiimage.Summary{
			ID:          s.ID,
			RepoTags:    nonNil(s.RepoTags),
			RepoDigests: nonNil(s.RepoDigests),
			Created:     s.Created.Unix(),
			Size:        s.Size,
			Labels:      s.Labels,
			Containers:  d.imageContainers(s.ID),
			SharedSize:  -1,
		})
	}
	return out, nil
}

// ImageInspect is GET /images/{name}/json. legacy holds the deprecated
// fields older API versions show: Container and ContainerConfig (of a
// commit), Parent and DockerVersion.
func (d *Daemon) ImageInspect(ctx context.Context, name string) (_ apiimage.InspectResponse, legacy map[string]any, _ error) {
	det, err := d.images.Inspect(ctx, name)
	if err != nil {
		return apiimage.InspectResponse{}, nil, err
	}
	var cfg dockerspec.DockerOCIImageConfig
	// hull's image config carries Docker's JSON names: the round trip is
	// the conversion.
	if b, err := json.Marshal(det.Config); err == nil {
		json.Unmarshal(b, &cfg)
	}
	resp := apiimage.InspectResponse{
		ID:           det.ID,
		RepoTags:     nonNil(det.RepoTags),
		RepoDigests:  nonNil(det.RepoDigests),
		Comment:      det.Comment,
		Author:       det.Author,
		Config:       &cfg,
		Architecture: det.Architecture,
		Variant:      det.Variant,
		Os:           det.Os,
		OsVersion:    det.OsVersion,
		Size:         det.Size,
		GraphDriver:  &storage.DriverData{Name: det.GraphDriver.Name, Data: det.GraphDriver.Data},
		RootFS:       apiimage.RootFS{Type: det.RootFS.Type, Layers: det.RootFS.Layers},
		Metadata:     apiimage.Metadata{LastTagTime: det.Metadata.LastTagTime},
	}
	if !det.Created.IsZero() {
		resp.Created = det.Created.Format(time.RFC3339Nano)
	}
	legacy = map[string]any{"Container": det.Container, "Parent": det.Parent, "DockerVersion": det.DockerVersion}
	if len(det.ContainerConfig) > 0 {
		legacy["ContainerConfig"] = det.ContainerConfig
	}
	return resp, legacy, nil
}

// ImageHistory is GET /images/{name}/history.
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]apiimage.HistoryResponseItem, error) {
	h, err := d.images.History(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]apiimage.HistoryResponseItem, 0, len(h))
	for _, it := range h {
		out = append(out, apiimage.HistoryResponseItem{
			ID: it.ID, Created: it.Created.Unix(), CreatedBy: it.CreatedBy, Tags: it.Tags, Size: it.Size, Comment: it.Comment,
		})
	}
	return out, nil
}

// ImageTag is POST /images/{name}/tag: repo and tag checked first, as
// dockerd does, then the image.
func (d *Daemon) ImageTag(ctx context.Context, name, repo, tag string) error {
	target, err := image.TagReference(repo, tag)
	if err != nil {
		return err
	}
	if err := d.images.Tag(ctx, name, target); err != nil {
		return err
	}
	id, _ := d.images.Resolve(ctx, target)
	short, _ := image.FamiliarString(target)
	d.emit(events.ImageEventType, events.ActionTag, id, map[string]string{"name": short})
	return nil
}

// ImageDelete is DELETE /images/{name}.
func (d *Daemon) ImageDelete(ctx context.Context, name string, force, prune bool) ([]apiimage.DeleteResponse, error) {
	del, err := d.images.Remove(ctx, name, force, prune)
	if err != nil {
		return nil, err
	}
	for _, x := range del {
		if x.Untagged != "" {
			d.emit(events.ImageEventType, events.ActionUnTag, x.Untagged, map[string]string{"name": x.Untagged})
		}
		if x.Deleted != "" {
			d.emit(events.ImageEventType, events.ActionDelete, x.Deleted, map[string]string{"name": name})
		}
	}
	out := make([]apiimage.DeleteResponse, 0, len(del))
	for _, x := range del {
		out = append(out, apiimage.DeleteResponse{Untagged: x.Untagged, Deleted: x.Deleted})
	}
	return out, nil
}

// ImageLoad is POST /images/load. It writes what dockerd writes: each
// layer's progress unless quiet, "Loaded image: REF" for each reference
// of each image, and — when the archive's last image has none — one
// message of "Loaded image ID: ID" lines for every image of the archive
// (dockerd's way, kept for the clients that read it).
func (d *Daemon) ImageLoad(ctx context.Context, r io.Reader, quiet bool, out func(jsonstream.Message)) error {
	var progress func(image.Progress)
	if !quiet {
		progress = func(p image.Progress) { out(progressMessage(p)) }
	}
	loaded, err := d.images.Load(ctx, r, progress)
	ids, lastTagged := "", false
	for _, l := range loaded {
		ids += "Loaded image ID: " + l.ID + "\n"
		lastTagged = len(l.Tags) > 0
		for _, t := range l.Tags {
			out(jsonstream.Message{Stream: "Loaded image: " + t + "\n"})
			d.emit(events.ImageEventType, events.ActionLoad, l.ID, map[string]string{"name": t})
		}
		if len(l.Tags) == 0 {
			d.emit(events.ImageEventType, events.ActionLoad, l.ID, map[string]string{"name": l.ID})
		}
	}
	if len(loaded) > 0 && !lastTagged {
		out(jsonstream.Message{Stream: ids})
	}
	return tarError(err)
}

// ImageSave is GET /images/get.
func (d *Daemon) ImageSave(ctx context.Context, names []string, w io.Writer) error {
	return d.images.Save(ctx, names, w, "")
}

func progressMessage(p image.Progress) jsonstream.Message {
	m := jsonstream.Message{ID: p.ID, Status: p.Status}
	if p.Total > 0 || p.Current > 0 {
		m.Progress = &jsonstream.Progress{Current: p.Current, Total: p.Total}
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func registryOptions(a registry.AuthConfig) image.RegistryOptions {
	o := image.RegistryOptions{Username: a.Username, Password: a.Password}
	if a.Auth != "" && a.Username == "" {
		if b, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			o.Username, o.Password, _ = strings.Cut(string(b), ":")
		}
	}
	if a.IdentityToken != "" {
		o.Auth = &authn.Bearer{Token: a.IdentityToken}
	}
	return o
}

// ImagePull is POST /images/create?fromImage=.
func (d *Daemon) ImagePull(ctx context.Context, name, tag, platform string, auth registry.AuthConfig, progress func(jsonstream.Message)) error {
	ref, err := image.PullReference(name, tag)
	if err != nil {
		return err
	}
	_, err = d.images.Pull(ctx, ref, image.PullOptions{RegistryOptions: registryOptions(auth), Platform: platform,
		Progress: func(p image.Progress) { progress(progressMessage(p)) }})
	if err == nil {
		d.emit(events.ImageEventType, events.ActionPull, ref, map[string]string{"name": ref})
	}
	return err
}

// ImagePush is POST /images/{name}/push.
func (d *Daemon) ImagePush(ctx context.Context, name, tag string, auth registry.AuthConfig, progress func(jsonstream.Message)) error {
	ref, err := image.PushReference(name, tag)
	if err != nil {
		return err
	}
	_, err = d.images.Push(ctx, ref, image.PushOptions{RegistryOptions: registryOptions(auth),
		Progress: func(p image.Progress) { progress(progressMessage(p)) }})
	if err == nil {
		d.emit(events.ImageEventType, events.ActionPush, ref, map[string]string{"name": ref})
	}
	return err
}

// imageContainers is the number of containers made from image id.
func (d *Daemon) imageContainers(id string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var n int64
	for _, c := range d.ctrs {
		if c.rec.Image == id {
			n++
		}
	}
	return n
}

// imageUsers names a running and a stopped container of image id (empty
// when there is none), for the image store's remove and its words.
func (d *Daemon) imageUsers(id string) (running, stopped string) {
	d.mu.Lock()
	cs := make([]*ctr, 0, len(d.ctrs))
	for _, c := range d.ctrs {
		if c.rec.Image == id {
			cs = append(cs, c)
		}
	}
	d.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		st, cid := c.rec.State.Status, c.rec.ID
		c.mu.Unlock()
		switch st {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			if running == "" {
				running = cid
			}
		default:
			if stopped == "" {
				stopped = cid
			}
		}
	}
	return running, stopped
}
