package main

// Windows: the daemon listens on a named pipe by default and can run as a
// Windows service. Run under Wine in CI (hack/wine.sh: the named pipe, the
// refusal without the Containers feature); the service manager and HCS
// have never run (see README "Windows").

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/hullproject/hull/internal/daemon"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/runtime"
)

const (
	defaultRoot     = `C:\ProgramData\hull`
	defaultExecRoot = `C:\ProgramData\hull\exec`
	defaultHost     = "npipe:////./pipe/hull_engine"
	serviceName     = "hull"
)

// listenPipe listens on npipe:////./pipe/NAME, open to Administrators and
// SYSTEM only (the API gives control of the host).
func listenPipe(addr string) (net.Listener, error) {
	name := strings.ReplaceAll(addr, "/", `\`)
	return winio.ListenPipe(name, &winio.PipeConfig{SecurityDescriptor: "D:P(A;;GA;;;BA)(A;;GA;;;SY)", InputBufferSize: 65536, OutputBufferSize: 65536})
}

// manageService registers hull daemon, with the flags given but the
// registration ones, as an automatic Windows service, or removes it.
func manageService(register bool, args []string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("the service manager: %w", err)
	}
	defer m.Disconnect()
	if !register {
		s, err := m.OpenService(serviceName)
		if err != nil {
			return fmt.Errorf("service %s: %w", serviceName, errdefs.ErrNotFound)
		}
		defer s.Close()
		return s.Delete()
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--register-service" })
	s, err := m.CreateService(serviceName, exe, mgr.Config{DisplayName: "hull", Description: "hull: the Docker Engine API on HCS and HNS", StartType: mgr.StartAutomatic}, args...)
	if err != nil {
		return fmt.Errorf("register service %s: %w", serviceName, err)
	}
	defer s.Close()
	fmt.Printf("registered the service %s: %s %s\n", serviceName, exe, strings.Join(args, " "))
	return nil
}

// On Windows hull diag reads compartments from HNS.
func init() {
	compartmentsHNS = func() ([]network.Compartment, map[string][]network.HNSEndpoint, error) {
		return network.HNSCompartments(network.HCNService{})
	}
}

// windowsServiceDLLs are the Windows parts hcsshim calls into for hull:
// the Host Compute Service (containers and windowsfilter layers) and the
// Host Network Service. Both come with the Containers feature.
var windowsServiceDLLs = []struct{ dll, what string }{
	{"vmcompute.dll", "the Host Compute Service"},
	{"computenetwork.dll", "the Host Network Service"},
}

// checkWindowsServices says, before the daemon starts, which of the
// Windows container services this host lacks: without the Containers
// feature hcsshim's first call would fail deep inside a container's
// start, as dockerd refuses to start there.
func checkWindowsServices() error {
	var missing []string
	for _, d := range windowsServiceDLLs {
		if err := windows.NewLazySystemDLL(d.dll).Load(); err != nil {
			missing = append(missing, d.what+" ("+d.dll+")")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("hull daemon needs the Windows Containers feature, which is not enabled on this host: %s not found; "+
		"enable it (Windows Server: Install-WindowsFeature -Name Containers; Windows 10/11: Enable-WindowsOptionalFeature -Online -FeatureName Containers -All) and restart: %w",
		strings.Join(missing, " and "), errdefs.ErrUnavailable)
}

// windowsServices are hcsshim's: the windowsfilter layers, HCS and HNS.
func windowsServices() *daemon.WindowsServices {
	return &daemon.WindowsServices{Layers: layer.HCSLayers{}, Compute: runtime.HCSCompute{}, HNS: network.HCNService{}}
}

// runMaybeAsService runs the daemon under the service manager when it
// started it: Stop and Shutdown cancel its context.
func runMaybeAsService(ctx context.Context, run func(context.Context) error) error {
	is, err := svc.IsWindowsService()
	if err != nil || !is {
		return run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &serviceHandler{run: run, ctx: ctx, cancel: cancel, done: make(chan error, 1)}
	if err := svc.Run(serviceName, h); err != nil {
		return err
	}
	return <-h.done
}

type serviceHandler struct {
	run    func(context.Context) error
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
}

func (h *serviceHandler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	finished := make(chan error, 1)
	go func() { finished <- h.run(h.ctx) }()
	s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-finished:
			h.done <- err
			return false, 0
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				s <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				s <- svc.Status{State: svc.StopPending, WaitHint: uint32((15 * time.Second).Milliseconds())}
				h.cancel()
			}
		}
	}
}
