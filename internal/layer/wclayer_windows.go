package layer

// The adapter of WCLayer onto hcsshim — the one part of the windowsfilter
// store no test on this project's machines runs (there is no Windows host).

import (
	"context"
	"io"
	"path/filepath"

	"github.com/Microsoft/go-winio"
	"github.com/Microsoft/hcsshim"
	"github.com/Microsoft/hcsshim/pkg/ociwclayer"
)

// HCSLayers is WCLayer on hcsshim.
type HCSLayers struct{}

var _ WCLayer = HCSLayers{}

func driverInfo(path string) (hcsshim.DriverInfo, string) {
	return hcsshim.DriverInfo{HomeDir: filepath.Dir(path)}, filepath.Base(path)
}

// ImportLayer runs under the backup and restore privileges, which writing a
// layer's files with their security descriptors needs.
func (HCSLayers) ImportLayer(ctx context.Context, path string, parents []string, r io.Reader) error {
	return winio.RunWithPrivileges([]string{winio.SeBackupPrivilege, winio.SeRestorePrivilege}, func() error {
		_, err := ociwclayer.ImportLayerFromTar(ctx, r, path, parents)
		return err
	})
}

func (HCSLayers) ExportLayer(ctx context.Context, path string, parents []string, w io.Writer) error {
	return winio.RunWithPrivileges([]string{winio.SeBackupPrivilege}, func() error {
		return ociwclayer.ExportLayerToTar(ctx, w, path, parents)
	})
}

func (HCSLayers) CreateScratchLayer(_ context.Context, path string, parents []string) error {
	info, id := driverInfo(path)
	parent := ""
	if len(parents) > 0 {
		parent = filepath.Base(parents[0])
	}
	return hcsshim.CreateScratchLayer(info, id, parent, parents)
}

func (HCSLayers) ActivateLayer(_ context.Context, path string) error {
	info, id := driverInfo(path)
	return hcsshim.ActivateLayer(info, id)
}

func (HCSLayers) PrepareLayer(_ context.Context, path string, parents []string) error {
	info, id := driverInfo(path)
	return hcsshim.PrepareLayer(info, id, parents)
}

func (HCSLayers) GetLayerMountPath(_ context.Context, path string) (string, error) {
	info, id := driverInfo(path)
	return hcsshim.GetLayerMountPath(info, id)
}

func (HCSLayers) UnprepareLayer(_ context.Context, path string) error {
	info, id := driverInfo(path)
	return hcsshim.UnprepareLayer(info, id)
}

func (HCSLayers) DeactivateLayer(_ context.Context, path string) error {
	info, id := driverInfo(path)
	return hcsshim.DeactivateLayer(info, id)
}

func (HCSLayers) DestroyLayer(_ context.Context, path string) error {
	info, id := driverInfo(path)
	return hcsshim.DestroyLayer(info, id)
}
