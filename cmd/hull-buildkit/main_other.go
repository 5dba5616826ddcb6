//go:build !linux

// Command hull-buildkit is hull's image builder (BuildKit); hull builds on
// Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "hull-buildkit runs on Linux only")
	os.Exit(2)
}
