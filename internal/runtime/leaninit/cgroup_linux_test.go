package leaninit

import (
	"reflect"
	"testing"

	"github.com/opencontainers/cgroups"
)

// TestCgroupV1MountsAsLibcontainer: the hierarchies the init binds into a
// container's /sys/fs/cgroup, and its own cgroup in each, are the ones
// opencontainers/cgroups gives libcontainer's init on this host.
func TestCgroupV1MountsAsLibcontainer(t *testing.T) {
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("a cgroup v2 host: the lean init takes no cgroup mount there")
	}
	want, err := cgroups.GetCgroupMounts(false)
	if err != nil {
		t.Fatal(err)
	}
	wantOwn, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	got, own, err := cgroupV1Mounts()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(own, wantOwn) {
		t.Errorf("own cgroups %v, want %v", own, wantOwn)
	}
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%d hierarchies, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Mountpoint != w.Mountpoint || g.Root != w.Root || !reflect.DeepEqual(g.Subsystems, w.Subsystems) {
			t.Errorf("hierarchy %d: %+v, want %+v", i, g, w)
		}
		gd, gerr := g.ownCgroup(own)
		wd, werr := w.GetOwnCgroup(wantOwn)
		if gd != wd || (gerr == nil) != (werr == nil) {
			t.Errorf("hierarchy %s: own cgroup %q (%v), want %q (%v)", w.Mountpoint, gd, gerr, wd, werr)
		}
	}
	t.Logf("%d hierarchies, e.g. %+v", len(got), got[0])
}
