package cri

import (
	"os"
	"slices"
	"testing"
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
