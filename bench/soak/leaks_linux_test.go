package soak

import (
	"slices"
	"testing"
)

// TestLeaks: what is kept on purpose counts neither before nor after, a
// count without items (the goroutines) counts whole, and a new item
// beyond the count before is a leak.
func TestLeaks(t *testing.T) {
	fds := func(items ...string) Count { return Count{Kind: "daemon fds", N: len(items), Items: items} }
	goroutines := func(n int) Count { return Count{Kind: "daemon goroutines", N: n} }
	for _, tc := range []struct {
		name          string
		before, after Counts
		want          []string
	}{
		{"a library's handles opened after the count before",
			Counts{fds("3 socket:[1]", "9 /sys/fs/cgroup"+libraryHandle), goroutines(20)},
			Counts{fds("3 socket:[2]", "15 /sys/fs/cgroup"+libraryHandle, "16 / (procfs)"+libraryHandle), goroutines(20)},
			nil},
		{"a handle kept before, gone after, does not hide a new socket",
			Counts{fds("3 socket:[1]", "9 /sys/fs/cgroup"+libraryHandle)},
			Counts{fds("3 socket:[1]", "10 socket:[4]")},
			[]string{"daemon fds: 2 before, 2 after: 10 socket:[4]"}},
		{"more goroutines",
			Counts{goroutines(20)}, Counts{goroutines(21)},
			[]string{"daemon goroutines: 20 before, 21 after: "}},
	} {
		r := &Report{Dir: "/var/tmp/soak", Before: tc.before, After: tc.after}
		if got := r.Leaks(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: leaks %q, want %q", tc.name, got, tc.want)
		}
	}
}
