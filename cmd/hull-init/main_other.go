//go:build !linux

// Command hull-init is the Linux container init of hull's lean start path;
// it has no use on other systems.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "hull-init: Linux only")
	os.Exit(2)
}
