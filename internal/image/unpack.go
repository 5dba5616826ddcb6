package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// layerSource is where unpack reads one layer from: a tar, compressed or
// not.
type layerSource struct {
	// name is the archive file the layer comes from, if any.
	name string
	open func() (io.ReadCloser, error)
	// size is the number of bytes open yields, for progress; -1 unknown.
	size int64
	// digest, when set, is the digest open's bytes must have.
	digest string
	// progressID names the layer in progress events; the short diff id
	// when empty.
	progressID string
}

func (src layerSource) eventID(diffID string) string {
	if src.progressID != "" {
		return src.progressID
	}
	return shortID(diffID)
}

// unpackStatus names the progress events of an unpack; an empty name is
// not reported.
type unpackStatus struct {
	working, done, exists string
}

var (
	pullStatus = unpackStatus{working: "Extracting", done: "Pull complete", exists: "Already exists"}
	// dockerd's load reports only the bytes of the layers it loads.
	loadStatus = unpackStatus{working: "Loading layer"}
)

// unpack makes sure every layer of an image with diffIDs exists in the
// layer store, creating the missing ones from srcs in order. The layers
// are pinned in pins until the caller releases them, after writing the
// image record. On error, the layers this call created and nothing else
// uses are removed again. pre holds layers the caller made already (by
// chain id), whose records are taken as they are.
func (s *Store) unpack(ctx context.Context, pins *pinSet, diffIDs []string, srcs []layerSource, st unpackStatus, progress func(Progress), pre map[string]layerRecord) (_ []layerRecord, rerr error) {
	chains := chainIDs(diffIDs)
	out := make([]layerRecord, len(diffIDs))
	var created []string
	defer func() {
		if rerr == nil {
			return
		}
		for i := len(created) - 1; i >= 0; i-- {
			s.rollbackLayer(ctx, created[i], pins.count(created[i]))
		}
	}()
	for i, diffID := range diffIDs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := hexOf(chains[i])
		parent := ""
		if i > 0 {
			parent = hexOf(chains[i-1])
		}
		pins.pin(id)
		out[i] = layerRecord{DiffID: diffID, ChainID: chains[i]}
		if in, err := s.layers.Get(ctx, id); err == nil {
			if in.Scratch || in.DiffID != diffID {
				return nil, fmt.Errorf("layer %s exists with diff id %q, want %s: %w", id, in.DiffID, diffID, errdefs.ErrDataLoss)
			}
			if r, ok := pre[chains[i]]; ok {
				out[i] = r
				continue
			}
			out[i].Size = in.Size
			out[i].TarSize = in.TarSize
			emit(progress, Progress{ID: srcs[i].eventID(diffID), Status: st.exists})
			continue
		} else if !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("layer %d of %d: %w", i+1, len(diffIDs), err)
		}
		in, err := s.createLayer(ctx, parent, diffID, srcs[i], st, progress)
		if err != nil {
			return nil, fmt.Errorf("layer %d of %d (%s): %w", i+1, len(diffIDs), diffID, err)
		}
		if in.ID != id {
			// createLayer names the layer by the chain id; anything else
			// would be a bug that corrupts the store.
			return nil, fmt.Errorf("layer %d created as %s, want %s", i+1, in.ID, id)
		}
		created = append(created, id)
		out[i].Size = in.Size
		out[i].TarSize = in.TarSize
		emit(progress, Progress{ID: srcs[i].eventID(diffID), Status: st.done})
	}
	return out, nil
}

// createLayer applies one layer from src on top of parent and names it by
// its chain id once its diff id is known and found to be diffID.
func (s *Store) createLayer(ctx context.Context, parent, diffID string, src layerSource, st unpackStatus, progress func(Progress)) (layer.Info, error) {
	raw, err := src.open()
	if err != nil {
		return layer.Info{}, err
	}
	defer raw.Close()
	var h hash.Hash
	var rd io.Reader = raw
	if src.digest != "" {
		h = sha256.New()
		rd = io.TeeReader(rd, h)
	}
	pr := &progressReader{r: ctxReader{ctx, rd}, total: src.size, id: src.eventID(diffID), status: st.working, fn: progress}
	tar, err := decompress(pr)
	if err != nil {
		return layer.Info{}, err
	}
	defer tar.Close()
	parentChain := ""
	if parent != "" {
		parentChain = "sha256:" + parent
	}
	want := chainID(parentChain, diffID)
	in, err := s.layers.CreateFunc(ctx, parent, tar, layer.ApplyOptions{}, func(m layer.Meta) (string, error) {
		if h != nil {
			// The tar ends before its compressed stream may: read what is
			// left, so that the digest covers the whole blob.
			if _, err := io.Copy(io.Discard, pr); err != nil {
				return "", err
			}
			if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != src.digest {
				return "", fmt.Errorf("layer blob has digest %s, want %s: %w", got, src.digest, errdefs.ErrDataLoss)
			}
		}
		if m.DiffID != diffID {
			return "", fmt.Errorf("layer has diff id %s, the image config says %s: %w", m.DiffID, diffID, errdefs.ErrDataLoss)
		}
		return hexOf(want), nil
	})
	if err != nil {
		return layer.Info{}, err
	}
	pr.flush()
	return in, nil
}

// rollbackLayer removes a layer an unpack created, unless an image
// record or another operation has come to use it meanwhile.
// ownPins is how many pins of it the caller holds.
func (s *Store) rollbackLayer(ctx context.Context, id string, ownPins int) {
	used := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(k, v)
			if err != nil {
				return nil
			}
			for _, l := range r.Layers {
				if hexOf(l.ChainID) == id {
					used = true
				}
			}
			return nil
		})
	})
	if used {
		return
	}
	_, _ = s.removeLayer(ctx, id, ownPins)
}

// progressReader reports how far a read has come, at most ten times a
// second.
type progressReader struct {
	r       io.Reader
	n       int64
	total   int64
	id      string
	status  string
	fn      func(Progress)
	last    time.Time
	flushed bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
			p.last = now
			p.fn(Progress{ID: p.id, Status: p.status, Current: p.n, Total: max(p.total, 0)})
		}
	}
	return n, err
}

// flush reports the final count.
func (p *progressReader) flush() {
	if p.fn != nil && !p.flushed {
		p.flushed = true
		p.fn(Progress{ID: p.id, Status: p.status, Current: p.n, Total: max(p.total, 0)})
	}
}

func emit(fn func(Progress), p Progress) {
	if fn != nil && p.Status != "" {
		fn(p)
	}
}
