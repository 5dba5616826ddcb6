package daemon

// Build sandboxes: the network compartments of a build's RUN steps in the
// default network mode (issue 14). hull-buildkit asks for one on the
// daemon's private builder socket; the network service makes it as it
// makes a container's (a compartment, an endpoint on the default bridge, a
// veth, an address), under an id of its own that no container has. A
// sandbox lives as long as hull-buildkit holds it: it is released when
// the step is done, all of them when hull-buildkit exits (it may have
// crashed holding some), and at the daemon's start (hull-buildkit dies
// with the daemon, so every build sandbox recorded then is stale).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/network"
)

// buildSandboxPrefix starts every build sandbox's id: "build-" and 32 hex
// digits, which is no container's id.
const buildSandboxPrefix = "build-"

// BuildSandbox is a RUN step's network compartment on the default bridge,
// as the builder's private route answers it.
type BuildSandbox struct {
	ID string `json:"Id"`
	// Path is the compartment: a bind-mounted network namespace to name
	// in the step's OCI spec.
	Path string `json:"Path"`
	// IPAddress is eth0's address with its prefix length, Gateway the
	// bridge's address (the default route).
	IPAddress string `json:"IPAddress"`
	Gateway   string `json:"Gateway"`
}

// isBuildSandbox says whether id is a build sandbox's id.
func isBuildSandbox(id string) bool {
	hexPart, ok := strings.CutPrefix(id, buildSandboxPrefix)
	if !ok || len(hexPart) != 32 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}

// CreateBuildSandbox makes a compartment attached to the default bridge
// network for a build's RUN step. Nothing of it is left on an error.
func (d *Daemon) CreateBuildSandbox(ctx context.Context) (*BuildSandbox, error) {
	if d.win != nil {
		return nil, fmt.Errorf("build sandbox: the builder does not run on this platform: %w", errdefs.ErrNotImplemented)
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := buildSandboxPrefix + hex.EncodeToString(b)
	sb, err := d.net.Attach(ctx, network.AttachRequest{ContainerID: id, Name: id,
		Networks: []network.EndpointRequest{{Network: "bridge"}}})
	if err != nil {
		return nil, fmt.Errorf("build sandbox on the default bridge: %w", err)
	}
	if ctx.Err() != nil {
		// The asker is gone (hull-buildkit exited while it was made): no
		// one would release it.
		d.net.Detach(context.WithoutCancel(ctx), id)
		return nil, fmt.Errorf("build sandbox on the default bridge: %w", context.Cause(ctx))
	}
	out := &BuildSandbox{ID: id, Path: sb.Path}
	for _, ep := range d.net.Endpoints(id) {
		if ep.Addr.IsValid() {
			out.IPAddress = ep.Addr.String()
		}
		if ep.Gateway.IsValid() {
			out.Gateway = ep.Gateway.String()
		}
	}
	return out, nil
}

// RemoveBuildSandbox releases a build sandbox: its endpoint, address,
// veth and compartment. The step that ran in it has exited (its PID
// namespace with it), so the veth goes with the namespace.
func (d *Daemon) RemoveBuildSandbox(ctx context.Context, id string) error {
	if !isBuildSandbox(id) {
		return fmt.Errorf("%q is not a build sandbox's id: %w", id, errdefs.ErrInvalidArgument)
	}
	if d.net.Sandbox(id) == nil {
		return errdefs.Dockerf(errdefs.ErrNotFound, "no such build sandbox: %s", id)
	}
	if err := d.net.Detach(ctx, id); err != nil {
		return fmt.Errorf("release build sandbox %s: %w", id, err)
	}
	return nil
}

// ReleaseBuildSandboxes releases every build sandbox: what hull-buildkit
// held when it exited, or what a daemon that died left. A RUN step's
// container may outlive a hull-buildkit that crashed, and keep its
// namespace: the NICs are taken out of it one by one (DetachShared), so
// that no veth stays on the bridge with an address given back to the
// pool. It goes on past errors and returns them all.
func (d *Daemon) ReleaseBuildSandboxes(ctx context.Context) error {
	if d.win != nil {
		return nil
	}
	var errs []error
	for _, sb := range d.net.Sandboxes() {
		if !isBuildSandbox(sb.ContainerID) {
			continue
		}
		slog.Debug("releasing a build sandbox left behind", "compartment", sb.ContainerID)
		if err := d.net.DetachShared(ctx, sb.ContainerID); err != nil {
			errs = append(errs, fmt.Errorf("release build sandbox %s: %w", sb.ContainerID, err))
		}
	}
	return errors.Join(errs...)
}
