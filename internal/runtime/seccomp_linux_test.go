package runtime

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestCheckSeccompProfile(t *testing.T) {
	rule := func(r string) string { return `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[` + r + `]}` }
	for _, tc := range []struct{ profile, err string }{
		{rule(`{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}`), ""},
		{rule(`{"names":["nosuchcall"],"action":"SCMP_ACT_ERRNO"}`), ""}, // unknown to this kernel: ignored, as runc does
		{`{}`, ""}, // no default action and no rules: no filter
		{`{bad`, "Decoding seccomp profile failed: invalid character 'b' looking for beginning of object key string"},
		{`/etc/profile.json`, "Decoding seccomp profile failed: invalid character '/' looking for beginning of value"},
		{`{"defaultAction":"SCMP_ACT_BOGUS"}`, "string SCMP_ACT_BOGUS is not a valid action for seccomp"},
		{`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_BOGUS"]}`, "string SCMP_ARCH_BOGUS is not a valid arch for seccomp"},
		{rule(`{"name":"mkdir","names":["mkdirat"],"action":"SCMP_ACT_ERRNO"}`), "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'"},
		{rule(`{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":1,"op":"SCMP_CMP_BOGUS"}]}`), "string SCMP_CMP_BOGUS is not a valid operator for seccomp"},
		{rule(`{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}`), "error creating seccomp syscall condition for syscall mkdir: syscalls only have up to 6 arguments (7 given)"},
		{rule(`{"names":[""],"action":"SCMP_ACT_ERRNO"}`), "empty string is not a valid syscall"},
		{rule(`{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}`), "seccomp listenerPath is not set"},
		{`{"defaultAction":"SCMP_ACT_NOTIFY"}`, "SCMP_ACT_NOTIFY cannot be used as default action"},
		// A rule only a container with (or without) a capability gets is
		// checked too.
		{rule(`{"names":["mount"],"action":"SCMP_ACT_BOGUS","includes":{"caps":["CAP_SYS_ADMIN"]}}`), "string SCMP_ACT_BOGUS is not a valid action for seccomp"},
		{rule(`{"names":["mount"],"action":"SCMP_ACT_BOGUS","excludes":{"caps":["CAP_SYS_ADMIN"]}}`), "string SCMP_ACT_BOGUS is not a valid action for seccomp"},
	} {
		err := CheckSeccompProfile(tc.profile)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.profile, err)
			}
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) || errdefs.Message(err) != tc.err {
			t.Errorf("%s: %v, want %q (invalid argument)", tc.profile, err, tc.err)
		}
	}
}

// TestApplySeccomp: a profile of the container's own replaces the default
// one, and either is resolved against the spec's final capabilities.
func TestApplySeccomp(t *testing.T) {
	s, err := DefaultSpec(SpecOptions{NoSeccomp: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Linux.Seccomp != nil {
		t.Fatal("NoSeccomp gave a seccomp section")
	}
	if err := ApplySeccomp(s, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},{"names":["mount"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_SYS_ADMIN"]}}]}`); err != nil {
		t.Fatal(err)
	}
	sc := s.Linux.Seccomp
	if sc == nil || sc.DefaultAction != specs.ActAllow || len(sc.Syscalls) != 1 || !slices.Equal(sc.Syscalls[0].Names, []string{"mkdir"}) {
		t.Errorf("own profile: %+v", sc)
	}
	mountAllowed := func() bool {
		for _, r := range s.Linux.Seccomp.Syscalls {
			if r.Action == specs.ActAllow && slices.Contains(r.Names, "mount") {
				return true
			}
		}
		return false
	}
	if err := ApplySeccomp(s, ""); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Seccomp.DefaultAction != specs.ActErrno || mountAllowed() {
		t.Errorf("default profile without CAP_SYS_ADMIN: default %s, mount allowed %v", s.Linux.Seccomp.DefaultAction, mountAllowed())
	}
	s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
	if err := ApplySeccomp(s, SeccompBuiltin); err != nil {
		t.Fatal(err)
	}
	if !mountAllowed() {
		t.Error("default profile with CAP_SYS_ADMIN does not allow mount")
	}
	if err := ApplySeccomp(s, SeccompUnconfined); err != nil || s.Linux.Seccomp != nil {
		t.Errorf("unconfined: %v, %+v", err, s.Linux.Seccomp)
	}
	if err := ApplySeccomp(s, "{bad"); err == nil || !strings.HasPrefix(err.Error(), "Decoding seccomp profile failed") {
		t.Errorf("bad profile: %v", err)
	}
}
