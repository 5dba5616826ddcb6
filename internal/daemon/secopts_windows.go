package daemon

// checkSeccomp: dockerd on Windows takes any seccomp option and applies
// none; so does hull.
func checkSeccomp(string) error { return nil }

// checkAppArmor: Windows has no AppArmor; dockerd there ignores the option.
func checkAppArmor(string) error { return nil }
