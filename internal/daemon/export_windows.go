package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/hullproject/hull/internal/errdefs"
)

func tarTree(ctx context.Context, root string, w io.Writer) error {
	return fmt.Errorf("export: the Windows layer export arrives with issue 7: %w", errdefs.ErrNotImplemented)
}
