package daemon

import (
	"errors"
	"fmt"

	"github.com/hullproject/hull/internal/errdefs"
)

// checkLocalOptionsImpl: the local driver takes no options on Windows, as
// dockerd's.
func checkLocalOptionsImpl(opts map[string]string) error {
	return fmt.Errorf("options are not supported on this platform: %w", errdefs.ErrInvalidArgument)
}

// mountLocalImpl is never called on Windows: no volume there has options.
func mountLocalImpl(opts map[string]string, dir string) error {
	return errors.New("volume options are not supported on this platform")
}

func unmountLocalImpl(dir string) error { return nil }
