package runtime

import (
	"fmt"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func applySeccompImpl(s *specs.Spec, profile string) error {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	switch profile {
	case SeccompUnconfined:
		s.Linux.Seccomp = nil
		return nil
	case "", SeccompBuiltin:
		return withDefaultSeccomp(s)
	}
	p, err := loadSeccompProfile(profile, s)
	if err != nil {
		return err
	}
	s.Linux.Seccomp = p
	return nil
}

func checkSeccompProfileImpl(profile string) error {
	// Resolved once with every capability and once with none, so that a
	// rule that only some containers get (includes or excludes by
	// capability) is checked too.
	every := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	for name := range knownCaps() {
		every.Process.Capabilities.Bounding = append(every.Process.Capabilities.Bounding, name)
	}
	none := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	for _, s := range []*specs.Spec{every, none} {
		if _, err := loadSeccompProfile(profile, s); err != nil {
			return err
		}
	}
	return nil
}

// loadSeccompProfile resolves a profile in Docker's format with
// moby/profiles/seccomp, the library that builds the default profile, and
// checks the result as libcontainer does when the container's init loads
// it.
func loadSeccompProfile(profile string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	rs := s
	if s.Process == nil || s.Process.Capabilities == nil {
		// The library reads the bounding set of a rule that names
		// capabilities; a spec without capabilities has none.
		rs = &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	}
	p, err := seccomp.LoadProfile(profile, rs)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if err := checkLinuxSeccomp(p); err != nil {
		return nil, invalid("%v", err)
	}
	return p, nil
}

// checkLinuxSeccomp refuses what libcontainer would refuse only in the
// container's init, in libcontainer's (and libseccomp's) words: unknown
// actions, architectures, comparisons and flags (specconv), SCMP_ACT_NOTIFY
// where it cannot work, a rule without a syscall name, an argument index
// past the sixth.
func checkLinuxSeccomp(p *specs.LinuxSeccomp) error {
	c, err := specconv.SetupSeccomp(p)
	if err != nil || c == nil {
		return err
	}
	notify := c.DefaultAction == configs.Notify
	if notify {
		return fmt.Errorf("SCMP_ACT_NOTIFY cannot be used as default action")
	}
	for _, call := range c.Syscalls {
		if call.Name == "" {
			return fmt.Errorf("empty string is not a valid syscall")
		}
		if call.Action == configs.Notify {
			if call.Name == "write" {
				return fmt.Errorf("SCMP_ACT_NOTIFY cannot be used for the write syscall")
			}
			notify = true
		}
		for _, a := range call.Args {
			if a.Index > 5 {
				return fmt.Errorf("error creating seccomp syscall condition for syscall %s: syscalls only have up to 6 arguments (%d given)", call.Name, a.Index)
			}
		}
	}
	if notify && c.ListenerPath == "" {
		return fmt.Errorf("seccomp listenerPath is not set")
	}
	return nil
}
