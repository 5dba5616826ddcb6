package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// pause is a pod's infra process (`/hull-infra pause` in the infra image
// the daemon makes from this binary): it holds the pod's namespaces, reaps
// the orphans of a shared pid namespace, and exits at SIGTERM or SIGINT.
func pause() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	for s := range sigs {
		if s != unix.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws unix.WaitStatus
			if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
