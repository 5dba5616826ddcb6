package monitor

import (
	"os/exec"
	"slices"
	"testing"
)

// TestChildren: every child of the process is listed, whichever of its
// threads forked it, and an exited, reaped one no longer is.
func TestChildren(t *testing.T) {
	var cmds []*exec.Cmd
	for range 3 {
		cmd := exec.Command("sleep", "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		cmds = append(cmds, cmd)
	}
	got := children()
	for _, c := range cmds {
		if !slices.Contains(got, c.Process.Pid) {
			t.Errorf("children() = %v, without %d", got, c.Process.Pid)
		}
	}
	cmds[0].Process.Kill()
	cmds[0].Wait()
	if got := children(); slices.Contains(got, cmds[0].Process.Pid) {
		t.Errorf("children() = %v, still with the reaped %d", got, cmds[0].Process.Pid)
	}
}
