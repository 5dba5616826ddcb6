package network

import "sort"

// DriverNames lists the network drivers the service has: the built-in ones
// of this OS and the remote drivers (plugins) activated so far, sorted.
func (s *Service) DriverNames() []string {
	s.dmu.RLock()
	defer s.dmu.RUnlock()
	names := make([]string, 0, len(s.drivers))
	for n := range s.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
