// Command loader stands in for hull's own container init in the package's
// tests: a CGO_ENABLED=0 program that loads a seccomp program file with
// seccompprog's Load, on its main thread.
//
//	loader spin FILE
//	    print "tid N", load, then spin without a system call (signals
//	    blocked), so that the test can read the filter with ptrace
//	    whatever the profile allows
//	loader probe FILE PROBES
//	    run each probe (JSON [[nr, a0, ..., a5], ...]) before and after
//	    loading, print {"tid":N,"before":[errno...],"after":[errno...]}
//	    (0 for success), then wait for stdin to close
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/hullproject/hull/internal/runtime/seccompprog"
	"golang.org/x/sys/unix"
)

// The main goroutine runs on the main thread, whose tid is the pid.
func init() { runtime.LockOSThread() }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loader:", err)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: loader spin|probe FILE [PROBES]"))
	}
	p, err := seccompprog.ReadProgramFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	// No collection may stop this goroutine once the filter is in.
	debug.SetGCPercent(-1)
	switch os.Args[1] {
	case "spin":
		all := unix.Sigset_t{}
		for i := range all.Val {
			all.Val[i] = ^uint64(0)
		}
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
			fail(err)
		}
		fmt.Printf("tid %d\n", unix.Gettid())
		if err := p.Load(); err != nil {
			fail(err)
		}
		for {
		}
	case "probe":
		var probes [][7]uint64
		if len(os.Args) < 4 {
			fail(fmt.Errorf("probe needs PROBES"))
		}
		if err := json.Unmarshal([]byte(os.Args[3]), &probes); err != nil {
			fail(err)
		}
		before := run(probes)
		if err := p.Load(); err != nil {
			fail(err)
		}
		after := run(probes)
		out := struct {
			Tid    int   `json:"tid"`
			Before []int `json:"before"`
			After  []int `json:"after"`
		}{unix.Gettid(), before, after}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			fail(err)
		}
		io.Copy(io.Discard, os.Stdin)
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func run(probes [][7]uint64) []int {
	res := make([]int, len(probes))
	for i, p := range probes {
		_, _, errno := unix.RawSyscall6(uintptr(p[0]), uintptr(p[1]), uintptr(p[2]), uintptr(p[3]),
			uintptr(p[4]), uintptr(p[5]), uintptr(p[6]))
		res[i] = int(errno)
	}
	return res
}
