package daemon

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// PathStat is the X-Docker-Container-Path-Stat header's content.
type PathStat struct {
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	Mode       uint32    `json:"mode"`
	Mtime      time.Time `json:"mtime"`
	LinkTarget string    `json:"linkTarget"`
}

var errArchiveWindows = fmt.Errorf("docker cp on Windows arrives with issue 7: %w", errdefs.ErrNotImplemented)

func statPath(root, p string) (PathStat, error) { return PathStat{}, errArchiveWindows }
func archivePath(ctx context.Context, root, p string, w io.Writer) (PathStat, error) {
	return PathStat{}, errArchiveWindows
}
func extractToPath(ctx context.Context, root, p string, r io.Reader, copyOwner bool) error {
	return errArchiveWindows
}
