package daemon

// windowsEngine is the daemon's container flow on Windows, in Docker's
// order, over the three Windows services — the windowsfilter layer store,
// HNS and HCS — each reached through a narrow interface. It is plain Go:
// windows_engine_test.go runs it on Linux against recording fakes of those
// interfaces; on Windows the adapters onto hcsshim stand behind them. The
// API handlers do not use it yet (see README "Windows").

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/runtime"
)

type windowsEngine struct {
	layers  *layer.WindowsFilter
	net     *network.HNSService
	compute *runtime.HCSRuntime
}

// winStart is what a start needs of the container's record.
type winStart struct {
	Network  string
	Args     []string
	Env      []string
	Cwd      string
	Hostname string
	Tty      bool
	Stdin    bool
	HyperV   bool
	Mounts   []specs.Mount
	Address  netip.Prefix
	MAC      string
	DNS      network.HNSDNS
}

// winContainer is a started container's pieces, for stop and remove.
type winContainer struct {
	ID      string
	Volume  string
	Net     *network.HNSAttachment
	Compute *runtime.HCSContainer
}

// create is docker create's part: the scratch layer, id = container id, on
// the image's top layer.
func (e *windowsEngine) create(ctx context.Context, id, imageTopLayer string) error {
	return e.layers.CreateScratch(ctx, id, imageTopLayer)
}

// start mounts the scratch layer, attaches the container to its network
// (endpoint and compartment), and has HCS create the compute system with
// the endpoint, start it and create its process. A failure undoes the steps
// before it.
func (e *windowsEngine) start(ctx context.Context, id string, s winStart) (_ *winContainer, retErr error) {
	if s.Network == "" || s.Network == "none" {
		return nil, fmt.Errorf("container %s: a Windows container needs a network (nat by default): %w", id, errdefs.ErrInvalidArgument)
	}
	vol, err := e.layers.Mount(ctx, id)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			e.layers.Unmount(context.WithoutCancel(ctx), id)
		}
	}()
	att, err := e.net.Attach(id, s.Network, s.Address, s.MAC, s.DNS)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			e.net.Detach(att)
		}
	}()
	chain, err := e.layers.Chain(id)
	if err != nil {
		return nil, err
	}
	spec := runtime.WindowsSpec(runtime.SpecOptions{Args: s.Args, Env: s.Env, Cwd: s.Cwd, Hostname: s.Hostname, Terminal: s.Tty, RootPath: vol})
	spec.Windows.LayerFolders = append(append([]string{}, chain...), e.layers.Dir(id))
	spec.Windows.Network = &specs.WindowsNetwork{EndpointList: []string{att.Endpoint.Id}}
	if s.HyperV {
		spec.Windows.HyperV = &specs.WindowsHyperV{}
	}
	spec.Mounts = s.Mounts
	hc, err := e.compute.Run(id, spec, s.Stdin)
	if err != nil {
		return nil, err
	}
	return &winContainer{ID: id, Volume: vol, Net: att, Compute: hc}, nil
}

// stop terminates a compute system and releases its network and layer.
func (e *windowsEngine) stop(ctx context.Context, c *winContainer) error {
	var errs []error
	if c.Compute != nil && c.Compute.System != nil {
		if err := c.Compute.System.Shutdown(); err != nil {
			errs = append(errs, c.Compute.System.Terminate())
		}
		errs = append(errs, c.Compute.System.Close())
	}
	if c.Net != nil {
		errs = append(errs, e.net.Detach(c.Net))
	}
	errs = append(errs, e.layers.Unmount(ctx, c.ID))
	return errors.Join(errs...)
}

// restore reopens the compute systems a previous daemon left running.
func (e *windowsEngine) restore(pids map[string]int) ([]*runtime.HCSContainer, error) {
	return e.compute.Restore(pids)
}
