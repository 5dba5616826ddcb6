package daemon

import "testing"

// TestIsBuildSandbox: the builder's private route releases build
// sandboxes only, never a container's compartment.
func TestIsBuildSandbox(t *testing.T) {
	for id, want := range map[string]bool{
		"build-0123456789abcdef0123456789abcdef":                                true,
		"build-0123456789ABCDEF0123456789abcdef":                                false, // not as the daemon names them
		"build-0123456789abcdef0123456789abcde":                                 false,
		"build-0123456789abcdef0123456789abcdef0":                               false,
		"build-0123456789abcdef0123456789abcdeg":                                false,
		"0123456789abcdef0123456789abcdef01234567":                              false,
		"c0ffee" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789": false,
		"build-../../etc/passwd":                                                false,
		"":                                                                      false,
	} {
		if got := isBuildSandbox(id); got != want {
			t.Errorf("isBuildSandbox(%q) = %v, want %v", id, got, want)
		}
	}
}
