//go:build !linux

// Command hull-monitor is the resident part of a Linux container's shim;
// on Windows the compute service is HCS (issue 7).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "hull-monitor runs on Linux only")
	os.Exit(2)
}
