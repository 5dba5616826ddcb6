package image

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Image is what the daemon needs of an image to run a container from it.
type Image struct {
	// ID is the config digest, "sha256:…".
	ID string
	// TopLayer is the id of the image's top layer in the layer store, the
	// parent of a container's scratch layer; empty for an image with no
	// layers.
	TopLayer string
	// RepoTags are the image's tags in docker's short form.
	RepoTags     []string
	OS           string
	Architecture string
	Variant      string
	Config       Config
}

// Get returns the image refOrID names (see Resolve).
func (s *Store) Get(ctx context.Context, refOrID string) (Image, error) {
	rec, cfg, err := s.load(ctx, refOrID)
	if err != nil {
		return Image{}, err
	}
	img := Image{
		ID:           rec.ID,
		RepoTags:     familiarAll(rec.RepoTags),
		OS:           cfg.OS,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Config:       cfg.Config,
	}
	if n := len(rec.Layers); n > 0 {
		img.TopLayer = hexOf(rec.Layers[n-1].ChainID)
	}
	return img, nil
}

// load reads the record and config of image refOrID.
func (s *Store) load(ctx context.Context, refOrID string) (*record, *configFile, error) {
	var rec *record
	err := s.db.View(func(tx *bolt.Tx) error {
		id, _, err := resolveTx(tx, refOrID)
		if err != nil {
			return err
		}
		rec, err = getRecord(tx, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	b, err := s.content.ReadAll(ctx, rec.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: config: %w", rec.ID, err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", rec.ID, err)
	}
	return rec, cfg, nil
}

func familiarAll(refs []string) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, familiar(r))
	}
	return out
}

// Details is an image as docker image inspect shows it (the Engine API's
// ImageInspect).
type Details struct {
	ID            string    `json:"Id"`
	RepoTags      []string  `json:"RepoTags"`
	RepoDigests   []string  `json:"RepoDigests"`
	Parent        string    `json:"Parent"`
	Comment       string    `json:"Comment"`
	Created       time.Time `json:"Created"`
	DockerVersion string    `json:"DockerVersion"`
	Author        string    `json:"Author"`
	Config        Config    `json:"Config"`
	// Container and ContainerConfig: see configFile.
	Container       string          `json:"Container,omitempty"`
	ContainerConfig json.RawMessage `json:"ContainerConfig,omitempty"`
	Architecture    string          `json:"Architecture"`
	Variant         string          `json:"Variant,omitempty"`
	Os              string          `json:"Os"`
	OsVersion       string          `json:"OsVersion,omitempty"`
	Size            int64           `json:"Size"`
	GraphDriver     GraphDriver     `json:"GraphDriver"`
	RootFS          RootFS          `json:"RootFS"`
	Metadata        Metadata        `json:"Metadata"`
}

// GraphDriver names the layer store and the image's top layer folder,
// whose layerchain.json leads down the chain.
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// RootFS lists the image's layers by diff id, base first.
type RootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// Metadata is what the store knows of an image beyond its config.
type Metadata struct {
	LastTagTime time.Time `json:"LastTagTime,omitzero"`
}

// Inspect returns the image refOrID names (see Resolve) as docker image
// inspect shows it.
func (s *Store) Inspect(ctx context.Context, refOrID string) (Details, error) {
	rec, cfg, err := s.load(ctx, refOrID)
	if err != nil {
		return Details{}, err
	}
	d := Details{
		ID:              rec.ID,
		RepoTags:        familiarAll(sortedRefs(rec.RepoTags)),
		RepoDigests:     familiarAll(sortedRefs(rec.RepoDigests)),
		Parent:          rec.Parent,
		Comment:         cfg.Comment,
		Created:         cfg.Created,
		DockerVersion:   cfg.DockerVersion,
		Author:          cfg.Author,
		Config:          cfg.Config,
		Container:       cfg.Container,
		ContainerConfig: cfg.ContainerConfig,
		Architecture:    cfg.Architecture,
		Variant:         cfg.Variant,
		Os:              cfg.OS,
		OsVersion:       cfg.OSVersion,
		Size:            rec.Size,
		GraphDriver:     GraphDriver{Name: s.layers.Driver(), Data: map[string]string{}},
		RootFS:          RootFS{Type: "layers", Layers: slices.Clone(cfg.RootFS.DiffIDs)},
		Metadata:        Metadata{LastTagTime: rec.LastTagTime},
	}
	if rec.Parent != "" && s.exists(rec.Parent) {
		d.Parent = rec.Parent
	}
	if d.RootFS.Layers == nil {
		d.RootFS.Layers = []string{}
	}
	if n := len(rec.Layers); n > 0 {
		d.GraphDriver.Data["dir"] = s.layers.Dir(hexOf(rec.Layers[n-1].ChainID))
	}
	return d, nil
}

// HistoryItem is one step of an image's history, as docker history shows
// it.
type HistoryItem struct {
	// ID is the image id on the newest step and "<missing>" on the others,
	// as docker shows steps that are not images of their own.
	ID        string    `json:"Id"`
	Created   time.Time `json:"Created"`
	CreatedBy string    `json:"CreatedBy"`
	Tags      []string  `json:"Tags"`
	Size      int64     `json:"Size"`
	Comment   string    `json:"Comment"`
}

// History returns the history of image refOrID, newest step first, from
// its config's history; a step that made a layer has that layer's size.
// An image whose config has no history gets one step per layer. As with
// dockerd, the newest step carries the image's id and tags, the steps
// below it the ids and tags of the image's parents (the images it was
// committed on) as far as they are here, and the rest "<missing>".
func (s *Store) History(ctx context.Context, refOrID string) ([]HistoryItem, error) {
	rec, cfg, err := s.load(ctx, refOrID)
	if err != nil {
		return nil, err
	}
	hist := cfg.History
	if len(hist) == 0 {
		for range rec.Layers {
			hist = append(hist, historyEntry{Created: cfg.Created})
		}
	}
	var out []HistoryItem
	li := 0
	for _, h := range hist {
		it := HistoryItem{ID: "<missing>", Created: h.Created, CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer {
			if li < len(rec.Layers) {
				it.Size = rec.Layers[li].Size
			}
			li++
		}
		out = append(out, it)
	}
	slices.Reverse(out)
	err = s.db.View(func(tx *bolt.Tx) error {
		r := rec
		for i := range out {
			out[i].ID = r.ID
			out[i].Tags = nil
			if len(r.RepoTags) > 0 {
				out[i].Tags = familiarAll(sortedRefs(r.RepoTags))
			}
			if r.Parent == "" {
				break
			}
			p, perr := getRecord(tx, r.Parent)
			if perr != nil {
				break // the parent is gone: "<missing>" from here on
			}
			r = p
		}
		return nil
	})
	return out, err
}

// sortedRefs is refs (normalized) in dockerd's order: sorted.
func sortedRefs(refs []string) []string {
	out := slices.Clone(refs)
	slices.Sort(out)
	return out
}

// Summary is an image as docker image ls lists it.
type Summary struct {
	ID          string            `json:"Id"`
	RepoTags    []string          `json:"RepoTags"`
	RepoDigests []string          `json:"RepoDigests"`
	Created     time.Time         `json:"Created"`
	Size        int64             `json:"Size"`
	Labels      map[string]string `json:"Labels"`
	// ParentID is the image this one was committed from, when that image
	// is still there.
	ParentID string `json:"ParentId"`
	// Layers are the image's layers, base first.
	Layers []LayerSize `json:"-"`
}

// LayerSize is one layer of an image: its chain id and the bytes of file
// content it holds itself.
type LayerSize struct {
	ChainID string
	Size    int64
}

// List returns every image, newest first. Tags and digests are in
// docker's short form, in the order of their full forms (as dockerd's
// reference store gives them); an image with none is dangling (docker
// shows it as <none>:<none>).
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	recs, err := s.allRecords()
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(recs))
	ids := make(map[string]bool, len(recs))
	for _, r := range recs {
		ids[r.ID] = true
	}
	for _, r := range recs {
		sm := Summary{
			ID:          r.ID,
			RepoTags:    familiarAll(slices.Sorted(slices.Values(r.RepoTags))),
			RepoDigests: familiarAll(slices.Sorted(slices.Values(r.RepoDigests))),
			Created:     r.Created,
			Size:        r.Size,
		}
		if ids[r.Parent] {
			sm.ParentID = r.Parent
		}
		for _, l := range r.Layers {
			sm.Layers = append(sm.Layers, LayerSize{ChainID: l.ChainID, Size: l.Size})
		}
		if b, err := s.content.ReadAll(ctx, r.ID); err == nil {
			if cfg, err := parseConfig(b); err == nil {
				sm.Labels = cfg.Config.Labels
			}
		}
		out = append(out, sm)
	}
	slices.SortStableFunc(out, func(a, b Summary) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out, nil
}

// exists reports whether image id has a record.
func (s *Store) exists(id string) bool {
	_, err := s.record(id)
	return err == nil
}

// ReferenceForms are the names a reference filter's pattern is matched
// against, as dockerd matches them: the familiar reference
// (busybox:latest), its familiar name (busybox), the full reference
// (docker.io/library/busybox:latest) and the full name
// (docker.io/library/busybox). A reference that does not parse gives
// itself.
func ReferenceForms(reference string) []string {
	r, err := parseRef(reference)
	if err != nil {
		return []string{reference}
	}
	return []string{r.Familiar(), r.familiarName(), r.String(), r.Name()}
}
