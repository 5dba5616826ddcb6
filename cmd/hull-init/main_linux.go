// Command hull-init is the first process of a container that hull's shim
// creates on its lean path: it builds the container's root and
// credentials (internal/runtime/leaninit) and executes the container's
// program. It is small and free of cgo on purpose — it starts once per
// container — and the shim runs it from a sealed copy, never from this
// file on disk.
package main

import (
	goruntime "runtime"

	"github.com/hullproject/hull/internal/runtime/leaninit"
	"github.com/hullproject/hull/internal/runtime/seccompprog"
)

// Everything that belongs to the container's process — namespaces joined,
// credentials, capabilities, the seccomp filter — is set on the main
// thread, which then executes the program.
func init() { goruntime.LockOSThread() }

func main() {
	leaninit.ReadSeccomp = func(path string) (func() error, error) {
		p, err := seccompprog.ReadProgramFile(path)
		if err != nil {
			return nil, err
		}
		return p.Load, nil
	}
	leaninit.Main()
}
