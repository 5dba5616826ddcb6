package network

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/hullproject/hull/internal/errdefs"
)

// On Windows the network service is HNS (hcn): it arrives with issue 7.
// Until then only the predefined null and host networks exist, and every
// kernel operation says it is not implemented.
type windowsSystem struct{}

func newSystem(Config) system { return windowsSystem{} }

func registerDrivers(s *Service) {
	s.drivers["null"] = nullDriver{}
	s.drivers["host"] = nullDriver{}
}

var errHNS = fmt.Errorf("the Windows network service (HNS) arrives with issue 7: %w", errdefs.ErrNotImplemented)

func (windowsSystem) hostRoutes() []netip.Prefix             { return nil }
func (windowsSystem) newCompartment(string) error            { return errHNS }
func (windowsSystem) removeCompartment(string) error         { return nil }
func (windowsSystem) adoptCompartment(_, _, _ string) error  { return errHNS }
func (windowsSystem) markPooled(string, bool) error          { return errHNS }
func (windowsSystem) unplumb(string, string) error           { return nil }
func (windowsSystem) syncFirewall([]Network) error           { return nil }
func (windowsSystem) reconcileLinks(map[string]bool)         {}
func (windowsSystem) interfaces(string) ([]Interface, error) { return nil, errHNS }
func (windowsSystem) routes(string) ([]RouteInfo, error)     { return nil, errHNS }
func (windowsSystem) plumb(string, JoinInfo, string, *Endpoint, bool, bool) error {
	return errHNS
}
func (windowsSystem) listenDNS(string) (net.PacketConn, net.Listener, error) {
	return nil, nil, errHNS
}
