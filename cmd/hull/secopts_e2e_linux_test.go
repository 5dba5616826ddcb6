package main

// Issue 13, the container options part: --security-opt (custom seccomp
// profiles applied, wrong options refused with 400 in dockerd's words,
// AppArmor and SELinux options answered as dockerd answers them on a host
// without either) and the options that must reach the container
// (--device, --sysctl, --shm-size, --oom-score-adj, --cpuset-cpus,
// --blkio-weight), or, where this host cannot give them, be answered with
// dockerd's warning or a 400 — never dropped quietly. Each is observed
// inside a container run by the real docker CLI; the status codes of the
// refusals are read from the raw API.

import (
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
)

const secoptsImage = "e2e/busybox:1"

// secoptsDaemon is a hull daemon with busybox loaded, and a function that
// runs `docker run --rm --network none ARGS...` against it.
func secoptsDaemon(t *testing.T) (env []string, dir string, run func(args ...string) (string, string, int)) {
	t.Helper()
	requireDockerCLI(t)
	buildShim(t)
	env, dir = hullDaemon(t)
	loadBusybox(t, env, dir)
	return env, dir, func(args ...string) (string, string, int) {
		t.Helper()
		return dockerRun(t, env, "", append([]string{"run", "--rm", "--network", "none"}, args...)...)
	}
}

// createRaw sends POST /containers/create with a HostConfig and returns the
// status, the message of an error answer and the warnings of a success.
func createRaw(t *testing.T, dir string, hostConfig any) (int, string, []string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"Image": secoptsImage, "Cmd": []string{"true"}, "HostConfig": hostConfig})
	if err != nil {
		t.Fatal(err)
	}
	code, answer := postJSON(t, dir, "/containers/create", string(body))
	var r struct {
		Message  string
		Warnings []string
	}
	json.Unmarshal([]byte(answer), &r)
	return code, r.Message, r.Warnings
}

// containerCount is the number of containers the daemon holds.
func containerCount(t *testing.T, env []string) int {
	t.Helper()
	out := docker(t, env, "ps", "-aq")
	return len(strings.Fields(out))
}

func appArmorHost() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// TestSecurityOptSeccompWithDockerCLI: a profile of the container's own
// (the CLI reads the file and sends its JSON) is what filters the
// container's system calls; the default profile follows --cap-add; wrong
// options and profiles are refused at create with 400.
func TestSecurityOptSeccompWithDockerCLI(t *testing.T) {
	env, dir, run := secoptsDaemon(t)
	files := t.TempDir()
	profile := func(name, body string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return "seccomp=" + p
	}
	denyMkdir := profile("deny-mkdir.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`)
	allowMkdir := profile("allow.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["reboot"],"action":"SCMP_ACT_ERRNO"}]}`)
	badAction := profile("bad-action.json", `{"defaultAction":"SCMP_ACT_BOGUS"}`)

	if out, errOut, code := run("--security-opt", denyMkdir, secoptsImage, "busybox", "mkdir", "/x"); code != 1 || !strings.Contains(errOut, "Operation not permitted") {
		t.Errorf("deny-mkdir profile: mkdir /x gave %q %q, exit %d; want EPERM", out, errOut, code)
	}
	if out, errOut, code := run("--security-opt", denyMkdir, secoptsImage, "sh", "-c", "touch /f && echo touched"); code != 0 || out != "touched\n" {
		t.Errorf("deny-mkdir profile: touch gave %q %q, exit %d", out, errOut, code)
	}
	if out, errOut, code := run("--security-opt", allowMkdir, secoptsImage, "sh", "-c", "mkdir /x && grep Seccomp: /proc/self/status"); code != 0 || out != "Seccomp:\t2\n" {
		t.Errorf("allowing profile: %q %q, exit %d; want mkdir to work under a filter", out, errOut, code)
	}
	if out, _, code := run("--security-opt", "seccomp=unconfined", secoptsImage, "busybox", "grep", "Seccomp:", "/proc/self/status"); code != 0 || out != "Seccomp:\t0\n" {
		t.Errorf("seccomp=unconfined: %q, exit %d", out, code)
	}
	// A privileged container gets the profile it names, as with moby's
	// current dockerd.
	if _, errOut, code := run("--privileged", "--security-opt", denyMkdir, secoptsImage, "busybox", "mkdir", "/x"); code != 1 || !strings.Contains(errOut, "Operation not permitted") {
		t.Errorf("privileged with the deny-mkdir profile: %q, exit %d", errOut, code)
	}
	// The default profile is resolved against the final capabilities:
	// with CAP_SYS_ADMIN it allows mount, as dockerd's does.
	mount := []string{"sh", "-c", "mkdir /m && mount -t tmpfs none /m && echo mounted"}
	if out, errOut, code := run(append([]string{"--cap-add", "SYS_ADMIN", secoptsImage}, mount...)...); code != 0 || out != "mounted\n" {
		t.Errorf("--cap-add SYS_ADMIN, default profile: %q %q, exit %d", out, errOut, code)
	}
	if out, _, code := run(append([]string{secoptsImage}, mount...)...); code == 0 {
		t.Errorf("default profile without CAP_SYS_ADMIN mounted: %q", out)
	}
	for opt, want := range map[string]string{"no-new-privileges": "1", "no-new-privileges=1": "1", "no-new-privileges:true": "1", "no-new-privileges=false": "0"} {
		if out, errOut, code := run("--security-opt", opt, secoptsImage, "busybox", "grep", "NoNewPrivs:", "/proc/self/status"); code != 0 || out != "NoNewPrivs:\t"+want+"\n" {
			t.Errorf("--security-opt %s: %q %q, exit %d; want NoNewPrivs %s", opt, out, errOut, code, want)
		}
	}
	// dockerd on a host without AppArmor ignores apparmor=, and without
	// --selinux-enabled gives no label for label=: the container runs.
	opts := []string{"label=disable", "label=user:foo", "label=level:s0:c1"}
	if !appArmorHost() {
		opts = append(opts, "apparmor=some-profile")
	}
	for _, opt := range opts {
		if _, errOut, code := run("--security-opt", opt, secoptsImage, "sh", "-c", "true"); code != 0 {
			t.Errorf("--security-opt %s: %q, exit %d; dockerd runs it", opt, errOut, code)
		}
	}

	// A profile runc cannot load: through the CLI, dockerd's words.
	if _, errOut, code := run("--security-opt", badAction, secoptsImage, "sh", "-c", "true"); code != 125 || !strings.Contains(errOut, "Error response from daemon: string SCMP_ACT_BOGUS is not a valid action for seccomp") {
		t.Errorf("bad profile through the CLI: %q, exit %d", errOut, code)
	}
	before := containerCount(t, env)
	for _, tc := range []struct{ opt, want string }{
		{"bogus", `invalid --security-opt 1: "bogus"`},
		{"foo=bar", `invalid --security-opt 2: "foo=bar"`},
		{"no-new-privileges=maybe", `invalid --security-opt 2: "no-new-privileges=maybe"`},
		// The CLI turns systempaths=unconfined into empty masked paths;
		// the daemon knows no such option.
		{"systempaths=unconfined", `invalid --security-opt 2: "systempaths=unconfined"`},
		{"seccomp={bad", "Decoding seccomp profile failed: invalid character 'b' looking for beginning of object key string"},
		{"seccomp=/etc/deny.json", "Decoding seccomp profile failed: invalid character '/' looking for beginning of value"},
		{`seccomp={"defaultAction":"SCMP_ACT_BOGUS"}`, "string SCMP_ACT_BOGUS is not a valid action for seccomp"},
		{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_BOGUS"]}`, "string SCMP_ARCH_BOGUS is not a valid arch for seccomp"},
		{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":1,"op":"SCMP_CMP_BOGUS"}]}]}`, "string SCMP_CMP_BOGUS is not a valid operator for seccomp"},
		{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}`, "error creating seccomp syscall condition for syscall mkdir: syscalls only have up to 6 arguments (7 given)"},
		{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","names":["mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`, "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'"},
	} {
		code, msg, _ := createRaw(t, dir, map[string]any{"NetworkMode": "none", "SecurityOpt": []string{tc.opt}})
		if code != 400 || msg != tc.want {
			t.Errorf("SecurityOpt %q: %d %q, want 400 %q", tc.opt, code, msg, tc.want)
		}
	}
	if after := containerCount(t, env); after != before {
		t.Errorf("refused creates left %d containers", after-before)
	}
}

// hostLimitsOOMScore says whether this host's daemon (which runs as this
// test's child and so has its capabilities and score) cannot lower a
// container's oom_score_adj below its own, and what that is.
func hostLimitsOOMScore(t *testing.T) (int, bool) {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			eff, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if eff&(1<<24) != 0 { // CAP_SYS_RESOURCE
				return 0, false
			}
		}
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	own, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return own, true
}

// hostBlkioWeight says whether the host's cgroups take a block I/O weight
// (dockerd's sysinfo check: blkio.weight in the v1 blkio hierarchy, the io
// controller on v2), and the file a container reads it from.
func hostBlkioWeight() (bool, string) {
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return strings.Contains(" "+string(b)+" ", " io "), "/sys/fs/cgroup/io.weight"
	}
	_, err := os.Stat("/sys/fs/cgroup/blkio/blkio.weight")
	return err == nil, "/sys/fs/cgroup/blkio/blkio.weight"
}

// TestCreateOptionsReachContainerWithDockerCLI: each option is observed
// inside the container, or answered as dockerd answers it where this host
// cannot give it; wrong values are refused with 400 in dockerd's words.
func TestCreateOptionsReachContainerWithDockerCLI(t *testing.T) {
	env, dir, run := secoptsDaemon(t)

	t.Run("device", func(t *testing.T) {
		out, errOut, code := run("--device", "/dev/null:/dev/mynull", secoptsImage, "sh", "-c", "ls -l /dev/mynull; echo hi >/dev/mynull && echo wrote")
		if code != 0 || !strings.HasPrefix(out, "crw") || !strings.Contains(out, " 1,   3 ") || !strings.HasSuffix(out, "wrote\n") {
			t.Errorf("--device /dev/null:/dev/mynull: %q %q, exit %d", out, errOut, code)
		}
		if _, errOut, code := run("--device", "/dev/nosuch", secoptsImage, "sh", "-c", "true"); code == 0 ||
			!strings.Contains(errOut, `error gathering device information while adding custom device "/dev/nosuch": no such file or directory`) {
			t.Errorf("--device /dev/nosuch: %q, exit %d", errOut, code)
		}
	})

	t.Run("sysctl", func(t *testing.T) {
		out, errOut, code := run("--sysctl", "kernel.shmmax=1234567", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "fs.mqueue.msg_max=20",
			secoptsImage, "busybox", "cat", "/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/fs/mqueue/msg_max")
		if code != 0 || out != "1234567\n1\n20\n" {
			t.Errorf("--sysctl: %q %q, exit %d", out, errOut, code)
		}
		// In another container's network namespace the container's own
		// net.* sysctls are set there (they were dropped); in one on the
		// host's network they are refused when it starts.
		docker(t, env, "run", "-d", "--name", "netpeer", "--network", "none", secoptsImage, "sleep", "60")
		docker(t, env, "run", "-d", "--name", "hostpeer", "--network", "host", secoptsImage, "sleep", "60")
		defer dockerRun(t, env, "", "rm", "-f", "netpeer", "hostpeer")
		if out, errOut, code := dockerRun(t, env, "", "run", "--rm", "--network", "container:netpeer", "--sysctl", "net.ipv4.tcp_keepalive_time=1234",
			secoptsImage, "busybox", "cat", "/proc/sys/net/ipv4/tcp_keepalive_time"); code != 0 || out != "1234\n" {
			t.Errorf("--sysctl net.* with --network container:X: %q %q, exit %d", out, errOut, code)
		}
		id := docker(t, env, "create", "--network", "container:hostpeer", "--sysctl", "net.ipv4.tcp_keepalive_time=1234", secoptsImage, "true")
		if code, answer := post(t, dir, "/containers/"+id+"/start"); code != 400 || !strings.Contains(answer, `sysctl \"net.ipv4.tcp_keepalive_time\" not allowed in host network namespace`) {
			t.Errorf("--sysctl net.* with --network container:X on the host's network: start %d %s", code, answer)
		}
		for _, tc := range []struct {
			hc   map[string]any
			want string
		}{
			{map[string]any{"Sysctls": map[string]string{"vm.swappiness": "1"}}, `sysctl "vm.swappiness" is not in a separate kernel namespace`},
			{map[string]any{"Sysctls": map[string]string{"user.max_user_namespaces": "1"}}, `sysctl "user.max_user_namespaces" is not in a separate kernel namespace`},
			{map[string]any{"Sysctls": map[string]string{"kernel.hostname": "x"}}, `sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`},
			{map[string]any{"UTSMode": "host", "Sysctls": map[string]string{"kernel.domainname": "x"}}, `sysctl "kernel.domainname" is not in a separate kernel namespace`},
			{map[string]any{"IpcMode": "host", "Sysctls": map[string]string{"kernel.shmmax": "1"}}, `sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace`},
			{map[string]any{"NetworkMode": "host", "Sysctls": map[string]string{"net.ipv4.ip_forward": "1"}}, `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
		} {
			if _, ok := tc.hc["NetworkMode"]; !ok {
				tc.hc["NetworkMode"] = "none"
			}
			if code, msg, _ := createRaw(t, dir, tc.hc); code != 400 || msg != tc.want {
				t.Errorf("%v: %d %q, want 400 %q", tc.hc, code, msg, tc.want)
			}
		}
	})

	t.Run("shm-size", func(t *testing.T) {
		out, errOut, code := run("--shm-size", "10m", secoptsImage, "sh", "-c", "df -k /dev/shm | tail -n 1")
		if f := strings.Fields(out); code != 0 || len(f) < 2 || f[1] != "10240" {
			t.Errorf("--shm-size 10m: df says %q %q, exit %d; want 10240 1K-blocks", out, errOut, code)
		}
		if code, msg, _ := createRaw(t, dir, map[string]any{"NetworkMode": "none", "ShmSize": -1}); code != 400 || msg != "SHM size can not be less than 0" {
			t.Errorf("ShmSize -1: %d %q", code, msg)
		}
	})

	t.Run("oom-score-adj", func(t *testing.T) {
		if out, errOut, code := run("--oom-score-adj", "300", secoptsImage, "busybox", "cat", "/proc/self/oom_score_adj"); code != 0 || out != "300\n" {
			t.Errorf("--oom-score-adj 300: %q %q, exit %d", out, errOut, code)
		}
		out, errOut, code := dockerRun(t, env, "", "run", "--name", "oom-low", "--network", "none", "--oom-score-adj", "-500", secoptsImage, "busybox", "cat", "/proc/self/oom_score_adj")
		defer dockerRun(t, env, "", "rm", "-f", "oom-low")
		stored := docker(t, env, "inspect", "--format", "{{.HostConfig.OomScoreAdj}}", "oom-low")
		if floor, limited := hostLimitsOOMScore(t); limited && floor > -500 {
			want := "WARNING: Your daemon cannot lower the OOM score adjustment below its own (" + strconv.Itoa(floor) +
				") without CAP_SYS_RESOURCE. OOM score adjustment set to " + strconv.Itoa(floor) + "."
			if code != 0 || out != strconv.Itoa(floor)+"\n" || !strings.Contains(errOut, want) || stored != strconv.Itoa(floor) {
				t.Errorf("--oom-score-adj -500 without CAP_SYS_RESOURCE: %q %q, exit %d, inspect %s; want the warning %q and %d", out, errOut, code, stored, want, floor)
			}
		} else if code != 0 || out != "-500\n" || stored != "-500" || errOut != "" {
			t.Errorf("--oom-score-adj -500: %q %q, exit %d, inspect %s", out, errOut, code, stored)
		}
		if code, msg, _ := createRaw(t, dir, map[string]any{"NetworkMode": "none", "OomScoreAdj": 5000}); code != 400 || msg != "Invalid value 5000, range for oom score adj is [-1000, 1000]" {
			t.Errorf("OomScoreAdj 5000: %d %q", code, msg)
		}
	})

	t.Run("cpuset-cpus", func(t *testing.T) {
		if goruntime.NumCPU() < 2 {
			t.Skip("one CPU: no cpuset smaller than the host's")
		}
		out, errOut, code := run("--cpuset-cpus", "1", secoptsImage, "sh", "-c",
			"grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus")
		if code != 0 || out != "Cpus_allowed_list:\t1\n1\n" {
			t.Errorf("--cpuset-cpus 1: %q %q, exit %d", out, errOut, code)
		}
		if code, msg, _ := createRaw(t, dir, map[string]any{"NetworkMode": "none", "CpusetCpus": "999"}); code != 400 || !strings.HasPrefix(msg, "Requested CPUs are not available - requested 999, available: ") {
			t.Errorf("CpusetCpus 999: %d %q", code, msg)
		}
		if code, msg, _ := createRaw(t, dir, map[string]any{"NetworkMode": "none", "CpusetCpus": "abc"}); code != 400 || msg != "Invalid value abc for cpuset cpus: invalid format: abc" {
			t.Errorf("CpusetCpus abc: %d %q", code, msg)
		}
	})

	t.Run("blkio-weight", func(t *testing.T) {
		supported, file := hostBlkioWeight()
		out, errOut, code := dockerRun(t, env, "", "run", "--name", "blkio", "--network", "none", "--blkio-weight", "300", secoptsImage, "sh", "-c", "cat "+file+" 2>&1; true")
		defer dockerRun(t, env, "", "rm", "-f", "blkio")
		stored := docker(t, env, "inspect", "--format", "{{.HostConfig.BlkioWeight}}", "blkio")
		warning := "WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
		if supported {
			if code != 0 || !strings.Contains(out, "300") || stored != "300" {
				t.Errorf("--blkio-weight 300: %q %q, exit %d, inspect %s", out, errOut, code, stored)
			}
			if code, msg, _ := createRaw(t, dir, map[string]any{"NetworkMode": "none", "BlkioWeight": 5}); code != 400 || msg != "Range of blkio weight is from 10 to 1000" {
				t.Errorf("BlkioWeight 5: %d %q", code, msg)
			}
			return
		}
		if code != 0 || !strings.Contains(errOut, warning) || stored != "0" {
			t.Errorf("--blkio-weight 300 on a host without blkio.weight: %q %q, exit %d, inspect %s; want dockerd's warning and 0", out, errOut, code, stored)
		}
		// dockerd discards the weight before it checks its range.
		if code, _, warnings := createRaw(t, dir, map[string]any{"NetworkMode": "none", "BlkioWeight": 5}); code != 201 || len(warnings) != 1 || warnings[0] != strings.TrimPrefix(warning, "WARNING: ") {
			t.Errorf("BlkioWeight 5 on a host without blkio.weight: %d %q", code, warnings)
		}
	})
}
