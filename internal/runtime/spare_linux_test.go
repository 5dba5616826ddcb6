package runtime

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sparePids are the pids of spare shims (`hull-shim spare`) of shimPath.
func sparePids(shimPath string) []string {
	out, _ := exec.Command("pgrep", "-f", "^"+shimPath+" spare$").Output()
	return strings.Fields(string(out))
}

// TestSpareShim: with KeepSpareShim, each create after the first is
// served by the spare started after the previous one, the containers
// work as with a shim of their own, and Close leaves no spare behind.
func TestSpareShim(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, "sh", "-c", "echo spare-ok")
	e.rt.KeepSpareShim()
	defer e.rt.Close()
	shim := e.opts.ShimPath
	var spare string
	for i := range 3 {
		id := newID(t)
		e.create(t, id)
		if i > 0 {
			st, err := e.rt.State(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := strconv.Itoa(st.ShimPID); got != spare {
				t.Errorf("create %d: served by shim %s, want the spare %s", i, got, spare)
			}
		}
		// The spare is refilled in the background after each create.
		var spares []string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if spares = sparePids(shim); len(spares) == 1 {
				break
			}
		}
		if len(spares) != 1 {
			t.Fatalf("create %d: spare shims %v, want one", i, spares)
		}
		spare = spares[0]
		if err := e.rt.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if code, err := e.rt.Wait(ctx, id); err != nil || code != 0 {
			t.Fatalf("create %d: wait = %d, %v", i, code, err)
		}
		if err := e.rt.Delete(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}
	e.rt.Close()
	for deadline := time.Now().Add(5 * time.Second); len(sparePids(shim)) > 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if left := sparePids(shim); len(left) > 0 {
		t.Errorf("spare shims left after Close: %v", left)
	}
}
