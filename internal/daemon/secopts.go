package daemon

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/runtime"
)

// securityOpts are a container's --security-opt options as dockerd's
// parseSecurityOpt reads them. A later option of a kind overrides an
// earlier one.
type securityOpts struct {
	noNewPrivileges bool
	// seccomp is "" (the default profile), "unconfined", "builtin", or a
	// profile in Docker's JSON format.
	seccomp string
	// apparmor and label are kept as given: hull applies neither (see
	// checkSecurityOpts).
	apparmor string
	label    []string
}

// parseSecurityOpts is dockerd's parseSecurityOpt: each option is
// no-new-privileges, disable, or KEY=VALUE (KEY:VALUE, deprecated, when the
// option has no "=") of label, apparmor, seccomp, no-new-privileges, in
// dockerd's words when it is none of them. (systempaths=unconfined is the
// docker CLI's: it sends empty MaskedPaths and ReadonlyPaths instead.)
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var so securityOpts
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			so.noNewPrivileges = true
			continue
		}
		if opt == "disable" {
			so.label = append(so.label, "disable")
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return so, invalid("invalid --security-opt 1: %q", opt)
		}
		switch k {
		case "label":
			so.label = append(so.label, v)
		case "apparmor":
			so.apparmor = v
		case "seccomp":
			so.seccomp = v
		case "no-new-privileges":
			nnp, err := strconv.ParseBool(v)
			if err != nil {
				return so, invalid("invalid --security-opt 2: %q", opt)
			}
			so.noNewPrivileges = nnp
		default:
			return so, invalid("invalid --security-opt 2: %q", opt)
		}
	}
	return so, nil
}

// checkSecurityOpts checks a container's --security-opt at create, as
// dockerd does at create (the options' form) and at start (the seccomp
// profile: dockerd 20.10 takes a profile that does not decode at create and
// answers 500 at start; hull refuses it with 400 before the container is
// made). dockerd 20.10 answers 500 for a malformed option; hull 400, in the
// same words. hull applies no AppArmor profile and no SELinux label: it
// takes apparmor= as dockerd does on a host without AppArmor (which
// ignores it) and refuses a profile on a host with AppArmor, where dockerd
// would apply it (checkAppArmor); it takes label= as dockerd does without
// --selinux-enabled (its default), which gives no label.
func checkSecurityOpts(opts []string) error {
	so, err := parseSecurityOpts(opts)
	if err != nil {
		return err
	}
	if err := checkAppArmor(so.apparmor); err != nil {
		return err
	}
	return checkSeccomp(so.seccomp)
}

// applySeccomp sets the container's seccomp filter as dockerd's WithSeccomp
// does (moby's, which applies a profile a privileged container names):
// Docker's default profile or the container's own, resolved against the
// final capabilities, so that --cap-add SYS_ADMIN allows the mount family
// as it does with dockerd; none for seccomp=unconfined, nor for a
// privileged container that names no profile.
// Preconditions: applyHost ran.
func applySeccomp(s *specs.Spec, h *container.HostConfig, profile string) error {
	if profile == runtime.SeccompUnconfined || h.Privileged && profile == "" {
		return nil
	}
	return runtime.ApplySeccomp(s, profile)
}

// checkPeerSysctls refuses, when the container starts, a --sysctl net.* of
// a container that joins the network namespace of a container on the host's
// network, in runc's words: it would set the host's (dockerd answers 500
// from runc; hull 400).
func checkPeerSysctls(h *container.HostConfig, peer *record) error {
	if peer == nil || peer.HostConfig == nil || !peer.HostConfig.NetworkMode.IsHost() {
		return nil
	}
	for _, key := range slices.Sorted(maps.Keys(h.Sysctls)) {
		if s := sysctlDots(key); strings.HasPrefix(s, "net.") {
			return invalid("sysctl %q not allowed in host network namespace", s)
		}
	}
	return nil
}

// sysctlDots writes a sysctl named with slashes ("kernel/shmmax", as
// sysctl(8) also takes it) with dots, as runc reads it: only when its
// first separator is a slash, and then with dots and slashes swapped.
func sysctlDots(key string) string {
	i := strings.IndexAny(key, "./")
	if i < 0 || key[i] == '.' {
		return key
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}
