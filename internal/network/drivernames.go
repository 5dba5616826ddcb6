package network

import "sort"

// DriverNames lists the built-in network drivers of this OS (those
// registered, not remote ones a plugin gave), sorted: with the drivers of
// the networks that exist, what dockerd lists as its network plugins.
func (s *Service) DriverNames() []string {
	s.dmu.RLock()
	defer s.dmu.RUnlock()
	names := make([]string, 0, len(s.drivers))
	for n, d := range s.drivers {
		if _, remote := d.(*remoteDriver); remote {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
