package leaninit

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/moby/sys/capability"
)

// caps applies the process's capability sets in libcontainer's two steps:
// the bounding set before the user change, everything after it.
type caps struct {
	pid  capability.Capabilities
	sets *Capabilities
}

// newCaps reads this process's capabilities; with sets nil nothing is
// applied (libcontainer's init leaves them as they are too).
func newCaps(sets *Capabilities) (*caps, error) {
	if sets == nil {
		return &caps{}, nil
	}
	pid, err := capability.NewPid2(0)
	if err != nil {
		return nil, err
	}
	return &caps{pid: pid, sets: sets}, nil
}

func (c *caps) applyBoundingSet() error {
	if c.pid == nil {
		return nil
	}
	c.pid.Clear(capability.BOUNDING)
	c.pid.Set(capability.BOUNDING, c.sets.Bounding...)
	return c.pid.Apply(capability.BOUNDING)
}

func (c *caps) applyCaps() error {
	if c.pid == nil {
		return nil
	}
	c.pid.Clear(capability.CAPS | capability.BOUNDS)
	c.pid.Set(capability.EFFECTIVE, c.sets.Effective...)
	c.pid.Set(capability.PERMITTED, c.sets.Permitted...)
	c.pid.Set(capability.INHERITABLE, c.sets.Inheritable...)
	c.pid.Set(capability.BOUNDING, c.sets.Bounding...)
	if err := c.pid.Apply(capability.CAPS | capability.BOUNDS); err != nil {
		return fmt.Errorf("can't apply capabilities: %w", err)
	}
	if err := capability.ResetAmbient(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	// An ambient capability the process cannot raise (not permitted and
	// inheritable) is left out, as libcontainer leaves it with a warning.
	for _, a := range c.sets.Ambient {
		capability.SetAmbient(true, a)
	}
	return nil
}
