// Package layer is hull's layer store: folders of files stacked by
// layerchain.json, in the shape of Windows' windowsfilter graph driver.
//
// A layer is a folder holding layerchain.json (a JSON array of its parent
// layer folders, nearest first and base last; null for a base layer) and its
// files. A read-only layer is made by applying a tar diff on top of a chain;
// a scratch layer is the read-write layer of a container, made on top of an
// image's chain. The folder-level functions in this file (Import, Export,
// CreateScratch, Mount, Unmount, Remove, Changes) work on any folder, as
// hcsshim's wclayer does; Store keeps layers by id under one root and holds
// the store's invariants (a scratch layer's id is its container's id).
package layer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// ChainFile is the name of the file that lists a layer's parents.
const ChainFile = "layerchain.json"

// The image format's names for what a layer deletes: .wh.NAME deletes NAME
// from the parents, and .wh..wh..opq hides everything the parents hold in
// its folder.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// metaFile holds what hull knows of a layer beyond its chain.
const metaFile = "layer.json"

// DefaultMaxBytes bounds the bytes a single tar diff may write when the
// caller sets no limit: a decompression bomb stops here.
const DefaultMaxBytes int64 = 64 << 30

// ApplyOptions tune how a tar diff is applied.
type ApplyOptions struct {
	// MaxBytes bounds the file content, in bytes, that the tar may write,
	// counted from the entries' sizes before anything is written.
	// 0 means DefaultMaxBytes.
	MaxBytes int64
}

func (o ApplyOptions) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// ApplyResult says what applying a tar diff did.
type ApplyResult struct {
	// Size is the number of bytes written as Docker counts a layer's
	// size: the files' content and the symbolic links' targets.
	Size int64
	// Skipped lists the entries that were neutralised rather than applied
	// (device nodes, for example), each with the reason.
	Skipped []string
}

// Meta is what hull records of a layer beside its chain.
type Meta struct {
	// Scratch is true for a container's read-write layer.
	Scratch bool `json:"scratch,omitempty"`
	// DiffID is the digest of the uncompressed tar the layer was made
	// from ("sha256:…"); empty for a scratch layer.
	DiffID string `json:"diffID,omitempty"`
	// Size is the bytes of file content the layer's tar held.
	Size int64 `json:"size"`
	// TarSize is the length of the tar the layer was made from, which is
	// what Export of a read-only layer writes (0: unknown).
	TarSize int64 `json:"tarSize,omitempty"`
}

// ChangeKind is the kind of a Change, numbered as the Docker API numbers it.
type ChangeKind int

// The kinds of change, as GET /containers/{id}/changes reports them.
const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeModify:
		return "C"
	case ChangeAdd:
		return "A"
	case ChangeDelete:
		return "D"
	}
	return strconv.Itoa(int(k))
}

// Change is one path a layer changed against its parents.
type Change struct {
	Path string     `json:"Path"`
	Kind ChangeKind `json:"Kind"`
}

// ReadChain returns the parent folders of the layer in dir, nearest first.
// A base layer has none.
func ReadChain(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, ChainFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("layer %s: no %s: %w", dir, ChainFile, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read layer chain of %s: %w", dir, err)
	}
	var chain []string
	if err := json.Unmarshal(b, &chain); err != nil {
		return nil, fmt.Errorf("layer %s: bad %s: %v: %w", dir, ChainFile, err, errdefs.ErrDataLoss)
	}
	return chain, nil
}

// writeChain writes layerchain.json; a base layer gets null, as
// windowsfilter writes it.
func writeChain(dir string, parents []string) error {
	var b []byte
	if len(parents) == 0 {
		b = []byte("null")
	} else {
		var err error
		if b, err = json.Marshal(parents); err != nil {
			return err
		}
	}
	return writeFileSync(filepath.Join(dir, ChainFile), b)
}

// ReadMeta returns hull's record of the layer in dir.
func ReadMeta(dir string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return m, fmt.Errorf("layer %s: no %s: %w", dir, metaFile, errdefs.ErrNotFound)
		}
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("layer %s: bad %s: %v: %w", dir, metaFile, err, errdefs.ErrDataLoss)
	}
	return m, nil
}

func writeMeta(dir string, m Meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(dir, metaFile), b)
}

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// absParents makes every parent folder absolute and checks that each is a
// layer whose own chain continues the list: parents[i]'s chain must be
// parents[i+1:]. A chain that does not hold together is refused before
// anything is written.
func absParents(parents []string) ([]string, error) {
	out := make([]string, len(parents))
	for i, p := range parents {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("parent layer %s: %w", p, err)
		}
		out[i] = filepath.Clean(a)
	}
	for i, p := range out {
		chain, err := ReadChain(p)
		if err != nil {
			return nil, fmt.Errorf("parent layer: %w", err)
		}
		if !slices.Equal(chain, out[i+1:]) {
			return nil, fmt.Errorf("parent layer %s has chain %v, the command line gives %v: %w",
				p, chain, out[i+1:], errdefs.ErrInvalidArgument)
		}
		m, err := ReadMeta(p)
		if err == nil && m.Scratch {
			return nil, fmt.Errorf("parent layer %s is a scratch layer; only read-only layers can be parents: %w",
				p, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// newLayerDir makes dir, which must not exist or be empty.
func newLayerDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create layer %s: %w", dir, err)
		}
		ents, rerr := os.ReadDir(dir)
		if rerr != nil {
			return fmt.Errorf("create layer %s: %w", dir, rerr)
		}
		if len(ents) > 0 {
			return fmt.Errorf("create layer %s: folder exists and is not empty: %w", dir, errdefs.ErrAlreadyExists)
		}
	}
	return nil
}

// Import makes a read-only layer in dir (which must not exist, or be empty)
// from the tar diff r, on top of parents (nearest first). It returns the
// layer's record: the diff id (the digest of the tar as read) and its size.
// On error nothing of the layer is left.
func Import(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions) (Meta, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Meta{}, err
	}
	parents, err = absParents(parents)
	if err != nil {
		return Meta{}, err
	}
	if err := newLayerDir(dir); err != nil {
		return Meta{}, err
	}
	m, err := importInto(ctx, dir, parents, r, opts)
	if err != nil {
		_ = removeAll(dir)
		return Meta{}, err
	}
	return m, nil
}

func importInto(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions) (Meta, error) {
	if err := writeChain(dir, parents); err != nil {
		return Meta{}, fmt.Errorf("import layer %s: %w", dir, err)
	}
	res, diffID, tarSize, err := importRecorded(ctx, dir, parents, r, opts)
	if err != nil {
		return Meta{}, fmt.Errorf("import layer %s: %w", dir, err)
	}
	m := Meta{DiffID: diffID, Size: res.Size, TarSize: tarSize}
	if err := writeMeta(dir, m); err != nil {
		return Meta{}, fmt.Errorf("import layer %s: %w", dir, err)
	}
	return m, nil
}

func digestString(h hash.Hash) string {
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// CreateScratch makes a scratch (read-write) layer in dir on top of
// parents, nearest first.
func CreateScratch(ctx context.Context, dir string, parents []string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	parents, err = absParents(parents)
	if err != nil {
		return err
	}
	if err := newLayerDir(dir); err != nil {
		return err
	}
	err = writeChain(dir, parents)
	if err == nil {
		err = createScratchImpl(ctx, dir, parents)
	}
	if err == nil {
		err = writeMeta(dir, Meta{Scratch: true})
	}
	if err != nil {
		_ = removeAll(dir)
		return fmt.Errorf("create scratch layer %s: %w", dir, err)
	}
	return nil
}

// checkParents compares the parents a caller names with the layer's own
// chain; naming none accepts the chain as it is.
func checkParents(dir string, given []string) ([]string, error) {
	chain, err := ReadChain(dir)
	if err != nil {
		return nil, err
	}
	if len(given) == 0 {
		return chain, nil
	}
	abs := make([]string, len(given))
	for i, p := range given {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		abs[i] = filepath.Clean(a)
	}
	if !slices.Equal(abs, chain) {
		return nil, fmt.Errorf("layer %s has parents %v, not %v: %w", dir, chain, abs, errdefs.ErrInvalidArgument)
	}
	return chain, nil
}

// Export writes the layer in dir as a tar diff to w: its own files, with
// whiteouts (.wh.NAME) for what it deletes from its parents and
// .wh..wh..opq for directories it makes opaque. A read-only layer made by
// Import is written back byte for byte as it was imported, so its diff id
// holds. parents, when given, must match the layer's chain.
func Export(ctx context.Context, dir string, parents []string, w io.Writer) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	chain, err := checkParents(dir, parents)
	if err != nil {
		return err
	}
	if m, err := ReadMeta(dir); err == nil && !m.Scratch && hasTarSplit(dir) {
		// Replaying can fail to give the same bytes (a tar that named a
		// file twice keeps only the last content); check the digest, so a
		// layer that no longer matches its diff id is never passed off as it.
		h := sha256.New()
		err = exportRecorded(dir, io.MultiWriter(w, h))
		if err == nil && digestString(h) != m.DiffID {
			err = fmt.Errorf("replayed tar has digest %s, not the layer's diff id %s: %w", digestString(h), m.DiffID, errdefs.ErrDataLoss)
		}
		if err != nil {
			err = fmt.Errorf("export layer %s: %w", dir, err)
		}
		return err
	}
	if err := exportImpl(ctx, dir, chain, w); err != nil {
		return fmt.Errorf("export layer %s: %w", dir, err)
	}
	return nil
}

// Mount makes the layer in dir and its parents visible as one file system
// and returns where. Mounts are counted: each Mount needs an Unmount, and
// mounting a mounted layer returns the same place. A scratch layer mounts
// read-write, a read-only layer read-only.
func Mount(ctx context.Context, dir string) (string, error) { return mount(ctx, dir, false) }

// MountVolatile is Mount for a scratch layer whose writes need not
// survive a crash of the host (an auto-remove container's, which is
// removed when it stops): where the kernel has it (5.10), overlayfs's
// volatile option, so that neither the container's fsyncs nor the unmount
// sync the file system under it — overlayfs's unmount otherwise syncs that
// whole file system, tens of milliseconds while others write to it. After
// a crash of the host such a layer cannot be mounted again; it is to be
// removed. A layer mounted already keeps its mount.
func MountVolatile(ctx context.Context, dir string) (string, error) { return mount(ctx, dir, true) }

func mount(ctx context.Context, dir string, volatile bool) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	chain, err := ReadChain(dir)
	if err != nil {
		return "", err
	}
	m, err := ReadMeta(dir)
	if err != nil {
		return "", err
	}
	var where string
	err = withLock(dir, func() error {
		n, err := readMountCount(dir)
		if err != nil {
			return err
		}
		if where, err = mountImpl(ctx, dir, chain, m.Scratch, n > 0, volatile); err != nil {
			return err
		}
		if err := writeMountCount(dir, n+1); err != nil {
			// Only a mount this call made goes: the others' (a running
			// container's root, which a cp on a full disk mounts again)
			// stay.
			if n == 0 {
				_ = unmountImpl(ctx, dir)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("mount layer %s: %w", dir, err)
	}
	return where, nil
}

// Unmount undoes one Mount; the file system goes away with the last one.
// Unmounting a layer that is not mounted does nothing.
func Unmount(ctx context.Context, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	err = withLock(dir, func() error {
		n, err := readMountCount(dir)
		if err != nil {
			return err
		}
		if n > 1 {
			return writeMountCount(dir, n-1)
		}
		if err := unmountImpl(ctx, dir); err != nil {
			return err
		}
		return writeMountCount(dir, 0)
	})
	if err != nil {
		return fmt.Errorf("unmount layer %s: %w", dir, err)
	}
	return nil
}

// Mounted reports how many mounts of the layer in dir are outstanding.
func Mounted(dir string) (int, error) {
	var n int
	err := withLock(dir, func() (err error) {
		n, err = readMountCount(dir)
		return err
	})
	return n, err
}

// Remove deletes the layer in dir. A mounted layer is refused unless force
// is set, in which case it is unmounted first.
func Remove(ctx context.Context, dir string, force bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if _, err := ReadChain(dir); err != nil {
		return fmt.Errorf("remove layer: %w", err)
	}
	err = withLock(dir, func() error {
		n, err := readMountCount(dir)
		if err != nil {
			return err
		}
		if n > 0 && !force {
			return fmt.Errorf("layer is mounted (%d mounts); unmount it or force the removal: %w", n, errdefs.ErrConflict)
		}
		if err := unmountImpl(ctx, dir); err != nil {
			return err
		}
		return writeMountCount(dir, 0)
	})
	if err != nil {
		return fmt.Errorf("remove layer %s: %w", dir, err)
	}
	if err := removeAll(dir); err != nil {
		return fmt.Errorf("remove layer %s: %w", dir, err)
	}
	return nil
}

// Changes lists what the layer in dir adds, changes and deletes against
// its parents, sorted by path, the way docker diff reports a container. It
// reads the layer's own folder only, so it works while the layer is
// mounted and in use.
func Changes(ctx context.Context, dir string) ([]Change, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	chain, err := ReadChain(dir)
	if err != nil {
		return nil, err
	}
	cs, err := changesImpl(ctx, dir, chain)
	if err != nil {
		return nil, fmt.Errorf("changes of layer %s: %w", dir, err)
	}
	slices.SortFunc(cs, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return cs, nil
}

// Size returns the bytes the layer's own files take, as docker's SizeRw.
func Size(ctx context.Context, dir string) (int64, error) {
	s, err := sizeImpl(ctx, dir)
	if err != nil {
		return 0, fmt.Errorf("size of layer %s: %w", dir, err)
	}
	return s, nil
}

const mountCountFile = ".mounts"

func readMountCount(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, mountCountFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad mount count %q in %s: %w", b, dir, errdefs.ErrDataLoss)
	}
	return n, nil
}

func writeMountCount(dir string, n int) error {
	name := filepath.Join(dir, mountCountFile)
	if n == 0 {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	// A new file renamed over the old: a write that fails (a full disk)
	// leaves the old count, never an empty or half-written one that would
	// keep the layer from being mounted or removed again.
	f, err := os.CreateTemp(dir, mountCountFile+".tmp-")
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(n))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
