package daemon

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

// checkSeccomp checks a --security-opt seccomp= value: a profile of the
// container's own needs seccomp in the kernel (dockerd's words when it has
// none) and must be one libcontainer can load.
func checkSeccomp(profile string) error {
	switch profile {
	case "", runtime.SeccompUnconfined, runtime.SeccompBuiltin:
		return nil
	}
	if !seccompEnabled() {
		return invalid("seccomp is not enabled in your kernel, cannot run a custom seccomp profile")
	}
	return runtime.CheckSeccompProfile(profile)
}

// appArmorEnabled says whether the host enforces AppArmor, as dockerd's
// check: the module's parameter says Y and securityfs shows it. A variable
// for tests.
var appArmorEnabled = func() bool {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
		return false
	}
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

// checkAppArmor refuses an AppArmor profile on a host that enforces
// AppArmor: dockerd would confine the container with it, hull cannot.
// Without AppArmor dockerd ignores the option, and so does hull; "unconfined"
// asks for what hull gives anyway.
func checkAppArmor(profile string) error {
	if profile == "" || profile == "unconfined" || !appArmorEnabled() {
		return nil
	}
	return fmt.Errorf("--security-opt apparmor=%s: hull applies no AppArmor profile, and this host enforces AppArmor: %w", profile, errdefs.ErrNotImplemented)
}

// ipcSysctls are the kernel.* sysctls of the IPC namespace (with the
// fs.mqueue.* family), as runc's validator lists them.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// validateSysctls refuses at create the --sysctl settings that dockerd
// takes at create and that runc then refuses at start (500): only sysctls
// of a namespace the container has of its own, in runc's words as dockerd
// shows them — IPC ones not with --ipc host, net.* not with --network host,
// kernel.domainname only with a UTS namespace of its own, kernel.hostname
// never (the container's hostname is its own field), nothing else (vm.*,
// fs.* but mqueue, user.*: hull gives no container a user namespace). A
// container that joins another's network namespace is checked when it
// starts, where that namespace is known (checkPeerSysctls).
func validateSysctls(h *container.HostConfig) error {
	for _, key := range slices.Sorted(maps.Keys(h.Sysctls)) {
		s := sysctlDots(key)
		switch {
		case ipcSysctls[s] || strings.HasPrefix(s, "fs.mqueue."):
			if h.IpcMode.IsHost() {
				return invalid("sysctl %q is not allowed in the hosts ipc namespace", s)
			}
		case strings.HasPrefix(s, "net."):
			if h.NetworkMode.IsHost() {
				return invalid("sysctl %q not allowed in host network namespace", s)
			}
		case s == "kernel.domainname" && !h.UTSMode.IsHost():
		case s == "kernel.hostname" && !h.UTSMode.IsHost():
			return invalid("sysctl %q is not allowed as it conflicts with the OCI %q field", s, "hostname")
		default:
			return invalid("sysctl %q is not in a separate kernel namespace", s)
		}
	}
	return nil
}

// fitOOMScoreAdj answers an OOM score adjustment this host cannot give as
// dockerd answers a limit the host cannot apply: a warning, and the
// setting that applies instead in the container's HostConfig. A process
// without CAP_SYS_RESOURCE cannot lower a child's oom_score_adj below its
// own (dockerd on such a host fails the start with a 500; hull's runtime
// would raise it quietly).
func fitOOMScoreAdj(h *container.HostConfig) []string {
	floor, limited := runtime.OOMScoreAdjFloor()
	if !limited || h.OomScoreAdj >= floor {
		return nil
	}
	w := fmt.Sprintf("Your daemon cannot lower the OOM score adjustment below its own (%d) without CAP_SYS_RESOURCE. OOM score adjustment set to %d.", floor, floor)
	h.OomScoreAdj = floor
	return []string{w}
}
