package image

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
)

// The formats Save writes.
const (
	// FormatDocker is docker save's format: manifest.json (Config,
	// RepoTags, Layers) for docker load, written as an OCI image layout
	// too (index.json, oci-layout, blobs/sha256/), as docker 25 and later
	// write it.
	FormatDocker = "docker"
	// FormatOCI is an OCI image layout tarball.
	FormatOCI = "oci"
)

// saveImage is one image Save writes.
type saveImage struct {
	rec    *record
	tags   []ref
	config []byte
}

// Save writes the images refsOrIDs name to w as a tar in format
// (FormatDocker when empty), named as dockerd names them: a reference
// saves its image with that tag, a repository alone (busybox) every tag
// of it, an id (or a prefix) the image untagged. A name that names
// nothing fails with dockerd's words ("No such image: nothere",
// "reference does not exist"). Layers are written uncompressed, byte
// for byte as they were imported (so each layer file's digest is its diff
// id), and loading the archive gives back the same image ids. No name
// gives an archive without images, as dockerd's.
func (s *Store) Save(ctx context.Context, refsOrIDs []string, w io.Writer, format string) error {
	switch format {
	case "":
		format = FormatDocker
	case FormatDocker, FormatOCI:
	default:
		return fmt.Errorf("save: format %q: want %q or %q: %w", format, FormatDocker, FormatOCI, errdefs.ErrInvalidArgument)
	}
	var imgs []*saveImage
	err := s.db.View(func(tx *bolt.Tx) error {
		byID := map[string]*saveImage{}
		add := func(id, matched string) error {
			img, ok := byID[id]
			if !ok {
				rec, err := getRecord(tx, id)
				if err != nil {
					return err
				}
				img = &saveImage{rec: rec}
				byID[id] = img
				imgs = append(imgs, img)
			}
			if matched != "" {
				r, err := parseRef(matched)
				if err == nil && r.digest == "" && !slices.Contains(img.tags, r) {
					img.tags = append(img.tags, r)
				}
			}
			return nil
		}
		for _, n := range refsOrIDs {
			ids, refs, err := saveNames(tx, n)
			if err != nil {
				return err
			}
			for i, id := range ids {
				if err := add(id, refs[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	pins := s.newPins()
	defer pins.release()
	for _, img := range imgs {
		for _, l := range img.rec.Layers {
			pins.pin(hexOf(l.ChainID))
		}
		if img.config, err = s.content.ReadAll(ctx, img.rec.ID); err != nil {
			return fmt.Errorf("save image %s: config: %w", img.rec.ID, err)
		}
		for i := range img.rec.Layers {
			l := &img.rec.Layers[i]
			if l.TarSize > 0 {
				continue
			}
			// Not noted when unpacked: measure it.
			cw := &countWriter{}
			if err := s.layers.Export(ctx, hexOf(l.ChainID), cw); err != nil {
				return fmt.Errorf("save image %s: layer %s: %w", img.rec.ID, l.ChainID, err)
			}
			l.TarSize = cw.n
		}
	}

	// Everything but the layers is known now: write it first, so that a
	// reader of the stream learns the layers' order before they come, then
	// the layers base first.
	var index indexJSON
	index.SchemaVersion = 2
	index.MediaType = mediaOCIIndex
	var dockerManifests []dockerManifest // null without images, as moby writes it
	type blob struct {
		name string
		data []byte
	}
	var blobs []blob
	seen := map[string]bool{}
	addBlob := func(d string, b []byte) {
		if !seen[d] {
			seen[d] = true
			blobs = append(blobs, blob{blobPath(d), b})
		}
	}
	var layers []layerRecord
	// repositories is docker save's legacy index of the tags, which moby
	// still writes: each tag's top layer (its diff id's hex digits) by
	// familiar name.
	repositories := map[string]map[string]string{}
	for _, img := range imgs {
		m := manifestJSON{
			SchemaVersion: 2,
			MediaType:     mediaOCIManifest,
			Config:        descriptor{MediaType: mediaOCIConfig, Digest: img.rec.ID, Size: int64(len(img.config))},
			Layers:        []descriptor{},
		}
		addBlob(img.rec.ID, img.config)
		dm := dockerManifest{Config: blobPath(img.rec.ID), RepoTags: []string{}, Layers: []string{}}
		for _, l := range img.rec.Layers {
			m.Layers = append(m.Layers, descriptor{MediaType: mediaOCILayer, Digest: l.DiffID, Size: l.TarSize})
			dm.Layers = append(dm.Layers, blobPath(l.DiffID))
			if !seen[l.DiffID] {
				seen[l.DiffID] = true
				layers = append(layers, l)
			}
		}
		mb, err := json.Marshal(m)
		if err != nil {
			return err
		}
		md := digestOf(mb)
		addBlob(md, mb)
		desc := descriptor{MediaType: mediaOCIManifest, Digest: md, Size: int64(len(mb))}
		if len(img.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, t := range img.tags {
			d := desc
			d.Annotations = map[string]string{annotationContainerdRef: t.String(), annotationRefName: t.tag}
			index.Manifests = append(index.Manifests, d)
			dm.RepoTags = append(dm.RepoTags, t.Familiar())
			if n := len(img.rec.Layers); n > 0 {
				if repositories[t.familiarName()] == nil {
					repositories[t.familiarName()] = map[string]string{}
				}
				repositories[t.familiarName()][t.tag] = hexOf(img.rec.Layers[n-1].DiffID)
			}
		}
		dockerManifests = append(dockerManifests, dm)
	}
	ib, err := json.Marshal(index)
	if err != nil {
		return err
	}
	files := []blob{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", ib}}
	if format == FormatDocker {
		mb, err := json.Marshal(dockerManifests)
		if err != nil {
			return err
		}
		// With a newline, as moby's json.Encoder writes it.
		files = append(files, blob{"manifest.json", append(mb, '\n')})
		if len(repositories) > 0 {
			rb, err := json.Marshal(repositories)
			if err != nil {
				return err
			}
			// As moby's json.Encoder writes it, with a newline.
			files = append(files, blob{"repositories", append(rb, '\n')})
		}
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	sw := &saveWriter{s: s, tw: tw}
	for _, f := range files {
		if err := sw.file(f.name, f.data); err != nil {
			return err
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: saveTime}); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	for _, b := range blobs {
		if err := sw.file(b.name, b.data); err != nil {
			return err
		}
	}
	for _, l := range layers {
		if err := sw.layer(ctx, l); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// saveTime is the modification time of the files Save writes, fixed so
// that saving the same images twice gives the same bytes.
var saveTime = time.Unix(0, 0).UTC()

// saveWriter writes the files of a saved archive.
type saveWriter struct {
	s  *Store
	tw *tar.Writer
}

func (sw *saveWriter) file(name string, b []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644, ModTime: saveTime}
	if err := sw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("save: write %s: %w", name, err)
	}
	if _, err := sw.tw.Write(b); err != nil {
		return fmt.Errorf("save: write %s: %w", name, err)
	}
	return nil
}

// layer writes layer l's tar as blob l.DiffID.
func (sw *saveWriter) layer(ctx context.Context, l layerRecord) error {
	name := blobPath(l.DiffID)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: l.TarSize, Mode: 0o644, ModTime: saveTime}
	if err := sw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write layer %s: %w", l.DiffID, err)
	}
	cw := &countWriter{w: sw.tw}
	if err := sw.s.layers.Export(ctx, hexOf(l.ChainID), cw); err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			return fmt.Errorf("layer %s exports more than its %d bytes: %w", l.ChainID, l.TarSize, errdefs.ErrDataLoss)
		}
		return fmt.Errorf("export layer %s: %w", l.ChainID, err)
	}
	if cw.n != l.TarSize {
		return fmt.Errorf("layer %s exports %d bytes, want %d: %w", l.ChainID, cw.n, l.TarSize, errdefs.ErrDataLoss)
	}
	return nil
}

// countWriter counts what is written through it to w (or discards it
// when w is nil).
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// saveNames is what docker save saves for name n (dockerd's parseNames):
// the images and, beside each, the reference it is saved under ("" for
// none).
func saveNames(tx *bolt.Tx, n string) (ids, refs []string, err error) {
	images, refBucket := tx.Bucket(bucketImages), tx.Bucket(bucketRefs)
	byID := func(hexPrefix string) ([]string, []string, error) {
		if id, ok := idByPrefix(images, hexPrefix); ok {
			return []string{id}, []string{""}, nil
		}
		return nil, nil, errdefs.Dockerf(errdefs.ErrNotFound, "No such image: %s", n)
	}
	parsed, err := reference.ParseAnyReference(n)
	if err != nil {
		return nil, nil, refError(err)
	}
	named, ok := parsed.(reference.Named)
	if !ok { // sha256:<64 hex> or 64 hex digits
		return byID(strings.TrimPrefix(parsed.String(), "sha256:"))
	}
	if reference.FamiliarName(named) == "sha256" {
		if rest, _ := strings.CutPrefix(n, "sha256:"); isHex(rest) {
			return byID(rest)
		}
		return nil, nil, errdefs.Dockerf(errdefs.ErrNotFound, "No such image: %s", n)
	}
	if reference.IsNameOnly(named) {
		name := named.Name()
		c := refBucket.Cursor()
		for k, v := c.Seek([]byte(name)); k != nil && strings.HasPrefix(string(k), name); k, v = c.Next() {
			if rest := string(k)[len(name):]; strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "@") {
				ids, refs = append(ids, string(v)), append(refs, string(k))
			}
		}
		if len(ids) > 0 {
			return ids, refs, nil
		}
		if isHex(n) {
			return byID(n)
		}
		return nil, nil, errdefs.Dockerf(errdefs.ErrNotFound, "No such image: %s", n)
	}
	r, err := parseRef(n)
	if err != nil {
		return nil, nil, err
	}
	v := refBucket.Get([]byte(r.String()))
	if v == nil {
		return nil, nil, errdefs.Dockerf(errdefs.ErrNotFound, "reference does not exist")
	}
	return []string{string(v)}, []string{r.String()}, nil
}
