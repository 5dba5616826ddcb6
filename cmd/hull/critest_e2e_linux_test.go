package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// critestBin is critest v1.34.0: HULL_TEST_CRITEST (hack/lib.sh
// install_critest), else the tools cache's; "" when it is not built.
func critestBin() string {
	for _, p := range []string{os.Getenv("HULL_TEST_CRITEST"), "/var/cache/hull-tools/critest-v1.34.0/critest"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// critestSummary is ginkgo's closing line: FAIL! -- 80 Passed | 3 Failed |
// 0 Pending | 27 Skipped.
var critestSummary = regexp.MustCompile(`(?m)^(SUCCESS|FAIL)! -- (\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped`)

// TestCritest runs cri-tools' CRI validation suite, critest v1.34.0,
// against this build of hull with test/critest/run.sh (its Linux specs,
// its images made locally and served from a registry on loopback through
// the daemon's registry mirrors, a CNI bridge, all in private namespaces)
// and fails when a spec that ran failed. The specs the script skips, each
// with its reason there: AppArmor, SELinux, and the pull by a fixed digest.
func TestCritest(t *testing.T) {
	requireRoot(t)
	critest := critestBin()
	if critest == "" {
		t.Skip("critest is not built (hack/lib.sh install_critest): skipping critest")
	}
	for _, tool := range []string{"unshare", "dpkg-deb", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: skipping critest", tool)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("the CNI plugins are not installed (apt-get install containernetworking-plugins): skipping critest")
	}
	buildShim(t)
	script, err := filepath.Abs("../../test/critest/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("bash", script, "--hull", filepath.Dir(hullBin))
	cmd.Env = append(os.Environ(), "HULL_TEST_CRITEST="+critest)
	out, err := cmd.CombinedOutput()
	t.Logf("bash test/critest/run.sh (%s):\n%s", time.Since(start).Round(time.Second), out)
	m := critestSummary.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no ginkgo summary in critest's output (%v); its log: /var/tmp/hull-critest-logs/hull/critest.log", err)
	}
	passed, _ := strconv.Atoi(string(m[2]))
	failed, _ := strconv.Atoi(string(m[3]))
	if failed > 0 || err != nil {
		t.Errorf("critest: %d specs failed (%d passed; exit: %v): see the summary above and /var/tmp/hull-critest-logs/hull/critest.log", failed, passed, err)
	}
	if passed == 0 {
		t.Errorf("critest ran no spec")
	}
	if !t.Failed() { // the logs stay only when they explain a failure
		os.RemoveAll("/var/tmp/hull-critest-logs/hull")
		os.Remove("/var/tmp/hull-critest-logs")
	}
}

// TestDockerOOMKilledAndSharedBind: engine behaviours critest found
// missing, through the docker CLI. A container the kernel's OOM killer
// ends is OOMKilled (exit 137), one that exits by itself is not, as with
// dockerd 20.10. A mount made in a privileged container under a -v
// …:rshared bind reaches the host (the container's root mount is made
// shared with it, as dockerd does). A read-only bind mount leaves its
// submounts writable unless it is recursive (--mount
// bind-recursive=readonly, API 1.44's ReadOnlyForceRecursive).
func TestDockerOOMKilledAndSharedBind(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)

	if _, _, code := dockerRun(t, env, "", "run", "--name", "oom", "-m", "16m", "--memory-swap", "16m", "e2e/busybox:1", "sh", "-c", "busybox tail /dev/zero"); code != 137 {
		t.Errorf("a container past its memory limit exited %d, want 137", code)
	}
	if got := docker(t, env, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"); got != "true 137" {
		t.Errorf("OOMKilled, ExitCode of a container the OOM killer ended: %s, want true 137", got)
	}
	dockerRun(t, env, "", "run", "--name", "exit3", "-m", "16m", "e2e/busybox:1", "sh", "-c", "exit 3")
	if got := docker(t, env, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "exit3"); got != "false 3" {
		t.Errorf("OOMKilled, ExitCode of a container that exited 3: %s, want false 3", got)
	}

	// A shared mount of the host's to bind (the host's / may be private).
	src := t.TempDir()
	run(t, 0, nil, "mount", "--bind", src, src)
	t.Cleanup(func() { exec.Command("umount", "-R", "-l", src).Run() })
	run(t, 0, nil, "mount", "--make-rshared", src)
	_, errOut, code := dockerRun(t, env, "", "run", "--rm", "--privileged", "-v", src+":/x:rshared", "e2e/busybox:1",
		"sh", "-c", "busybox mkdir /x/m && busybox mount --bind /bin /x/m")
	if code != 0 {
		t.Fatalf("mount in the container: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(src, "m", "busybox")); err != nil {
		t.Errorf("the container's mount under its rshared bind did not reach the host: %v", err)
	}

	// A folder with a tmpfs in it: read-only bind mounts of it.
	rro := t.TempDir()
	sub := filepath.Join(rro, "tmpfs")
	os.Mkdir(sub, 0o755)
	run(t, 0, nil, "mount", "-t", "tmpfs", "tmpfs", sub)
	t.Cleanup(func() { exec.Command("umount", "-l", sub).Run() })
	write := "echo hi > /x/tmpfs/f"
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--mount", "type=bind,src="+rro+",dst=/x,readonly", "e2e/busybox:1", "sh", "-c", write); code != 0 {
		t.Errorf("a submount of a read-only bind was not writable: exit %d: %s", code, errOut)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--mount", "type=bind,src="+rro+",dst=/x,readonly,bind-recursive=readonly,bind-propagation=rprivate", "e2e/busybox:1", "sh", "-c", write); code == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("a submount of a recursive read-only bind: exit %d, %q; want Read-only file system", code, errOut)
	}
}
