//go:build !linux

package main

// removeDaemonNetwork: a test daemon's network service makes nothing
// outside Linux yet (HNS arrives with issue 7).
func removeDaemonNetwork(string) {}
