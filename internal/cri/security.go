package cri

import (
	"fmt"
	"os"
	"strings"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// securityOpts turns a container's security context into the engine's:
// no_new_privs, its seccomp profile, masked and read-only paths.
//
// Seccomp as the CRI has it: no profile is unconfined (kubelet sends
// RuntimeDefault when a pod asks for nothing); RuntimeDefault is the
// engine's default profile; Localhost names a profile file on the node;
// a privileged container runs unconfined whatever it names. The
// deprecated seccomp_profile_path ("unconfined", "runtime/default",
// "docker/default", "localhost/<path>") is read when the field is not set.
func securityOpts(host *container.HostConfig, sc *runtimeapi.LinuxContainerSecurityContext) error {
	if sc.NoNewPrivs {
		host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges")
	}
	profile, err := seccompProfile(sc)
	if err != nil {
		return err
	}
	if sc.Privileged {
		profile = "unconfined"
	}
	if profile != "" {
		host.SecurityOpt = append(host.SecurityOpt, "seccomp="+profile)
	}
	if !sc.Privileged {
		// Empty lists are the runtime's defaults: kubelet sends its
		// own defaults, or none for an unmasked /proc.
		if len(sc.MaskedPaths) > 0 {
			host.MaskedPaths = sc.MaskedPaths
		}
		if len(sc.ReadonlyPaths) > 0 {
			host.ReadonlyPaths = sc.ReadonlyPaths
		}
	}
	return nil
}

// seccompProfile is the engine's seccomp= value for the container: "" for
// the default profile, "unconfined", or a profile's JSON.
func seccompProfile(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	var typ runtimeapi.SecurityProfile_ProfileType
	var ref string
	switch p := sc.GetSeccomp(); {
	case p != nil:
		typ, ref = p.ProfileType, p.LocalhostRef
	case sc.GetSeccompProfilePath() == "" || sc.GetSeccompProfilePath() == "unconfined":
		typ = runtimeapi.SecurityProfile_Unconfined
	case sc.GetSeccompProfilePath() == "runtime/default" || sc.GetSeccompProfilePath() == "docker/default":
		typ = runtimeapi.SecurityProfile_RuntimeDefault
	case strings.HasPrefix(sc.GetSeccompProfilePath(), "localhost/"):
		typ, ref = runtimeapi.SecurityProfile_Localhost, strings.TrimPrefix(sc.GetSeccompProfilePath(), "localhost/")
	default:
		return "", fmt.Errorf("seccomp profile %q: %w", sc.GetSeccompProfilePath(), errdefs.ErrInvalidArgument)
	}
	switch typ {
	case runtimeapi.SecurityProfile_Unconfined:
		return "unconfined", nil
	case runtimeapi.SecurityProfile_RuntimeDefault:
		return "", nil
	case runtimeapi.SecurityProfile_Localhost:
		b, err := os.ReadFile(ref)
		if err != nil {
			return "", fmt.Errorf("seccomp profile %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("seccomp profile type %v: %w", typ, errdefs.ErrInvalidArgument)
}
