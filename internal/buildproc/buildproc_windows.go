package buildproc

import (
	"context"
	"fmt"

	"github.com/hullproject/hull/internal/errdefs"
)

// process is never started on Windows: hull builds on Linux only.
type process struct{}

func (p *Proc) spawn(context.Context) (*process, error) {
	return nil, fmt.Errorf("build: BuildKit is not supported on this platform (hull builds on Linux only): %w", errdefs.ErrNotImplemented)
}

func (*process) exited() bool { return true }

func (*process) stop() error { return nil }
