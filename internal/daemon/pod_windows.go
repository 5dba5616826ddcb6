package daemon

import (
	"context"
	"fmt"
	"io/fs"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// PodInfraImage: hull runs no Kubernetes pods on Windows yet.
func (d *Daemon) PodInfraImage(ctx context.Context) (string, error) {
	return "", fmt.Errorf("Kubernetes pods are not supported by hull on Windows: %w", errdefs.ErrNotImplemented)
}

func applyPodUTS(*specs.Spec, *record, joins) {}

func mountPointOf(dir string) (string, error) {
	return "", fmt.Errorf("the image file system's mount point is not known on Windows: %w", errdefs.ErrNotImplemented)
}

func diskUsage(fi fs.FileInfo) int64 { return fi.Size() }
