package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hullproject/hull/internal/errdefs"
)

// driverName is what docker inspect shows as GraphDriver.Name.
const driverName = "windowsfilter"

// TODO(#7): the windowsfilter backend on hcsshim (ImportLayer,
// ExportLayer, CreateScratchLayer, ActivateLayer/PrepareLayer).
var errWindows = fmt.Errorf("windowsfilter layers arrive with the Windows backend (issue 7): %w", errdefs.ErrNotImplemented)

func importImpl(ctx context.Context, dir string, parents []string, r io.Reader, opts ApplyOptions, observe func(*tar.Header)) (ApplyResult, error) {
	return ApplyResult{}, errWindows
}

func exportImpl(ctx context.Context, dir string, chain []string, w io.Writer) error {
	return errWindows
}

func createScratchImpl(ctx context.Context, dir string, parents []string) error { return errWindows }

func mountImpl(ctx context.Context, dir string, chain []string, scratch bool, counted bool) (string, error) {
	return "", errWindows
}

func unmountImpl(ctx context.Context, dir string) error { return nil }

func changesImpl(ctx context.Context, dir string, chain []string) ([]Change, error) {
	return nil, errWindows
}

func sizeImpl(ctx context.Context, dir string) (int64, error) { return 0, errWindows }

func openLayerFile(dir, rel string) (io.ReadCloser, error) { return nil, errWindows }

func removeAll(dir string) error { return os.RemoveAll(dir) }

// withLock runs fn; layers are not shared between processes on Windows
// until the windowsfilter backend exists.
func withLock(dir string, fn func() error) error { return fn() }

// ExtractTar: the Windows layer code arrives with issue 7.
func ExtractTar(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (ApplyResult, error) {
	return ApplyResult{}, errWindows
}
