package monitor

import (
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDispositionOf reads what a shell does with signals it traps,
// ignores and leaves alone.
func TestDispositionOf(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" USR1; trap "exit 3" USR2; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := dispositionOf(pid, unix.SIGUSR2)
		if err != nil {
			t.Fatal(err)
		}
		if d == sigCaught {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGUSR2 not caught by the shell: %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for sig, want := range map[unix.Signal]disposition{unix.SIGUSR1: sigIgnored, unix.SIGTERM: sigDefault, unix.SIGUSR2: sigCaught} {
		if d, err := dispositionOf(pid, sig); err != nil || d != want {
			t.Errorf("%v: %v %v, want %v", sig, d, err, want)
		}
	}
	if _, err := dispositionOf(1<<30, unix.SIGTERM); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}
