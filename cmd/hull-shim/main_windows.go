// Command hull-shim is the per-container monitor of hull's compute service.
// On Windows it waits for the HCS backend (issue 7).
package main

import (
	"os"

	"github.com/hullproject/hull/internal/runtime"
)

func main() {
	os.Exit(runtime.ShimMain(os.Args[1:]))
}
