// Command hull-monitor is what a container's shim becomes once the
// container is created: hull-shim execs it, handing over the shim's socket
// and the container's streams, so that what stays resident beside every
// container is a small program without libcontainer (see package
// internal/runtime/monitor). It is not meant to be run by hand.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"

	"github.com/hullproject/hull/internal/runtime/monitor"
)

// The main goroutine keeps the main thread, the one the container's init
// was forked from: its parent death signal follows that thread.
func init() { goruntime.LockOSThread() }

func main() {
	// The heap is small and mostly buffers of finished requests: collect
	// at a quarter over the live heap (the default waits for 4 MB).
	debug.SetGCPercent(25)
	// One container's streams, requests and relays need no parallelism;
	// each P more costs the threads and caches that serve it.
	goruntime.GOMAXPROCS(1)
	config := flag.String("config", "", "the monitor's configuration (JSON), from hull-shim")
	flag.Parse()
	var cfg monitor.Config
	if err := json.Unmarshal([]byte(*config), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "hull-monitor: bad --config:", err)
		os.Exit(2)
	}
	fail := func(err error) {
		if cfg.Pending != nil {
			monitor.AbandonCreate(cfg, err)
		}
		fmt.Fprintln(os.Stderr, "hull-monitor:", err)
		os.Exit(1)
	}
	files, err := monitor.Adopt(cfg.Fds)
	if err != nil {
		fail(err)
	}
	m, err := monitor.New(cfg, files, monitor.HelperBackend{Path: cfg.Helper, Root: cfg.Root, ID: cfg.ID})
	if err != nil {
		fail(err)
	}
	// A create handed over unfinished: the init was still setting itself
	// up when the shim exec'd this program. The monitor made itself ready
	// to serve meanwhile: the caller's attach and start, which follow the
	// answer at once, find it serving.
	if cfg.Pending != nil {
		if !monitor.FinishCreate(cfg) {
			os.Exit(1)
		}
		m.Created()
	}
	// Every child it waits for itself is the init or a helper: the others
	// are orphans it adopted as a subreaper.
	monitor.ReapOrphans(cfg.Record.Pid)
	os.Exit(m.Run(nil))
}
