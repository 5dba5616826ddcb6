package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// TestAttachLogsStreamWhole attaches with logs and stream, again and
// again, to a container that writes numbered lines without pause (each in
// two writes, so that attaches land inside lines too): every attach must
// get 1, 2, 3… with no line lost between the log's replay and the live
// streams, and none twice.
func TestAttachLogsStreamWhole(t *testing.T) {
	_, _, cli := lifecycleDaemon(t)
	id, _ := startNow(t, cli, "sh", "-c", `i=0; while :; do i=$((i+1)); echo -n $i; echo; echo -n e$i >&2; echo >&2; usleep 500; done`)
	if id == "" {
		return
	}
	ctx := context.Background()
	for n := 0; n < 15; n++ {
		time.Sleep(time.Duration(n%5) * 7 * time.Millisecond)
		att, err := cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Logs: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		done := make(chan struct{})
		go func() { stdcopy.StdCopy(&stdout, &stderr, att.Reader); close(done) }()
		time.Sleep(150 * time.Millisecond)
		att.Close()
		<-done
		for _, s := range []struct{ name, prefix, got string }{{"stdout", "", stdout.String()}, {"stderr", "e", stderr.String()}} {
			if err := consecutive(s.got, s.prefix); err != nil {
				t.Errorf("attach %d, %s: %v", n, s.name, err)
			}
		}
	}
}

// consecutive checks that out's whole lines are prefix1, prefix2, … (a
// last line cut off by the detach is left out).
func consecutive(out, prefix string) error {
	lines := strings.Split(out, "\n")
	lines = lines[:len(lines)-1]
	if len(lines) < 2 {
		return fmt.Errorf("only %d lines: %q", len(lines), out)
	}
	for i, l := range lines {
		if l != prefix+strconv.Itoa(i+1) {
			lo, hi := max(0, i-2), min(len(lines), i+3)
			return fmt.Errorf("line %d is %q, want %q (lines %d to %d: %q)", i+1, l, prefix+strconv.Itoa(i+1), lo+1, hi, lines[lo:hi])
		}
	}
	return nil
}

// TestForegroundShimInProcess: a one-off container run in the foreground
// (--rm, its client attached, waiting on the start) is served by its
// hull-shim for its whole life, without the exec of hull-monitor on the
// start's path; a detached one, or one that stays, gets the small resident
// hull-monitor.
func TestForegroundShimInProcess(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	shimOf := func(name string) string {
		t.Helper()
		for range 100 {
			// Not there yet until the client's create is answered.
			out, _, _ := dockerRun(t, env, "", "inspect", "-f", "{{.State.Pid}}", name)
			pid := strings.TrimSpace(out)
			if pid != "" && pid != "0" {
				stat, err := os.ReadFile("/proc/" + pid + "/stat")
				if err == nil {
					// comm may hold spaces: the fields after its ')'.
					f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
					comm, err := os.ReadFile("/proc/" + f[1] + "/comm")
					if err == nil {
						return strings.TrimSpace(string(comm))
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: no running init", name)
		return ""
	}
	fg := exec.Command("docker", "run", "--rm", "--name", "fg", "e2e/busybox:1", "sh", "-c", "sleep 2; echo done; exit 4")
	fg.Env = env
	var out bytes.Buffer
	fg.Stdout = &out
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	if got := shimOf("fg"); got != "hull-shim" {
		t.Errorf("the foreground container's shim is %q, want hull-shim", got)
	}
	err := fg.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 || out.String() != "done\n" {
		t.Errorf("docker run: %v, output %q", err, out.String())
	}
	docker(t, env, "run", "-d", "--name", "bg", "e2e/busybox:1", "sleep", "30")
	if got := shimOf("bg"); got != "hull-monitor" {
		t.Errorf("the detached container's shim is %q, want hull-monitor", got)
	}
	docker(t, env, "rm", "-f", "bg")
	kept := exec.Command("docker", "run", "--name", "kept", "e2e/busybox:1", "sleep", "2")
	kept.Env = env
	if err := kept.Start(); err != nil {
		t.Fatal(err)
	}
	if got := shimOf("kept"); got != "hull-monitor" {
		t.Errorf("the shim of a foreground container without --rm is %q, want hull-monitor", got)
	}
	kept.Wait()
	docker(t, env, "rm", "-f", "kept")
}
