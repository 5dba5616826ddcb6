package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInputs13StartFailuresAre4xx: the inputs that reached the kernel and
// failed the start with a 500 (as in dockerd) are the caller's mistakes:
// negative real-time CPU values and a negative --tmpfs size are refused at
// create, a sysctl value the kernel refuses fails the start with 400; a
// ulimit above the daemon's own hard limit is lowered with a warning in
// the create's answer, never quietly.
func TestInputs13StartFailuresAre4xx(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	for _, c := range []struct{ host, want string }{
		{`{"CpuRealtimePeriod":-5}`, "invalid CPU real-time period -5: it cannot be negative"},
		{`{"CpuRealtimeRuntime":-5}`, "invalid CPU real-time runtime -5: it cannot be negative"},
		{`{"Tmpfs":{"/x":"rw,size=-1"}}`, `invalid tmpfs option "size=-1" for /x: the size of a tmpfs cannot be negative`},
	} {
		a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.52/containers/create?name=in13b-bad",
			body: `{"Image":"e2e/busybox:1","Cmd":["sh"],"HostConfig":` + c.host + `}`})
		if a.code != 400 || !strings.Contains(a.message(), c.want) {
			t.Errorf("create with %s: %d %s, want 400 %q", c.host, a.code, a.body, c.want)
		}
	}
	docker(t, env, "create", "--name", "in13b-sysctl", "--sysctl", "kernel.shmmax=abc", "e2e/busybox:1", "sh")
	if a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.52/containers/in13b-sysctl/start"}); a.code != 400 || !strings.Contains(a.message(), `failed to write sysctl kernel.shmmax = "abc"`) || !strings.Contains(a.message(), "invalid argument") {
		t.Errorf("start with kernel.shmmax=abc: %d %s", a.code, a.body)
	}

	var host unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &host); err != nil || host.Max >= 1<<40 {
		t.Skipf("the hard nofile limit here (%d) leaves nothing above it to ask for", host.Max)
	}
	hard := host.Max + 1000
	out, stderr, code := dockerRun(t, env, "", "run", "--rm", "--network", "none", "--ulimit", fmt.Sprintf("nofile=1024:%d", hard), "e2e/busybox:1", "sh", "-c", "ulimit -Hn; ulimit -Sn")
	want := fmt.Sprintf("The nofile hard limit %d is above the daemon's own (%d)", hard, host.Max)
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("docker run --ulimit nofile=1024:%d: exit %d, stderr %q; want the warning %q", hard, code, stderr, want)
	}
	if got := strings.Fields(out); len(got) != 2 || got[0] != fmt.Sprint(host.Max) || got[1] != "1024" {
		t.Errorf("limits in the container: %q, want hard %d, soft 1024", out, host.Max)
	}
}
