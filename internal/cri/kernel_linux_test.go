package cri

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestProcessUser(t *testing.T) {
	u := processUser(os.Getpid())
	if u == nil || u.Linux == nil {
		t.Fatalf("processUser(self) = %v", u)
	}
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, g := range groups {
		want = append(want, int64(g))
	}
	if u.Linux.Uid != int64(os.Getuid()) || u.Linux.Gid != int64(os.Getgid()) || !slices.Equal(u.Linux.SupplementalGroups, want) {
		t.Errorf("processUser(self) = %v, want uid %d gid %d groups %v", u.Linux, os.Getuid(), os.Getgid(), want)
	}
	if processUser(0) != nil || processUser(1<<30) != nil {
		t.Error("processUser of no process answers a user")
	}
}

// TestRecursiveReadOnlyMounts: the probe answers what the kernel has
// (mount_setattr came with Linux 5.12) and leaves no mount behind.
func TestRecursiveReadOnlyMounts(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the probe mounts a tmpfs: root only")
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	want := major > 5 || major == 5 && minor >= 12
	before, _ := os.ReadFile("/proc/self/mountinfo")
	if got := recursiveReadOnlyMounts(); got != want {
		t.Errorf("recursiveReadOnlyMounts() = %v on Linux %d.%d", got, major, minor)
	}
	if after, _ := os.ReadFile("/proc/self/mountinfo"); string(after) != string(before) {
		t.Errorf("the probe changed the process's mounts:\n%s", after)
	}
}
