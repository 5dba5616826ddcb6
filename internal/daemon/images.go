package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"path"
	"path/filepath"
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

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
	"github.com/hullproject/hull/internal/image"
)

// Images is docker system df's list, as dockerd's disk usage lists: the
// top images (not the intermediate ones) with the number of containers
// of each and the size of what they share with other images.
func (d *Daemon) Images(ctx context.Context) ([]apiimage.Summary, error) {
	return d.ImageList(ctx, false, true, filters.Args{})
}

// imageListFilters are the keys GET /images/json accepts; until from API
// 1.42 (dockerd 23).
var imageListFilters = []string{"dangling", "label", "before", "since", "reference", "until"}

// ImageList is GET /images/json, as dockerd lists images: newest first;
// without all, the images without a reference that another image was
// made from are left out (intermediate images); the filters dangling,
// label (ANDed), before, since, until and reference (shell globs, ORed,
// which also choose the references shown) apply. sharedSize computes
// SharedSize, the size of the layers other images share; it is -1
// otherwise. Containers counts each image's containers. RepoTags and
// RepoDigests are nil when empty: the API's version decides how they
// are shown.
func (d *Daemon) ImageList(ctx context.Context, all, sharedSize bool, f filters.Args) ([]apiimage.Summary, error) {
	accepted := imageListFilters
	if f.Legacy() {
		accepted = accepted[:len(accepted)-1]
	}
	if err := f.Validate(accepted...); err != nil {
		return nil, err
	}
	danglingOnly, err := f.Bool("dangling", false, []string{"true"}, []string{"false"})
	if err != nil {
		return nil, err
	}
	list, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	created := func(ref string) (time.Time, error) {
		id, err := d.images.Resolve(ctx, ref)
		if errdefs.IsNotFound(err) {
			return time.Time{}, filters.Errorf(errdefs.ErrNotFound, "No such image: %s", missingImageName(ref))
		}
		if err != nil {
			return time.Time{}, err
		}
		for _, im := range list {
			if im.ID == id {
				return im.Created, nil
			}
		}
		return time.Time{}, filters.Errorf(errdefs.ErrNotFound, "No such image: %s", ref)
	}
	// Several befores are the oldest, several sinces the newest: the
	// values ANDed.
	var before, since time.Time
	for _, v := range f.Get("before") {
		t, err := created(v)
		if err != nil {
			return nil, err
		}
		if before.IsZero() || t.Before(before) {
			before = t
		}
	}
	now := time.Now()
	for _, v := range f.Get("until") {
		t, err := filters.ParseTime(v, now, false)
		if err != nil {
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid value for 'until' filter: %s", err)
		}
		if before.IsZero() || t.Before(before) {
			before = t
		}
	}
	for _, v := range f.Get("since") {
		t, err := created(v)
		if err != nil {
			return nil, err
		}
		if t.After(since) {
			since = t
		}
	}
	children := map[string]int{}
	for _, im := range list {
		children[im.ParentID]++
	}
	patterns := f.Get("reference")
	out := []apiimage.Summary{}
	for _, im := range list {
		if danglingOnly && children[im.ID] > 0 {
			continue
		}
		if !before.IsZero() && !im.Created.Before(before) || !since.IsZero() && !im.Created.After(since) {
			continue
		}
		if f.Contains("label") && !f.MatchKVList("label", im.Labels) {
			continue
		}
		s := apiimage.Summary{ID: im.ID, ParentID: im.ParentID, Created: im.Created.Unix(), Size: im.Size,
			Labels: im.Labels, SharedSize: -1, Containers: d.imageContainers(im.ID)}
		for _, group := range []struct {
			refs []string
			to   *[]string
		}{{im.RepoDigests, &s.RepoDigests}, {im.RepoTags, &s.RepoTags}} {
			for _, ref := range group.refs {
				ok, err := referenceMatches(patterns, ref, f.Legacy())
				if err != nil {
					return nil, err
				}
				if ok {
					*group.to = append(*group.to, ref)
				}
			}
		}
		if s.RepoTags == nil && s.RepoDigests == nil {
			if !all && children[im.ID] > 0 || f.Contains("dangling") && !danglingOnly || f.Contains("reference") {
				continue
			}
		} else if danglingOnly && len(s.RepoTags) > 0 {
			continue
		}
		out = append(out, s)
	}
	if sharedSize {
		sharedSizes(list, out)
	}
	return out, nil
}

// missingImageName is how dockerd names an image it did not find: a full
// id with its algorithm, a reference in its familiar form with its tag.
func missingImageName(ref string) string {
	if len(ref) == 64 && strings.Trim(ref, "0123456789abcdef") == "" {
		return "sha256:" + ref
	}
	if strings.HasPrefix(ref, "sha256:") {
		return ref
	}
	if fam, err := image.FamiliarString(ref); err == nil {
		return fam
	}
	return ref
}

// referenceMatches reports whether ref matches one of the shell
// patterns (or there are none): its familiar form or name — and, from
// API 1.42, its full form or name — as dockerd matches them. A bad
// pattern is an error.
func referenceMatches(patterns []string, ref string, legacy bool) (bool, error) {
	if len(patterns) == 0 {
		return true, nil
	}
	forms := image.ReferenceForms(ref)
	if legacy && len(forms) > 2 {
		forms = forms[:2]
	}
	for _, p := range patterns {
		for _, form := range forms {
			ok, err := path.Match(p, form)
			if err != nil {
				return false, filters.Errorf(errdefs.ErrInvalidArgument, "%s", err)
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// sharedSizes sets SharedSize: the size of the image's layers that
// another image of all also stands on.
func sharedSizes(all []image.Summary, list []apiimage.Summary) {
	users := map[string]int{}
	layersOf := map[string][]image.LayerSize{}
	for _, im := range all {
		layersOf[im.ID] = im.Layers
		for _, l := range im.Layers {
			users[l.ChainID]++
		}
	}
	for i := range list {
		list[i].SharedSize = 0
		for _, l := range layersOf[list[i].ID] {
			if users[l.ChainID] > 1 {
				list[i].SharedSize += l.Size
			}
		}
	}
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
		GraphDriver:  d.imageGraphDriver(ctx, det.GraphDriver),
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
	if fam, err := image.FamiliarString(target); err == nil {
		target = fam // as dockerd names it: ev/tagged:1, not docker.io/ev/tagged:1
	}
	d.imageEvent(ctx, id, target, events.ActionTag)
	return nil
}

// ImageDelete is DELETE /images/{name}.
// Its events are dockerd's: untag and delete name the image by its id,
// an untag with the image's labels; the layers removed have none.
func (d *Daemon) ImageDelete(ctx context.Context, name string, force, prune bool) ([]apiimage.DeleteResponse, error) {
	img, _ := d.images.Get(ctx, name)
	isImage := map[string]bool{}
	if list, err := d.images.List(ctx); err == nil {
		for _, im := range list {
			isImage[im.ID] = true
		}
	}
	del, err := d.images.Remove(ctx, name, force, prune)
	if err != nil {
		return nil, err
	}
	for _, x := range del {
		if x.Untagged != "" {
			d.imageEventLabels(img.ID, img.ID, events.ActionUnTag, img.Config.Labels)
		}
		if x.Deleted != "" && isImage[x.Deleted] {
			d.imageEventLabels(x.Deleted, x.Deleted, events.ActionDelete, nil)
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
		}
		// One event per image, named by its id, as dockerd; none for
		// the image a build made.
		if !fromBuilder(ctx) {
			d.imageEvent(ctx, l.ID, l.ID, events.ActionLoad)
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
	if a.RegistryToken != "" {
		// A bearer token for the registry itself, sent as it is.
		o.Auth = &authn.Bearer{Token: a.RegistryToken}
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

// imageGraphDriver is an image's storage as inspect shows it. On Linux its
// top layer folder over its parents, in overlay2's shape as a container's
// (graphDriver): the upper, work and merged folders of the top layer, the
// parents' files as LowerDir.
func (d *Daemon) imageGraphDriver(ctx context.Context, g image.GraphDriver) *storage.DriverData {
	top := g.Data["dir"]
	if d.win != nil || top == "" {
		return &storage.DriverData{Name: g.Name, Data: g.Data}
	}
	data := map[string]string{"UpperDir": top + "/diff", "WorkDir": top + "/work", "MergedDir": top + "/merged"}
	if info, err := d.layers.Get(ctx, filepath.Base(top)); err == nil && len(info.Chain) > 0 {
		lower := make([]string, len(info.Chain))
		for i, p := range info.Chain {
			lower[i] = p + "/diff"
		}
		data["LowerDir"] = strings.Join(lower, ":")
	}
	return &storage.DriverData{Name: "overlay2", Data: data}
}
