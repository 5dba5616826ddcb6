package runtime

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// The Windows compute service runs on HCS; until it arrives every hook
// says so.

func notImplemented(op string) error {
	return fmt.Errorf("%s: HCS arrives with issue 7: %w", op, errdefs.ErrNotImplemented)
}

func (r *Runtime) createImpl(ctx context.Context, id, bundle string, opts CreateOptions) error {
	return notImplemented("create")
}

func (r *Runtime) runImpl(ctx context.Context, id, bundle string, opts CreateOptions, started func()) (int, error) {
	return -1, notImplemented("run")
}

func (r *Runtime) attachImpl(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	return nil, notImplemented("attach")
}

func (r *Runtime) stateImpl(ctx context.Context, id string) (State, error) {
	return State{}, notImplemented("state")
}

func (r *Runtime) listImpl(ctx context.Context) ([]State, error) {
	return nil, notImplemented("list")
}

func (r *Runtime) deleteImpl(ctx context.Context, id string, force bool) error {
	return notImplemented("delete")
}

func (r *Runtime) execImpl(ctx context.Context, id string, proc *specs.Process, opts ExecOptions) (*Process, error) {
	return nil, notImplemented("exec")
}

func (r *Runtime) call(ctx context.Context, id string, req request) (response, error) {
	return response{}, notImplemented(req.Op)
}

// ShimMain is the shim's main function; on Windows there is no shim yet.
func ShimMain(args []string) int {
	fmt.Println("hull-shim: HCS arrives with issue 7")
	return 1
}

// Init is the container's init; on Windows HCS starts containers.
func Init() {}

// spares: Windows has no spare shims.
type spares struct{}

// Close lets go of what the runtime keeps for the next create (nothing on
// Windows).
func (r *Runtime) Close() {}

// KeepSpareShim: Windows has no shims to keep spare.
func (r *Runtime) KeepSpareShim() {}
