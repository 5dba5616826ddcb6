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

func statPath(root, p, name string) (PathStat, error) { return PathStat{}, errArchiveWindows }
func archivePath(ctx context.Context, root, p, name string, sub map[string]mountPoint, started func(PathStat), w io.Writer) error {
	return errArchiveWindows
}
func extractToPath(ctx context.Context, root, p, at string, r io.Reader, readOnly error, noOverwrite bool, owner *cpOwner, sub map[string]mountPoint) error {
	return errArchiveWindows
}
func lookupUserInRoot(root, user string) (uid, gid int, err error) { return 0, 0, errArchiveWindows }
