package daemon

import "context"

// ContainerDesiredMAC is the MAC address the container's main network's
// endpoint was asked for at create ("" for none), as dockerd keeps it
// (DesiredMacAddress): what inspect shows as Config.MacAddress below API
// 1.52, whether or not the container has run.
func (d *Daemon) ContainerDesiredMAC(ctx context.Context, ref string) (string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.NetworkModeDetached {
		return "", nil
	}
	if eps := containerNetworks(&c.rec); len(eps) > 0 {
		return eps[0].MAC, nil
	}
	return "", nil
}
