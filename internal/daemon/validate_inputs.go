package daemon

// Checks of issue 13's wrong inputs that moby makes and hull did not:
// several networks beside none or host, an empty annotation key, a
// container port 0, a negative tmpfs size.

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
)

// errPrivateNone is moby's refusal of another network beside none.
var errPrivateNone = errdefs.Dockerf(errdefs.ErrInvalidArgument, "container cannot be connected to multiple networks with one of the networks in private (none) mode")

// checkEndpointModes refuses at create a container asked onto none, host
// or another container's network namespace beside another network (API
// 1.44 takes several endpoints at create: the docker CLI's "--network
// none --network host" sends none and host). moby refuses it, with these
// words, when it connects the endpoints at the start (daemon/
// container_operations.go updateNetworkSettings, connectToNetwork); hull
// refuses at create, where nothing has been made yet — before, it kept
// the network mode's and dropped the others without a word.
func (d *Daemon) checkEndpointModes(r *record) error {
	if r.NetworkingConfig == nil || len(r.NetworkingConfig.EndpointsConfig) == 0 {
		return nil
	}
	mode := networkMode(r.HostConfig)
	var others []string
	for name := range r.NetworkingConfig.EndpointsConfig {
		if name != "default" && name != mode && name != string(r.HostConfig.NetworkMode) {
			others = append(others, name)
		}
	}
	if len(others) == 0 {
		return nil
	}
	if _, shared := containerMode(mode); shared {
		return errSharedNetwork
	}
	// Networks by id, so that a name and an id of one network are one.
	drivers := map[string]string{}
	for _, name := range append(others, mode) {
		nw, err := d.net.Network(name)
		if err != nil {
			drivers[name] = "" // made between create and start, or refused there
			continue
		}
		drivers[nw.ID] = nw.Driver
	}
	if len(drivers) < 2 {
		return nil
	}
	for _, drv := range drivers {
		if drv == "null" {
			return errPrivateNone
		}
	}
	for _, drv := range drivers {
		if drv == "host" {
			return errSharedNetwork
		}
	}
	return nil
}

// validateAnnotations is moby's check of HostConfig.Annotations (API 1.43
// and later; older requests have theirs cleared by the server).
func validateAnnotations(h *container.HostConfig) error {
	for k := range h.Annotations {
		if k == "" {
			return invalid("invalid Annotations: the empty string is not permitted as an annotation key")
		}
	}
	return nil
}

// validateContainerPorts refuses a published container port 0, as moby
// 29's validatePortBindings ("invalid port specification"); dockerd 20.10
// took it and published nothing.
func validateContainerPorts(ports network.PortMap) error {
	for p := range ports {
		if p.Num() == 0 {
			return invalid("invalid port specification: %q", p.String())
		}
	}
	return nil
}

// validateDNS refuses an empty DNS server: HostConfig.Dns is read as IP
// addresses (API types v1.52, as moby 29), and an empty string decodes to
// no address, which would be written to resolv.conf as "nameserver
// invalid IP" (dockerd 20.10 wrote "nameserver " and created it).
func validateDNS(h *container.HostConfig) error {
	for _, a := range h.DNS {
		if !a.IsValid() {
			return invalid("invalid IP address in Dns: %q", "")
		}
	}
	return nil
}

// validateTmpfsSize refuses a tmpfs mount of negative size: the kernel
// refuses the mount (EINVAL), which dockerd answers with a 500 at the
// start; hull refuses the input at create.
func validateTmpfsSize(m *mount.Mount) error {
	if m.Type == mount.TypeTmpfs && m.TmpfsOptions != nil && m.TmpfsOptions.SizeBytes < 0 {
		return errMountConfig(m, fmt.Errorf("invalid size: %d: the size of a tmpfs cannot be negative", m.TmpfsOptions.SizeBytes))
	}
	return nil
}

// validateTmpfsOptions refuses, in a --tmpfs option string, a size the
// kernel would refuse at start (a negative one: a 500 there in dockerd).
func validateTmpfsOptions(dest, opts string) error {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(o), "size="); ok && strings.HasPrefix(strings.TrimSpace(v), "-") {
			return invalid("invalid tmpfs option %q for %s: the size of a tmpfs cannot be negative", o, dest)
		}
	}
	return nil
}
