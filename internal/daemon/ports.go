package daemon

import (
	"github.com/hullproject/hull/internal/runtime"
)

// publishPorts binds the host sockets of a starting container's published
// ports (the network service decides a port taken, a bad address, a free
// port for HostPort 0, as before) for its shim, which relays them while the
// container runs: they outlive the daemon (live-restore). The caller closes
// them (closePorts) once Create has answered; the shim holds its own.
func (d *Daemon) publishPorts(id string) ([]runtime.PublishedPort, error) {
	held, err := d.net.Publish(id)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.PublishedPort, 0, len(held))
	for _, p := range held {
		out = append(out, runtime.PublishedPort{Proto: p.Proto, Target: p.Target, File: p.File})
	}
	return out, nil
}

func closePorts(ports []runtime.PublishedPort) {
	for _, p := range ports {
		p.File.Close()
	}
}
