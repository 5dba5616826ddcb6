// Command starttrace runs a bundle's container N times through hull's
// runtime (create, start, wait, delete in one Run) with each init and
// prints the median time from the call to each step of the shim's trace
// and to the end — where a start's time goes, lean init beside
// libcontainer's.
//
//	go run ./bench/starttrace -bundle DIR [-n 20] [-init lean,libcontainer]
//
// hull-shim, hull-monitor and hull-init must be beside the program or on
// PATH (bench/start.sh builds them into bin/).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/runtime"
)

func main() {
	bundle := flag.String("bundle", "", "OCI bundle whose process exits by itself")
	n := flag.Int("n", 20, "runs per init")
	inits := flag.String("init", "lean,libcontainer", "inits to compare, comma-separated")
	shim := flag.String("shim", "", "hull-shim to use (default: beside this program, then PATH)")
	flag.Parse()
	if *bundle == "" {
		fmt.Fprintln(os.Stderr, "starttrace: -bundle is required")
		os.Exit(2)
	}
	root, err := os.MkdirTemp("/var/tmp", "starttrace.")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(root)
	r := runtime.New(filepath.Join(root, "state"))
	modes := strings.Split(*inits, ",")
	type sample map[string]time.Duration
	results := map[string][]sample{}
	var order []string
	for i := range *n {
		for _, mode := range modes {
			s := sample{}
			t0 := time.Now()
			opts := runtime.CreateOptions{Init: mode, ShimPath: *shim, Steps: func(st runtime.TimedStep) {
				name := st.Name
				if strings.HasPrefix(name, "libcontainer init") {
					name = "init ready"
				}
				if name == "lean init" {
					name = "init ready"
				}
				s[name] = st.At.Sub(t0)
				if !slices.Contains(order, name) {
					order = append(order, name)
				}
			}}
			code, err := r.Run(context.Background(), fmt.Sprintf("st%d-%s", i, mode), *bundle, opts, nil)
			if err != nil || code != 0 {
				fmt.Fprintf(os.Stderr, "run %d (%s): exit %d: %v\n", i, mode, code, err)
				os.Exit(1)
			}
			s["exited and deleted"] = time.Since(t0)
			results[mode] = append(results[mode], s)
		}
	}
	order = append(order, "exited and deleted")
	fmt.Printf("%-34s", "median ms since Run was called")
	for _, m := range modes {
		fmt.Printf("%14s", m)
	}
	fmt.Println()
	for _, step := range order {
		fmt.Printf("%-34s", step)
		for _, m := range modes {
			var ds []time.Duration
			for _, s := range results[m] {
				if d, ok := s[step]; ok {
					ds = append(ds, d)
				}
			}
			if len(ds) == 0 {
				fmt.Printf("%14s", "-")
				continue
			}
			slices.Sort(ds)
			fmt.Printf("%14.1f", float64(ds[len(ds)/2].Microseconds())/1000)
		}
		fmt.Println()
	}
}
