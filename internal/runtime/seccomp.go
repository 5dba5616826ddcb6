package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

// The profile names docker's --security-opt seccomp= takes besides a
// profile of its own.
const (
	// SeccompUnconfined runs the container without a seccomp filter.
	SeccompUnconfined = "unconfined"
	// SeccompBuiltin names Docker's default profile, as no profile does.
	SeccompBuiltin = "builtin"
)

// ApplySeccomp sets s.Linux.Seccomp from profile as dockerd's WithSeccomp
// does: "" and "builtin" give Docker's default profile, "unconfined" none,
// anything else is a profile in Docker's JSON format (what the docker CLI
// reads from the file named in --security-opt seccomp=FILE and sends as
// "seccomp=<json>"). Either profile is resolved for this architecture, the
// host's kernel and the capabilities in s.Process.Capabilities.Bounding.
// Preconditions: the capabilities are final. A profile that is not valid is
// refused with errdefs.ErrInvalidArgument in the words dockerd (or runc
// under it) uses. On Windows it does nothing: HCS has no seccomp.
func ApplySeccomp(s *specs.Spec, profile string) error {
	return applySeccompImpl(s, profile)
}

// CheckSeccompProfile checks a profile in Docker's JSON format (not
// "builtin" or "unconfined") before a container is made with it: what
// dockerd refuses only when it starts the container — JSON that does not
// decode, both name and names in a rule, an action, architecture or
// comparison libseccomp does not know, an argument index above 5 — is
// refused here with errdefs.ErrInvalidArgument and the same words. Every
// rule is checked, whatever capabilities, architecture or kernel it is
// meant for. On Windows it checks nothing.
func CheckSeccompProfile(profile string) error {
	return checkSeccompProfileImpl(profile)
}
