package layer

// The layer store on Windows: windowsfilter, as Docker's graph driver of that
// name keeps it — <root>\windowsfilter\<id>\ per layer, layerchain.json
// holding the parent layers' folders nearest first (null for a base layer),
// read-only layers imported from tars, and a container's scratch layer whose
// id is the container id (Windows misbehaves otherwise). The order of calls
// is Docker's; the calls go through WCLayer, which wclayer_windows.go
// implements on hcsshim (ImportLayerFromTar, CreateScratchLayer,
// ActivateLayer, PrepareLayer, GetLayerMountPath, UnprepareLayer,
// DeactivateLayer, DestroyLayer, ExportLayerToTar) — the only part no test
// here runs. This file is plain Go and its tests run on Linux.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hullproject/hull/internal/errdefs"
)

// WCLayer is the narrow interface over hcsshim's layer calls. Paths are
// layer folders; parents are the parent layers' folders, nearest first.
type WCLayer interface {
	ImportLayer(ctx context.Context, path string, parents []string, r io.Reader) error
	ExportLayer(ctx context.Context, path string, parents []string, w io.Writer) error
	CreateScratchLayer(ctx context.Context, path string, parents []string) error
	ActivateLayer(ctx context.Context, path string) error
	PrepareLayer(ctx context.Context, path string, parents []string) error
	// GetLayerMountPath is the volume (\\?\Volume{…}) of an activated
	// layer, or its folder.
	GetLayerMountPath(ctx context.Context, path string) (string, error)
	UnprepareLayer(ctx context.Context, path string) error
	DeactivateLayer(ctx context.Context, path string) error
	DestroyLayer(ctx context.Context, path string) error
}

// WindowsFilter is the windowsfilter layer store under a root.
type WindowsFilter struct {
	dir string
	api WCLayer
}

// NewWindowsFilter returns the store at <root>/windowsfilter over api.
func NewWindowsFilter(root string, api WCLayer) *WindowsFilter {
	return &WindowsFilter{dir: filepath.Join(root, "windowsfilter"), api: api}
}

// NewWindowsFilterIn returns the store whose layer folders are in dir (the
// daemon's layer store folder, where images are unpacked).
func NewWindowsFilterIn(dir string, api WCLayer) *WindowsFilter {
	return &WindowsFilter{dir: dir, api: api}
}

// Dir is a layer's folder.
func (w *WindowsFilter) Dir(id string) string { return filepath.Join(w.dir, id) }

// Chain is a layer's parents' folders, nearest first, from its
// layerchain.json.
func (w *WindowsFilter) Chain(id string) ([]string, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(w.Dir(id), ChainFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("layer %s: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var chain []string
	if err := json.Unmarshal(b, &chain); err != nil {
		return nil, fmt.Errorf("layer %s: bad %s: %v: %w", id, ChainFile, err, errdefs.ErrDataLoss)
	}
	return chain, nil
}

// chainBelow is the chain of a new layer on parent: parent's folder, then
// parent's chain.
func (w *WindowsFilter) chainBelow(parent string) ([]string, error) {
	if parent == "" {
		return nil, nil
	}
	pc, err := w.Chain(parent)
	if err != nil {
		return nil, fmt.Errorf("parent layer: %w", err)
	}
	return append([]string{w.Dir(parent)}, pc...), nil
}

// Import makes read-only layer id on parent from a tar of its changes.
func (w *WindowsFilter) Import(ctx context.Context, id, parent string, r io.Reader) error {
	return w.makeLayer(ctx, id, parent, Meta{}, func(dir string, chain []string) error {
		if err := w.api.ImportLayer(ctx, dir, chain, r); err != nil {
			return fmt.Errorf("import layer %s: %w", id, err)
		}
		return nil
	})
}

// CreateScratch makes the scratch layer of a container, with the
// container's id, on the image's top layer, as Docker does: the parent's
// mount path first (GetLayerMountPath), then CreateScratchLayer.
func (w *WindowsFilter) CreateScratch(ctx context.Context, containerID, parent string) error {
	return w.makeLayer(ctx, containerID, parent, Meta{Scratch: true}, func(dir string, chain []string) error {
		if parent != "" {
			if _, err := w.api.GetLayerMountPath(ctx, w.Dir(parent)); err != nil {
				return fmt.Errorf("parent layer %s: %w", parent, err)
			}
		}
		if err := w.api.CreateScratchLayer(ctx, dir, chain); err != nil {
			return fmt.Errorf("create scratch layer %s: %w", containerID, err)
		}
		return nil
	})
}

// makeLayer makes layer id on parent with fn, then writes its
// layerchain.json and the record the layer store keeps of each layer (so
// that a store over the same folder, the daemon's, knows it). On an error
// nothing of it is left.
func (w *WindowsFilter) makeLayer(ctx context.Context, id, parent string, meta Meta, fn func(dir string, chain []string) error) (retErr error) {
	if err := checkID(id); err != nil {
		return err
	}
	chain, err := w.chainBelow(parent)
	if err != nil {
		return err
	}
	dir := w.Dir(id)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("layer %s: %w", id, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			w.api.DestroyLayer(context.WithoutCancel(ctx), dir)
			os.RemoveAll(dir)
		}
	}()
	if err := fn(dir, chain); err != nil {
		return err
	}
	if err := writeChain(dir, chain); err != nil {
		return err
	}
	return writeMeta(dir, meta)
}

// Mount activates and prepares a scratch layer over its parents and
// returns its volume (ActivateLayer → PrepareLayer → GetLayerMountPath).
func (w *WindowsFilter) Mount(ctx context.Context, id string) (string, error) {
	chain, err := w.Chain(id)
	if err != nil {
		return "", err
	}
	return wcMount(ctx, w.api, w.Dir(id), chain)
}

// Unmount undoes Mount (UnprepareLayer → DeactivateLayer).
func (w *WindowsFilter) Unmount(ctx context.Context, id string) error {
	return wcUnmount(ctx, w.api, w.Dir(id))
}

// wcMount is a layer folder's mount on Windows: ActivateLayer →
// PrepareLayer over its parents → GetLayerMountPath, undone on failure. The
// layer store's Windows hooks use it too.
func wcMount(ctx context.Context, api WCLayer, dir string, parents []string) (string, error) {
	if err := api.ActivateLayer(ctx, dir); err != nil {
		return "", fmt.Errorf("activate layer %s: %w", filepath.Base(dir), err)
	}
	if err := api.PrepareLayer(ctx, dir, parents); err != nil {
		api.DeactivateLayer(context.WithoutCancel(ctx), dir)
		return "", fmt.Errorf("prepare layer %s: %w", filepath.Base(dir), err)
	}
	vol, err := api.GetLayerMountPath(ctx, dir)
	if err != nil {
		api.UnprepareLayer(context.WithoutCancel(ctx), dir)
		api.DeactivateLayer(context.WithoutCancel(ctx), dir)
		return "", fmt.Errorf("mount path of layer %s: %w", filepath.Base(dir), err)
	}
	return vol, nil
}

// wcUnmount undoes wcMount: UnprepareLayer → DeactivateLayer.
func wcUnmount(ctx context.Context, api WCLayer, dir string) error {
	return errors.Join(api.UnprepareLayer(ctx, dir), api.DeactivateLayer(ctx, dir))
}

// Remove destroys a layer (DestroyLayer) and its folder.
func (w *WindowsFilter) Remove(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	dir := w.Dir(id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("layer %s: %w", id, errdefs.ErrNotFound)
	}
	if err := w.api.DestroyLayer(ctx, dir); err != nil {
		return fmt.Errorf("destroy layer %s: %w", id, err)
	}
	return os.RemoveAll(dir)
}

// Export writes a layer's changes as a tar (ExportLayerToTar).
func (w *WindowsFilter) Export(ctx context.Context, id string, out io.Writer) error {
	chain, err := w.Chain(id)
	if err != nil {
		return err
	}
	return w.api.ExportLayer(ctx, w.Dir(id), chain, out)
}
