package build

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	containerdoci "github.com/containerd/containerd/v2/pkg/oci"
	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// networkProviders are the RUN steps' networks, by the step's network
// mode, with what the worker's labels say of them (the network of the
// default mode; the host-gateway address):
//   - the default mode (a RUN without --network, docker build without
//     --network or with --network default) runs in a compartment of its
//     own on hull's default bridge network, made by the daemon's network
//     service as a container's is (bridgeProvider): eth0 with an address
//     of the bridge's subnet and the default route through its gateway;
//   - none: a network namespace of its own with loopback only (BuildKit's
//     none provider leaves the spec's new namespace as it is);
//   - host: the host's network namespace.
//
// Without a daemon to ask (api nil: BuildKit run on its own), the default
// mode is the host's network, as it was before hull's network service
// took it.
func networkProviders(ctx context.Context, api *daemonAPI) (providers map[pb.NetMode]network.Provider, label, hostGateway string) {
	var def network.Provider = network.NewHostProvider()
	label = "host"
	if api != nil {
		def, label = &bridgeProvider{api: api}, "bridge"
		gctx, cancel := context.WithTimeout(ctx, sandboxTimeout)
		gw, err := api.bridgeGateway(gctx)
		cancel()
		if err != nil {
			slog.Warn("the default bridge's gateway, for --add-host NAME:host-gateway", "error", err)
		}
		hostGateway = gw
	}
	return map[pb.NetMode]network.Provider{
		pb.NetMode_UNSET: def,
		pb.NetMode_HOST:  network.NewHostProvider(),
		pb.NetMode_NONE:  network.NewNoneProvider(),
	}, label, hostGateway
}

// hostGatewayLabel is the worker label of dockerd's builder that buildx's
// docker driver reads to write --add-host NAME:host-gateway as an
// address (moby's builder-next worker/label.HostGatewayIP). As dockerd's,
// it is the default bridge's gateway: the host as a RUN step on the
// bridge reaches it.
const hostGatewayLabel = "org.mobyproject.buildkit.worker.moby.host-gateway-ip"

// bridgeGateway is the default bridge network's gateway address.
func (a *daemonAPI) bridgeGateway(ctx context.Context) (string, error) {
	resp, err := a.do(ctx, http.MethodGet, "/networks/bridge", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var nw struct {
		IPAM struct{ Config []struct{ Gateway string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&nw); err != nil {
		return "", fmt.Errorf("the daemon's API: inspect the default bridge: %w", err)
	}
	for _, c := range nw.IPAM.Config {
		if c.Gateway != "" {
			return c.Gateway, nil
		}
	}
	return "", fmt.Errorf("the default bridge network has no gateway: %w", errdefs.ErrNotFound)
}

// sandboxTimeout bounds a request for a build sandbox, its release, or
// the default bridge's gateway.
const sandboxTimeout = 30 * time.Second

// bridgeProvider gives each RUN step of the default network mode a build
// sandbox of the daemon (POST /_hull/build/sandbox on its private
// socket): a compartment attached to the default bridge. The step's
// namespace is released when the step is done (DELETE); what a
// hull-buildkit that exits still holds, the daemon releases.
type bridgeProvider struct {
	api *daemonAPI
	// running are the requests under way (sandboxes being made or
	// released), which Close waits for.
	running sync.WaitGroup
}

var _ network.Provider = (*bridgeProvider)(nil)

func (p *bridgeProvider) New(ctx context.Context, _ string, _ network.NamespaceOptions) (network.Namespace, error) {
	ns := &bridgeNS{p: p, ready: make(chan struct{})}
	// The sandbox is made while the executor mounts the step's root file
	// system (Set waits for it), and asked for even when the step is
	// cancelled meanwhile, so that an answer lost to the cancel leaves no
	// sandbox no one knows of: Close releases what came.
	p.running.Add(1)
	go func() {
		defer p.running.Done()
		defer close(ns.ready)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sandboxTimeout)
		defer cancel()
		ns.sb, ns.err = p.api.createSandbox(cctx)
		if ns.err != nil {
			ns.err = fmt.Errorf("a network compartment on the default bridge: %w", ns.err)
		}
	}()
	return ns, nil
}

// Close waits for the sandboxes being made or released.
func (p *bridgeProvider) Close() error {
	p.running.Wait()
	return nil
}

// bridgeNS is one step's build sandbox.
type bridgeNS struct {
	p *bridgeProvider
	// ready is closed once the daemon has answered: sb, or err.
	ready     chan struct{}
	sb        *buildSandbox
	err       error
	closeOnce sync.Once
}

// Set runs the step in the sandbox's network namespace, once the daemon
// has made it.
func (ns *bridgeNS) Set(s *specs.Spec) error {
	<-ns.ready
	if ns.err != nil {
		return ns.err
	}
	return containerdoci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: ns.sb.Path})(context.Background(), nil, nil, s)
}

// Close releases the sandbox, in the background: the step's result does
// not wait for the veth and namespace to go. The step's processes are
// gone by then (the executor closes the namespace after the container
// has exited).
func (ns *bridgeNS) Close() error {
	ns.closeOnce.Do(func() {
		ns.p.running.Add(1)
		go func() {
			defer ns.p.running.Done()
			<-ns.ready
			if ns.sb == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), sandboxTimeout)
			defer cancel()
			if err := ns.p.api.removeSandbox(ctx, ns.sb.ID); err != nil {
				slog.Warn("release a RUN step's network compartment", "compartment", ns.sb.ID, "error", err)
			}
		}()
	})
	return nil
}

// Sample is the step's network use, which hull's builder does not
// record (BuildKit's resource monitor is not used).
func (ns *bridgeNS) Sample() (*resourcestypes.NetworkSample, error) { return nil, nil }

// buildSandbox is the daemon's answer to POST /_hull/build/sandbox.
type buildSandbox struct {
	ID        string `json:"Id"`
	Path      string `json:"Path"`
	IPAddress string `json:"IPAddress"`
	Gateway   string `json:"Gateway"`
}

// createSandbox asks the daemon for a compartment on the default bridge.
func (a *daemonAPI) createSandbox(ctx context.Context) (*buildSandbox, error) {
	resp, err := a.private(ctx, http.MethodPost, "/_hull/build/sandbox")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var sb buildSandbox
	if err := json.NewDecoder(resp.Body).Decode(&sb); err != nil {
		return nil, fmt.Errorf("the daemon's API: build sandbox: %w", err)
	}
	if sb.ID == "" || sb.Path == "" {
		return nil, fmt.Errorf("the daemon's API: a build sandbox without id or path: %w", errdefs.ErrUnavailable)
	}
	return &sb, nil
}

// removeSandbox releases a sandbox createSandbox gave.
func (a *daemonAPI) removeSandbox(ctx context.Context, id string) error {
	resp, err := a.private(ctx, http.MethodDelete, "/_hull/build/sandbox/"+id)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// private is a request to one of the daemon's own routes (/_hull/…, not
// under an API version); an error answer comes back with its message,
// NotFound for a 404.
func (a *daemonAPI) private(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://hull"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.send(req)
	if err != nil {
		return nil, fmt.Errorf("the daemon's API: %s %s: %w", method, path, err)
	}
	return resp, nil
}
