package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFidelityLocalVolumeOptions: the local driver's options (docker volume
// create -o type=… -o device=… -o o=…) are mounted on the volume's folder
// while a container holds it, as dockerd's local driver mounts them: a
// tmpfs shared by the containers that run at the same time and gone with
// the last one, a bind of a host folder, dockerd's words for options it
// refuses and for a mount that fails; nothing stays mounted.
func TestFidelityLocalVolumeOptions(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	mounted := func(p string) bool { return slices.Contains(mountsUnder(t, p), p) }

	docker(t, env, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m,mode=0700", "e2e-tmp")
	if got := docker(t, env, "volume", "inspect", "-f", "{{json .Options}}", "e2e-tmp"); got != `{"device":"tmpfs","o":"size=1m,mode=0700","type":"tmpfs"}` {
		t.Errorf("the volume's options: %s", got)
	}
	data := docker(t, env, "volume", "inspect", "-f", "{{.Mountpoint}}", "e2e-tmp")
	if mounted(data) {
		t.Fatalf("%s is mounted before any container uses the volume", data)
	}

	docker(t, env, "run", "-d", "--name", "e2e-a", "-v", "e2e-tmp:/data", "e2e/busybox:1", "sh", "-c", "echo shared > /data/f; sleep 300")
	waitFor(t, func() bool {
		_, _, code := dockerRun(t, env, "", "exec", "e2e-a", "sh", "-c", "test -f /data/f")
		return code == 0
	}, "e2e-a wrote /data/f", func() string {
		out, errOut, code := dockerRun(t, env, "", "exec", "e2e-a", "sh", "-c", "ls -la /data; grep /data /proc/mounts")
		logs, _, _ := dockerRun(t, env, "", "logs", "e2e-a")
		return fmt.Sprintf("exec: %q %q %d; logs: %q", out, errOut, code, logs)
	})
	if got := docker(t, env, "exec", "e2e-a", "sh", "-c", "grep ' /data ' /proc/mounts | cut -d' ' -f1,3,4"); !strings.HasPrefix(got, "tmpfs tmpfs ") ||
		!strings.Contains(got, "size=1024k") || !strings.Contains(got, "mode=700") {
		t.Errorf("/data in the container: %q, want the volume's tmpfs of 1 MiB, mode 700", got)
	}
	if !mounted(data) {
		t.Errorf("%s is not mounted while e2e-a holds the volume", data)
	}
	// A second container holds the same tmpfs while the first runs.
	if out, errOut, code := dockerRun(t, env, "", "run", "--rm", "-v", "e2e-tmp:/data", "e2e/busybox:1", "cat", "/data/f"); out != "shared\n" || code != 0 {
		t.Errorf("a second container's /data/f: %q %q %d", out, errOut, code)
	}
	if !mounted(data) {
		t.Errorf("%s was unmounted when the second container exited, while e2e-a still holds it", data)
	}
	docker(t, env, "rm", "-f", "e2e-a")
	waitFor(t, func() bool { return !mounted(data) }, "the volume unmounted after its last container")
	// A new tmpfs for the next holder: what the last one held is gone, as
	// with dockerd.
	if out, _, code := dockerRun(t, env, "", "run", "--rm", "-v", "e2e-tmp:/data", "e2e/busybox:1", "sh", "-c", "test -e /data/f && echo kept || echo gone"); out != "gone\n" || code != 0 {
		t.Errorf("the volume after it was unmounted: %q %d, want a new, empty tmpfs", out, code)
	}
	docker(t, env, "volume", "rm", "e2e-tmp")

	// A bind of a host folder (mount(8)'s "bind" option).
	src := filepath.Join(dir, "bind-src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "host-file"), []byte("from the host\n"), 0o644)
	docker(t, env, "volume", "create", "-o", "type=none", "-o", "device="+src, "-o", "o=bind", "e2e-bind")
	if out, errOut, code := dockerRun(t, env, "", "run", "--rm", "-v", "e2e-bind:/data", "e2e/busybox:1", "cat", "/data/host-file"); out != "from the host\n" || code != 0 {
		t.Errorf("the bound folder in the container: %q %q %d", out, errOut, code)
	}
	docker(t, env, "volume", "rm", "e2e-bind")

	// Options dockerd's local driver refuses, in its words.
	for _, c := range []struct {
		opts []string
		want string
	}{
		{[]string{"-o", "bogus=1"}, `create e2e-bad: invalid option: "bogus"`},
		{[]string{"-o", "o=size=1m"}, `create e2e-bad: missing required option: "device"`},
		{[]string{"-o", "type=tmpfs"}, `create e2e-bad: missing required option: "device"`},
		{[]string{"-o", "size=1m"}, `create e2e-bad: quota size requested but no quota support`},
	} {
		_, errOut, code := dockerRun(t, env, "", append(append([]string{"volume", "create"}, c.opts...), "e2e-bad")...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("volume create %v: %d %q, want %q", c.opts, code, errOut, c.want)
		}
	}
	if _, _, code := dockerRun(t, env, "", "volume", "inspect", "e2e-bad"); code == 0 {
		t.Error("a refused volume was made")
	}

	// A mount that fails fails the start, in dockerd's words, and leaves
	// nothing mounted.
	docker(t, env, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=bogus=1", "e2e-badmount")
	bad := docker(t, env, "volume", "inspect", "-f", "{{.Mountpoint}}", "e2e-badmount")
	_, errOut, code := dockerRun(t, env, "", "run", "--rm", "-v", "e2e-badmount:/data", "e2e/busybox:1", "true")
	if want := "error while mounting volume '" + bad + "': failed to mount local volume: mount tmpfs:" + bad + ", data: bogus=1: invalid argument"; code == 0 || !strings.Contains(errOut, want) {
		t.Errorf("run with a volume that does not mount: %d %q, want %q", code, errOut, want)
	}
	if mounted(bad) {
		t.Errorf("%s is mounted after a failed start", bad)
	}
}
