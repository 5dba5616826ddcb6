// Command soak runs the soak of bench/soak against a private hull daemon
// and prints what the daemon held before and after, and its RSS. It exits
// 1 when something leaked, an operation failed or the RSS did not come
// back near idle. bench/soak.sh builds and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hullproject/hull/bench/soak"
)

func main() {
	hull := flag.String("hull", "bin/hull", "the hull binary (hull-shim and hull-monitor beside it)")
	dir := flag.String("dir", "", "an empty folder for the daemon's roots (made under /var/tmp when empty)")
	image := flag.String("image", "", "a tar of a busybox root file system")
	n := flag.Int("n", 300, "containers")
	c := flag.Int("c", 16, "concurrency")
	restarts := flag.String("restarts", "stop,kill,kill-busy", "daemon restarts between equal parts of the run, comma separated: stop (SIGINT), kill (SIGKILL) or kill-busy (SIGKILL halfway through the next part, containers in flight)")
	settle := flag.Duration("settle", 10*time.Second, "how long the daemon idles before its RSS is read")
	flag.Parse()
	log.SetFlags(log.Ltime)
	img, err := os.ReadFile(*image)
	if err != nil {
		log.Fatal(err)
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("/var/tmp", "hull-soak"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(*dir)
	}
	var rs []string
	for _, r := range strings.Split(*restarts, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if r != "stop" && r != "kill" && r != "kill-busy" {
			log.Fatalf("-restarts: %q is not stop, kill or kill-busy", r)
		}
		rs = append(rs, r)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	log.Printf("soak: %d containers, %d at a time, restarts %v, in %s", *n, *c, rs, *dir)
	rep, err := soak.Run(ctx, soak.Config{Hull: *hull, Dir: *dir, Image: img, Count: *n, Concurrency: *c, Restarts: rs, Settle: *settle, Logf: log.Printf})
	if rep != nil {
		fmt.Println()
		rep.Print(os.Stdout)
	}
	if err != nil {
		log.Printf("soak: %v", err)
		os.Exit(1)
	}
	bad := false
	for _, l := range rep.Leaks() {
		fmt.Println("LEAK", l)
		bad = true
	}
	if err := rep.CheckRSS(); err != nil {
		fmt.Println("RSS:", err)
		bad = true
	}
	if len(rep.Errors) > 0 || bad {
		os.Exit(1)
	}
	fmt.Println("soak: nothing leaked, every operation succeeded, RSS back near idle")
}
