package build

import (
	"context"
	"fmt"

	bkexecutor "github.com/moby/buildkit/executor"
	resourcestypes "github.com/moby/buildkit/executor/resources/types"

	"github.com/hullproject/hull/internal/errdefs"
)

// executor runs a build's RUN steps. It does not yet: RUN on hull's own
// compute service (internal/runtime, the container's shim) comes next in
// issue 14, so a Dockerfile with RUN fails with this error.
type executor struct{}

var _ bkexecutor.Executor = (*executor)(nil)

func (*executor) Run(ctx context.Context, id string, rootfs bkexecutor.Mount, mounts []bkexecutor.Mount, process bkexecutor.ProcessInfo, started chan<- struct{}) (resourcestypes.Recorder, error) {
	return nil, fmt.Errorf("run %q: RUN steps are not supported by hull's builder yet (issue 14): %w", process.Meta.Args, errdefs.ErrNotImplemented)
}

func (*executor) Exec(ctx context.Context, id string, process bkexecutor.ProcessInfo) error {
	return fmt.Errorf("exec %q in build container %s: not supported by hull's builder yet (issue 14): %w", process.Meta.Args, id, errdefs.ErrNotImplemented)
}
