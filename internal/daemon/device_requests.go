package daemon

import (
	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// checkDeviceRequests refuses at the start a container that asks for
// devices through a driver (docker run --gpus): hull has no device driver
// (neither NVIDIA's nor CDI), so none can be given, and moby's words for a
// request no driver takes are said (daemon/devices.go handleDevice,
// incompatibleDeviceRequest; 400 in moby, 500 in dockerd 20.10). It ran
// the container without them before, without a word.
func checkDeviceRequests(reqs []container.DeviceRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "could not select device driver %q with capabilities: %v", reqs[0].Driver, reqs[0].Capabilities)
}
