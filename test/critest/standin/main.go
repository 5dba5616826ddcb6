// Command standin plays, in critest's test images, the programs those
// images ship (critest v1.34.0 pulls them from registry.k8s.io and gcr.io;
// test/critest/images builds them locally). It is one static binary that
// acts by the name it is run as:
//
//   - nginx [-port N]: an HTTP server (port 80 by default) that writes its
//     pid to /var/run/nginx.pid and shows "nginx: master process" in its
//     command line, as nginx does — critest reads that file, looks for
//     the process with `pidof nginx` and for that title in /proc/1/cmdline;
//   - httpd [-port N]: the same server, whose first line on stderr names
//     httpd, as Apache's does (critest looks for "httpd" in its log);
//   - nnp: prints "Effective uid: N" — installed set-user-ID root, it shows
//     whether no_new_privs kept the set-user-ID bit from working;
//   - pause: waits for SIGTERM or SIGINT and exits 0 (a pod's sandbox
//     process for runtimes that run a pause image);
//   - pgrep PATTERN and ipcs -m: the two applets critest runs that
//     Debian's busybox-static lacks (the pids of the processes whose name
//     matches; the System V shared memory segments of the IPC namespace).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	name := filepath.Base(os.Args[0])
	if strings.HasPrefix(os.Args[0], masterTitle) {
		name = "nginx"
	}
	if name == "standin" && len(os.Args) > 1 {
		name, os.Args = os.Args[1], os.Args[1:]
	}
	var err error
	switch name {
	case "nginx", "httpd":
		err = serve(name, os.Args[1:])
	case "nnp":
		fmt.Printf("Effective uid: %d\n", os.Geteuid())
	case "pgrep":
		err = pgrep(os.Args[1:])
	case "ipcs":
		err = ipcs()
	case "pause":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
	default:
		err = fmt.Errorf("standin: unknown program %q (nginx, httpd, nnp, pause, pgrep, ipcs)", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// masterTitle starts the command line of nginx's master process.
const masterTitle = "nginx: master process"

// serve answers every GET with a small page, on all addresses at port.
func serve(name string, args []string) error {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	port := fl.Int("port", 80, "the port to listen on")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if name == "nginx" && !strings.HasPrefix(os.Args[0], masterTitle) {
		// nginx's master process retitles itself; a process's title
		// is its argv[0], set by exec.
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		title := masterTitle + " " + strings.Join(os.Args, " ")
		return syscall.Exec(exe, append([]string{title}, args...), os.Environ())
	}
	if name == "nginx" {
		if err := os.MkdirAll("/var/run", 0o755); err != nil {
			return err
		}
		if err := os.WriteFile("/var/run/nginx.pid", []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "%s: serving HTTP on port %d\n", name, *port)
	page := fmt.Sprintf("<html><body><h1>Welcome to %s (hull's critest stand-in)</h1></body></html>\n", name)
	return http.ListenAndServe(":"+strconv.Itoa(*port), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	}))
}

// pgrep prints the pids of the processes (but itself) whose name matches
// the regular expression pattern; exit status 1 when none does.
func pgrep(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: pgrep PATTERN")
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		return err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	found := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		if re.MatchString(strings.TrimSuffix(string(comm), "\n")) {
			fmt.Println(pid)
			found = true
		}
	}
	if !found {
		os.Exit(1)
	}
	return nil
}

// ipcs lists the System V shared memory segments of the IPC namespace
// (/proc/sysvipc/shm) as util-linux's `ipcs -m` does.
func ipcs() error {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return err
	}
	fmt.Printf("\n------ Shared Memory Segments --------\n%-10s %-10s %-10s %-10s %-10s %-10s\n", "key", "shmid", "owner", "perms", "bytes", "nattch")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines[1:] {
		// key shmid perms size cpid lpid nattch uid gid …
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		key, _ := strconv.ParseInt(f[0], 10, 64)
		perms, _ := strconv.ParseInt(f[2], 10, 64)
		fmt.Printf("0x%08x %-10s %-10s %-10o %-10s %-10s\n", uint32(key), f[1], f[7], perms&0o777, f[3], f[6])
	}
	fmt.Println()
	return nil
}
