package daemon

import (
	"errors"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestParseSecurityOpts(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want securityOpts
		err  string
	}{
		{opts: []string{"no-new-privileges"}, want: securityOpts{noNewPrivileges: true}},
		{opts: []string{"no-new-privileges=1"}, want: securityOpts{noNewPrivileges: true}},
		{opts: []string{"no-new-privileges:true"}, want: securityOpts{noNewPrivileges: true}},
		{opts: []string{"no-new-privileges", "no-new-privileges=false"}, want: securityOpts{}},
		{opts: []string{"seccomp=unconfined"}, want: securityOpts{seccomp: "unconfined"}},
		{opts: []string{"seccomp:unconfined"}, want: securityOpts{seccomp: "unconfined"}},
		// The value is everything after the first "=": a profile may hold
		// both separators.
		{opts: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","x":"a=b"}`}, want: securityOpts{seccomp: `{"defaultAction":"SCMP_ACT_ALLOW","x":"a=b"}`}},
		{opts: []string{"apparmor=x", "label=disable", "disable"}, want: securityOpts{apparmor: "x"}},
		{opts: []string{"bogus"}, err: `invalid --security-opt 1: "bogus"`},
		{opts: []string{"foo=bar"}, err: `invalid --security-opt 2: "foo=bar"`},
		{opts: []string{"systempaths=unconfined"}, err: `invalid --security-opt 2: "systempaths=unconfined"`},
		{opts: []string{"no-new-privileges=maybe"}, err: `invalid --security-opt 2: "no-new-privileges=maybe"`},
	} {
		got, err := parseSecurityOpts(tc.opts)
		if tc.err != "" {
			if err == nil || !errors.Is(err, errdefs.ErrInvalidArgument) || errdefs.Message(err) != tc.err {
				t.Errorf("%q: error %v, want %q (invalid argument)", tc.opts, err, tc.err)
			}
			continue
		}
		got.label = nil
		if err != nil || got.noNewPrivileges != tc.want.noNewPrivileges || got.seccomp != tc.want.seccomp || got.apparmor != tc.want.apparmor {
			t.Errorf("%q: %+v, %v; want %+v", tc.opts, got, err, tc.want)
		}
	}
}

func TestValidateSysctls(t *testing.T) {
	for _, tc := range []struct {
		h   container.HostConfig
		err string
	}{
		{h: container.HostConfig{Sysctls: map[string]string{"kernel.shmmax": "1", "fs.mqueue.msg_max": "20", "net.ipv4.ip_forward": "1", "kernel.domainname": "x"}}},
		{h: container.HostConfig{Sysctls: map[string]string{"kernel/shmmax": "1"}}},
		{h: container.HostConfig{NetworkMode: "container:other", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}},
		{h: container.HostConfig{Sysctls: map[string]string{"vm.swappiness": "1"}}, err: `sysctl "vm.swappiness" is not in a separate kernel namespace`},
		{h: container.HostConfig{Sysctls: map[string]string{"fs.file-max": "1"}}, err: `sysctl "fs.file-max" is not in a separate kernel namespace`},
		{h: container.HostConfig{Sysctls: map[string]string{"user.max_user_namespaces": "1"}}, err: `sysctl "user.max_user_namespaces" is not in a separate kernel namespace`},
		{h: container.HostConfig{Sysctls: map[string]string{"kernel.hostname": "x"}}, err: `sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`},
		{h: container.HostConfig{UTSMode: "host", Sysctls: map[string]string{"kernel.domainname": "x"}}, err: `sysctl "kernel.domainname" is not in a separate kernel namespace`},
		{h: container.HostConfig{IpcMode: "host", Sysctls: map[string]string{"kernel/shmmax": "1"}}, err: `sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace`},
		{h: container.HostConfig{NetworkMode: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}, err: `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
	} {
		err := validateSysctls(&tc.h)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || errdefs.Message(err) != tc.err || !errors.Is(err, errdefs.ErrInvalidArgument)) {
			t.Errorf("%v (network %q, ipc %q, uts %q): %v, want %q", tc.h.Sysctls, tc.h.NetworkMode, tc.h.IpcMode, tc.h.UTSMode, err, tc.err)
		}
	}
}

func TestCheckAppArmor(t *testing.T) {
	saved := appArmorEnabled
	t.Cleanup(func() { appArmorEnabled = saved })
	appArmorEnabled = func() bool { return false }
	if err := checkAppArmor("my-profile"); err != nil {
		t.Errorf("without AppArmor: %v", err)
	}
	appArmorEnabled = func() bool { return true }
	if err := checkAppArmor("my-profile"); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("with AppArmor: %v, want not implemented", err)
	}
	for _, p := range []string{"", "unconfined"} {
		if err := checkAppArmor(p); err != nil {
			t.Errorf("with AppArmor, %q: %v", p, err)
		}
	}
}
