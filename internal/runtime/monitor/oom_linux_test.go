package monitor

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOOMKills: the monitor reads the OOM killer's count from the memory
// cgroup libcontainer's state names (memory.events on cgroup v2,
// memory.oom_control on v1), and says it cannot when the state does not
// tell, so that the helper answers.
func TestOOMKills(t *testing.T) {
	root := t.TempDir()
	m := &Monitor{cfg: Config{ID: "c1", Root: root}}
	if _, ok := m.oomKills(); ok {
		t.Errorf("without a state: answered, want the helper to")
	}
	state := filepath.Join(root, "state", "c1")
	cg := t.TempDir()
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(state, "state.json"), `{"id":"c1","cgroup_paths":{"":"`+cg+`","memory":"`+cg+`"}}`)
	if _, ok := m.oomKills(); ok {
		t.Errorf("without the cgroup's file: answered, want the helper to")
	}
	// Both versions' files in the one folder: the host's version picks.
	write(filepath.Join(cg, "memory.events"), "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n")
	write(filepath.Join(cg, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	if n, ok := m.oomKills(); !ok || n != 2 {
		t.Errorf("oomKills: %d %v, want 2", n, ok)
	}
	write(filepath.Join(state, "state.json"), `{"id":"c1","cgroup_paths":{"cpu":"`+cg+`"}}`)
	if _, ok := m.oomKills(); ok {
		t.Errorf("without a memory cgroup: answered, want the helper to")
	}
	// The paths the shim handed over come first; the state is not read.
	withPaths := &Monitor{cfg: Config{ID: "c1", Root: root, CgroupPaths: map[string]string{"": cg, "memory": cg}}}
	if n, ok := withPaths.oomKills(); !ok || n != 2 {
		t.Errorf("oomKills from the handed-over paths: %d %v, want 2", n, ok)
	}
	for _, c := range []struct {
		in string
		n  uint64
		ok bool
	}{
		{"oom_kill_disable 0\nunder_oom 0\noom_kill 7\n", 7, true},
		{"oom_kill_disable 0\nunder_oom 0\n", 0, true}, // before kernel 4.13
		{"oom_kill x\n", 0, false},
		{"oom_kill_disable 3\n", 0, true},
	} {
		if n, ok := counter([]byte(c.in), "oom_kill"); n != c.n || ok != c.ok {
			t.Errorf("counter(%q): %d %v, want %d %v", c.in, n, ok, c.n, c.ok)
		}
	}
}
