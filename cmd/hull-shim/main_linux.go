// Command hull-shim is the per-container monitor of hull's compute service
// and, re-executed by libcontainer as `hull-shim init`, the container's
// init. It imports only internal/runtime (and libcontainer's nsenter), so
// that every container start pays for as little Go initialisation as
// possible.
package main

import (
	"os"
	goruntime "runtime"

	// nsenter's constructor joins the namespaces (C, before the Go runtime
	// starts) when this binary runs as the container's init; it does
	// nothing otherwise. libcontainer's init needs it linked in.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/hullproject/hull/internal/runtime"
)

// The shim forks every process of its container from the main goroutine,
// which must keep its thread for the shim's life (see the shim's onMain).
func init() { goruntime.LockOSThread() }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.Init() // does not return
	}
	if len(os.Args) > 1 && os.Args[1] == "pause" {
		pause() // does not return
	}
	os.Exit(runtime.ShimMain(os.Args[1:]))
}
