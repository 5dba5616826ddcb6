//go:build linux && cgo && seccomp

package seccompbpf

import "github.com/opencontainers/runc/libcontainer/configs"

// Compiles counts the compilations that reached libseccomp.
func Compiles() int64 { return compiles.Load() }

// StubLen is the length of the ENOSYS stub Compile puts before
// libseccomp's program for c.
func StubLen(c *configs.Seccomp) (int, error) {
	if !needsStub(c) {
		return 0, nil
	}
	archs, native, err := stubArchs(c)
	if err != nil {
		return 0, err
	}
	stub, err := enosysStub(archs, native)
	return len(stub), err
}
