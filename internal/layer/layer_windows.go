package layer

// The layer store's hooks on Windows: windowsfilter through hcsshim
// (HCSLayers). The sequences of calls are windowsfilter.go's, tested on
// Linux with a fake; this file only hands them hcsshim — no Windows host has
// run it yet (README "Windows").

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hullproject/hull/internal/errdefs"
)

// driverName is what docker inspect shows as GraphDriver.Name.
const driverName = "windowsfilter"

// scratchInPlace: Windows ties a scratch layer to its folder's name.
const scratchInPlace = true

// wcl is hcsshim's layer API.
var wcl WCLayer = HCSLayers{}

// importImpl unpacks a layer tar with ociwclayer (backup/restore
// privileges). It reports no headers: the tar-split record keeps the stream.
func importImpl(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions, observe func(*tar.Header)) (ApplyResult, error) {
	cr := &countingReader{r: r}
	if err := wcl.ImportLayer(ctx, dir, parents, cr); err != nil {
		return ApplyResult{}, err
	}
	return ApplyResult{Size: cr.n}, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func exportImpl(ctx context.Context, dir string, chain []string, w io.Writer) error {
	return wcl.ExportLayer(ctx, dir, chain, w)
}

func createScratchImpl(ctx context.Context, dir string, parents []string) error {
	return wcl.CreateScratchLayer(ctx, dir, parents)
}

// mountImpl activates and prepares the layer the first time (counted: it
// is mounted already) and answers its volume. volatile has no meaning
// for windowsfilter.
func mountImpl(ctx context.Context, dir string, chain []string, scratch bool, counted bool, volatile bool) (string, error) {
	if counted {
		return wcl.GetLayerMountPath(ctx, dir)
	}
	return wcMount(ctx, wcl, dir, chain)
}

func unmountImpl(ctx context.Context, dir string) error { return wcUnmount(ctx, wcl, dir) }

var errWindows = fmt.Errorf("not on Windows yet (issue 7): %w", errdefs.ErrNotImplemented)

func changesImpl(ctx context.Context, dir string, chain []string) ([]Change, error) {
	return nil, errWindows
}

func sizeImpl(ctx context.Context, dir string) (int64, error) { return 0, errWindows }

func openLayerFile(dir, rel string) (io.ReadCloser, error) { return nil, errWindows }

// removeAll destroys the layer (when dir is one) before removing its
// folder.
func removeAll(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	wcl.DestroyLayer(context.Background(), dir)
	return os.RemoveAll(dir)
}

// withLock runs fn; a layer folder is the daemon's alone on Windows.
func withLock(dir string, fn func() error) error { return fn() }

// ExtractTar (docker cp into a container) is not there on Windows yet.
func ExtractTar(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (ApplyResult, error) {
	return ApplyResult{}, errWindows
}
