//go:build !linux

package conformance

import (
	"errors"
	"os/exec"
)

// The harness runs on Linux only (dockerd and hull's Linux daemon); these
// keep the package compiling elsewhere.

func createBridge(name, cidr string) error {
	return errors.New("the conformance harness runs on Linux only")
}

func deleteLink(string) {}

func removeHullNetwork(string) {}

func hullBridgeName(string) string { return "" }

func dieWithTest(*exec.Cmd) {}

func removeStaleRuns(func(string)) {}

func keepForwarding() func() { return func() {} }
