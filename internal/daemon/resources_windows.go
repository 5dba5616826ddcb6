package daemon

import (
	"fmt"

	"github.com/hullproject/hull/internal/errdefs"
)

// deviceNumbers: Windows containers have no block I/O device limits.
func deviceNumbers(path string) (int64, int64, error) {
	return 0, 0, fmt.Errorf("block I/O device limits (%s): not available for Windows containers: %w", path, errdefs.ErrNotImplemented)
}
