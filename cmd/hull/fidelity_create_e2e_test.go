package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// apiCall sends a request to the daemon at sock and returns the status and
// the body.
func apiCall(t *testing.T, sock, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			r = strings.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			r = bytes.NewReader(j)
		}
	}
	req, _ := http.NewRequest(method, "http://hull"+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestCreateValidatesAsDockerd: each bad create answers dockerd 20.10's
// status and message word for word (recorded side by side with a private
// dockerd at API 1.41), and leaves no container and no volume behind; the
// requests dockerd accepts are accepted. Where dockerd 20.10 answered 500 for
// bad input (unclassified errors: bind specs, isolation, QoS, security
// options), hull answers 400 with the same text.
func TestCreateValidatesAsDockerd(t *testing.T) {
	buildShim(t)
	env, dir := hullDaemon(t)
	sock := filepath.Join(dir, "hull.sock")
	loadBusybox(t, env, dir)
	docker(t, env, "create", "--name", "vsrc", "-v", "/va", "e2e/busybox:1", "true")
	const img = `"Image":"e2e/busybox:1","Cmd":["true"]`
	cases := []struct {
		query, body string
		code        int
		msg         string // "" for a 201
	}{
		{"", `{` + img + `,"Env":["=foo"]}`, 400, "invalid environment variable: =foo"},
		{"", `{` + img + `,"Env":[""]}`, 400, "invalid environment variable: "},
		{"", `{` + img + `,"Env":["FOO"]}`, 201, ""},
		{"", `{` + img + `,"WorkingDir":"a/b"}`, 400, "the working directory 'a/b' is invalid, it needs to be an absolute path"},
		{"", `{` + img + `,"StopSignal":"FOO"}`, 400, "Invalid signal: FOO"},
		{"", `{` + img + `,"StopSignal":"0"}`, 400, "Invalid signal: 0"},
		{"", `{` + img + `,"StopSignal":"SIGRTMIN+3"}`, 201, ""},
		{"", `{` + img + `,"Healthcheck":{"Test":["CMD","true"],"Interval":1}}`, 400, "Interval in Healthcheck cannot be less than 1ms"},
		{"", `{` + img + `,"Healthcheck":{"Test":["CMD","true"],"Timeout":1}}`, 400, "Timeout in Healthcheck cannot be less than 1ms"},
		{"", `{` + img + `,"Healthcheck":{"Test":["CMD","true"],"StartPeriod":1}}`, 400, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{"", `{` + img + `,"Healthcheck":{"Test":["CMD","true"],"Retries":-1}}`, 400, "Retries in Healthcheck cannot be negative"},
		{"", `{"Image":"e2e/busybox:1","Cmd":[""]}`, 201, ""},
		{"", `{"Image":"e2e/busybox:1","Entrypoint":[""]}`, 400, "No command specified"},
		{"", `{"Image":"e2e/busybox:1","Entrypoint":[""],"Cmd":["sh"]}`, 201, ""},
		{"", `{"Image":""}`, 400, "No command specified"},
		{"", `{}`, 400, "Config cannot be empty in order to create a container"},
		{"", `{"Image":"nope:1","Env":["=x"]}`, 400, "invalid environment variable: =x"}, // checked before the image
		{"", `{` + img + `,"HostConfig":{"Tmpfs":{"relative":""}}}`, 400, "invalid mount path: 'relative' mount path must be absolute"},
		{"", `{` + img + `,"HostConfig":{"Tmpfs":{"/":""}}}`, 400, "invalid specification: destination can't be '/'"},
		{"", `{` + img + `,"HostConfig":{"Tmpfs":{"/run":""},"Binds":["/tmp:/run"]}}`, 400, "Duplicate mount point: /run"},
		{"", `{` + img + `,"HostConfig":{"Binds":["/tmp:/a","/tmp:/a"]}}`, 400, "Duplicate mount point: /a"},
		{"", `{` + img + `,"HostConfig":{"Binds":["/tmp:rel"]}}`, 400, `invalid volume specification: '/tmp:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{"", `{` + img + `,"HostConfig":{"Binds":["/tmp:/a:bogus"]}}`, 400, "invalid mode: bogus"},
		{"", `{` + img + `,"HostConfig":{"Binds":["/tmp:rw"]}}`, 400, "invalid volume specification: '/tmp:rw'"},
		{"", `{` + img + `,"HostConfig":{"Binds":["ab:/a:shared"]}}`, 400, `invalid volume specification: 'ab:/a:shared': invalid mount config for type "volume": field BindOptions must not be specified`},
		{"", `{` + img + `,"HostConfig":{"VolumesFrom":["missing"]}}`, 400, "No such container: missing"},
		{"", `{` + img + `,"HostConfig":{"VolumesFrom":["vsrc:bogus"]}}`, 400, "invalid mode: bogus"},
		{"", `{` + img + `,"HostConfig":{"VolumesFrom":["vsrc:ro"]}}`, 201, ""},
		{"", `{` + img + `,"HostConfig":{"Memory":1}}`, 400, "Minimum memory limit allowed is 6MB"},
		{"", `{` + img + `,"HostConfig":{"Memory":-1}}`, 400, "Minimum memory limit allowed is 6MB"},
		{"", `{` + img + `,"HostConfig":{"Memory":10000000,"MemorySwap":9000000}}`, 400, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{"", `{` + img + `,"HostConfig":{"MemorySwap":9000000}}`, 400, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{"", `{` + img + `,"HostConfig":{"MemoryReservation":1}}`, 400, "Minimum memory reservation allowed is 6MB"},
		{"", `{` + img + `,"HostConfig":{"Memory":10000000,"MemoryReservation":20000000}}`, 400, "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{"", `{` + img + `,"HostConfig":{"MemorySwappiness":101}}`, 400, "Invalid value: 101, valid memory swappiness range is 0-100"},
		{"", `{` + img + `,"HostConfig":{"NanoCpus":1000000000,"CpuPeriod":100000}}`, 400, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{"", `{` + img + `,"HostConfig":{"NanoCpus":1000000000,"CpuQuota":100000}}`, 400, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{"", `{` + img + `,"HostConfig":{"CpuPeriod":500}}`, 400, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{"", `{` + img + `,"HostConfig":{"CpuQuota":500}}`, 400, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{"", `{` + img + `,"HostConfig":{"CpusetCpus":"abc"}}`, 400, "Invalid value abc for cpuset cpus: invalid format: abc"},
		{"", `{` + img + `,"HostConfig":{"CpusetCpus":"0-4096"}}`, 400, "Requested CPUs are not available - requested 0-4096, available: " + hostCpuset(t, "cpus")},
		{"", `{` + img + `,"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"abc"}]}}}`, 400, `invalid port specification: "abc"`},
		{"", `{` + img + `,"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"70000"}]}}}`, 400, `invalid port specification: "70000"`},
		{"", `{` + img + `,"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"8080/udp"}]}}}`, 201, ""},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp"}]}}`, 400, `invalid mount config for type "bind": field Target must not be empty`},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp","Target":"rel"}]}}`, 400, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"bind","Source":"/nonexistent","Target":"/a"}]}}`, 400, `invalid mount config for type "bind": bind source path does not exist: /nonexistent`},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"foo","Source":"/tmp","Target":"/a"}]}}`, 400, `invalid mount config for type "foo": mount type unknown`},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"tmpfs","Source":"x","Target":"/a"}]}}`, 400, `invalid mount config for type "tmpfs": field Source must not be specified`},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"volume","Target":"/a","ReadOnly":true}]}}`, 400, `invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes`},
		{"", `{` + img + `,"HostConfig":{"Mounts":[{"Type":"volume","Source":"a b","Target":"/a"}]}}`, 400, `create a b: "a b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{"", `{` + img + `,"HostConfig":{"Binds":["/tmp:/a"],"Mounts":[{"Type":"tmpfs","Target":"/a"}]}}`, 400, "Duplicate mount point: /a"},
		{"", `{` + img + `,"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}`, 400, "maximum retry count cannot be negative"},
		{"", `{` + img + `,"HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}`, 400, "maximum retry count cannot be used with restart policy 'always'"},
		{"", `{` + img + `,"HostConfig":{"RestartPolicy":{"Name":"foo"}}}`, 400, "invalid restart policy 'foo'"},
		{"", `{` + img + `,"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}`, 400, "can't create 'AutoRemove' container with restart policy"},
		{"", `{` + img + `,"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"no"}}}`, 201, ""},
		{"name=a", `{` + img + `}`, 400, "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{"name=a%2Fb", `{` + img + `}`, 400, "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{"name=vsrc", `{` + img + `}`, 409, `Conflict. The container name "/vsrc" is already in use by container "` + containerID(t, sock, "vsrc") + `". You have to remove (or rename) that container to be able to reuse that name.`},
		{"", `{` + img + `,"HostConfig":{"LogConfig":{"Type":"foo"}}}`, 400, `error looking up logging plugin foo: plugin "foo" not found`},
		{"", `{` + img + `,"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"foo":"bar"}}}}`, 400, "unknown log opt 'foo' for json-file log driver"},
		{"", `{` + img + `,"HostConfig":{"CapAdd":["FOO"]}}`, 400, `invalid CapAdd: unknown capability: "CAP_FOO"`},
		{"", `{` + img + `,"HostConfig":{"CapDrop":["FOO"]}}`, 400, `invalid CapDrop: unknown capability: "CAP_FOO"`},
		{"", `{` + img + `,"HostConfig":{"ShmSize":-1}}`, 400, "SHM size can not be less than 0"},
		{"", `{` + img + `,"HostConfig":{"OomScoreAdj":2000}}`, 400, "Invalid value 2000, range for oom score adj is [-1000, 1000]"},
		{"", `{` + img + `,"HostConfig":{"Isolation":"hyperv"}}`, 400, `Invalid isolation: "hyperv" - linux only supports 'default'`},
		{"", `{` + img + `,"HostConfig":{"IOMaximumBandwidth":5}}`, 400, "Invalid QoS settings: linux does not support configuration of maximum bandwidth"},
		{"", `{` + img + `,"HostConfig":{"Runtime":"foo"}}`, 400, "Unknown runtime specified foo"},
		{"", `{` + img + `,"HostConfig":{"CgroupnsMode":"foo"}}`, 400, "invalid cgroup namespace mode: foo"},
		{"", `{` + img + `,"Hostname":"x","HostConfig":{"UTSMode":"host"}}`, 400, "conflicting options: hostname and the UTS mode"},
		{"", `{` + img + `,"HostConfig":{"NetworkMode":"host","Links":["a:b"]}}`, 400, "conflicting options: host type networking can't be used with links. This would result in undefined behavior"},
		{"", `{` + img + `,"HostConfig":{"NetworkMode":"container:"}}`, 400, "Invalid network mode: invalid container format container:<name|id>"},
		{"", `{` + img + `,"HostConfig":{"ExtraHosts":["foo"]}}`, 400, `bad format for add-host: "foo"`},
		{"", `{` + img + `,"HostConfig":{"ExtraHosts":["foo:notip"]}}`, 400, `invalid IP address in add-host: "notip"`},
		{"", `{` + img + `,"HostConfig":{"SecurityOpt":["foo"]}}`, 400, `invalid --security-opt 1: "foo"`},
		{"", `{` + img + `,"HostConfig":{"SecurityOpt":["foo=bar"]}}`, 400, `invalid --security-opt 2: "foo=bar"`},
		{"", `{` + img + `,"HostConfig":{"PidsLimit":-1}}`, 201, ""},
		{"", `{` + img + `,"HostConfig":{"ConsoleSize":[10,20]}}`, 201, ""},
	}
	before := volumeNames(t, env)
	for _, c := range cases {
		code, body := apiCall(t, sock, "POST", "/v1.41/containers/create?"+c.query, c.body)
		var resp struct {
			ID      string `json:"Id"`
			Message string `json:"message"`
		}
		json.Unmarshal(body, &resp)
		if code != c.code || c.msg != "" && resp.Message != c.msg {
			t.Errorf("create %s %s:\n got  %d %s\n want %d %q", c.query, c.body, code, body, c.code, c.msg)
		}
		if code == 201 {
			apiCall(t, sock, "DELETE", "/v1.41/containers/"+resp.ID+"?v=1", nil)
		}
	}
	if out := docker(t, env, "ps", "-aq"); len(strings.Fields(out)) != 1 { // vsrc
		t.Errorf("containers left by the bad creates:\n%s", out)
	}
	if after := volumeNames(t, env); after != before {
		t.Errorf("volumes left by the bad creates: before %q, after %q", before, after)
	}
	// dockerd drops what the host's cgroups cannot do, with its warning.
	if _, err := os.Stat("/sys/fs/cgroup/blkio/blkio.weight"); os.IsNotExist(err) && isCgroupV1() {
		code, body := apiCall(t, sock, "POST", "/v1.41/containers/create", `{`+img+`,"HostConfig":{"BlkioWeight":300}}`)
		want := "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
		if code != 201 || !strings.Contains(string(body), want) {
			t.Errorf("blkio weight on a host without it: %d %s", code, body)
		}
	}
}

func containerID(t *testing.T, sock, name string) string {
	t.Helper()
	_, b := apiCall(t, sock, "GET", "/containers/"+name+"/json", nil)
	var c struct {
		ID string `json:"Id"`
	}
	json.Unmarshal(b, &c)
	return c.ID
}

func volumeNames(t *testing.T, env []string) string {
	t.Helper()
	return docker(t, env, "volume", "ls", "-q")
}

func isCgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return os.IsNotExist(err)
}

// hostCpuset is the host's root cpuset list (cpus or mems) as dockerd
// reports it.
func hostCpuset(t *testing.T, what string) string {
	p := "/sys/fs/cgroup/cpuset/cpuset." + what
	if !isCgroupV1() {
		p = "/sys/fs/cgroup/cpuset." + what + ".effective"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("no cpuset controller: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// withGroups makes e2e/groups:1, busybox with a group file naming staff
// (50), for --group-add by name.
func withGroups(t *testing.T, env []string) {
	t.Helper()
	docker(t, env, "run", "--name", "mkgroups", "e2e/busybox:1", "sh", "-c", "echo root:x:0: > /etc/group; echo staff:x:50: >> /etc/group; echo root:x:0:0:root:/root:/bin/sh > /etc/passwd")
	docker(t, env, "commit", "mkgroups", "e2e/groups:1")
	docker(t, env, "rm", "mkgroups")
}

// TestCreateAppliedWithDockerCLI: --tmpfs with its options, --domainname
// (the UTS namespace and /etc/hosts as dockerd writes them), --group-add by
// name and number (also for docker exec, with and without -u), --shm-size,
// --oom-score-adj, --sysctl, --device, --device-cgroup-rule, --init,
// --log-driver none and
// --security-opt systempaths=unconfined are applied inside the container,
// as dockerd applies them.
func TestCreateAppliedWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	withGroups(t, env)

	out := docker(t, env, "run", "--rm", "--tmpfs", "/run:rw,size=64k,mode=1770", "e2e/busybox:1", "sh", "-c",
		"busybox grep ' /run ' /proc/mounts; busybox stat -c %a /run")
	if !strings.Contains(out, "tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=64k,mode=1770") || !strings.HasSuffix(out, "\n1770") {
		t.Errorf("--tmpfs /run:rw,size=64k,mode=1770:\n%s", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--tmpfs", "/run:bogus", "e2e/busybox:1", "true"); code == 0 || !strings.Contains(errOut, `invalid tmpfs option ["bogus"]`) {
		t.Errorf("--tmpfs /run:bogus: %d %s", code, errOut)
	}

	out = docker(t, env, "run", "--rm", "--hostname", "web", "--domainname", "example.org", "e2e/busybox:1", "sh", "-c",
		"hostname; cat /proc/sys/kernel/domainname; cat /etc/hosts; echo $HOSTNAME")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != "web" || lines[1] != "example.org" || !strings.Contains(out, "\tweb.example.org web\n") || lines[len(lines)-1] != "web" {
		t.Errorf("--hostname web --domainname example.org:\n%s", out)
	}

	out = docker(t, env, "run", "--rm", "--group-add", "staff", "--group-add", "4242", "e2e/groups:1", "busybox", "grep", "Groups", "/proc/self/status")
	if strings.Join(strings.Fields(out), " ") != "Groups: 0 50 4242" {
		t.Errorf("--group-add staff --group-add 4242: %q", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--group-add", "nogroup", "e2e/groups:1", "true"); code == 0 || !strings.Contains(errOut, "Unable to find group nogroup: no matching entries in group file\n") {
		t.Errorf("--group-add nogroup: %d %s", code, errOut)
	}
	docker(t, env, "run", "-d", "--name", "grp", "--group-add", "staff", "e2e/groups:1", "sleep", "100")
	for _, args := range [][]string{{"exec", "grp"}, {"exec", "-u", "0:0", "grp"}, {"exec", "-u", "root", "grp"}} {
		out := docker(t, env, append(args, "busybox", "grep", "Groups", "/proc/self/status")...)
		if strings.Join(strings.Fields(out), " ") != "Groups: 0 50" {
			t.Errorf("docker %v: %q", args, out)
		}
	}

	out = docker(t, env, "run", "--rm", "--shm-size", "8m", "--oom-score-adj", "500", "--sysctl", "net.ipv4.ip_forward=1",
		"e2e/busybox:1", "sh", "-c", "busybox grep /dev/shm /proc/mounts; cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward")
	if !strings.Contains(out, "size=8192k") || !strings.HasSuffix(out, "\n500\n1") {
		t.Errorf("--shm-size 8m --oom-score-adj 500 --sysctl net.ipv4.ip_forward=1:\n%s", out)
	}

	out = docker(t, env, "run", "--rm", "--device", "/dev/null:/dev/mynull", "--device-cgroup-rule", "c 1:5 rwm", "e2e/busybox:1", "sh", "-c",
		"busybox ls -l /dev/mynull; echo x > /dev/mynull && echo wrote; cat /sys/fs/cgroup/devices/devices.list 2>/dev/null")
	if !strings.HasPrefix(out, "crw-rw-rw-") || !strings.Contains(out, "1,   3") || !strings.Contains(out, "wrote") ||
		isCgroupV1() && !strings.Contains(out, "c 1:5 rwm") {
		t.Errorf("--device /dev/null:/dev/mynull --device-cgroup-rule 'c 1:5 rwm':\n%s", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--device", "/dev/nonexistent", "e2e/busybox:1", "true"); code == 0 ||
		!strings.Contains(errOut, `Error response from daemon: error gathering device information while adding custom device "/dev/nonexistent": no such file or directory`+"\n") {
		t.Errorf("--device /dev/nonexistent: %d %s", code, errOut)
	}
	code, body := apiCall(t, filepath.Join(dir, "hull.sock"), "POST", "/v1.41/containers/create?name=badrule", `{"Image":"e2e/busybox:1","Cmd":["true"],"HostConfig":{"DeviceCgroupRules":["bad"]}}`)
	if code != 201 {
		t.Fatalf("create with a bad device cgroup rule (refused at start as dockerd): %d %s", code, body)
	}
	if code, body := apiCall(t, filepath.Join(dir, "hull.sock"), "POST", "/v1.41/containers/badrule/start", nil); code != 400 || string(body) != `{"message":"invalid device cgroup rule format: 'bad'"}`+"\n" {
		t.Errorf("start with a bad device cgroup rule: %d %s", code, body)
	}
	// --log-driver none: the output reaches an attached client only.
	if out, errOut, _ := dockerRun(t, env, "", "run", "--name", "nolog", "--log-driver", "none", "e2e/busybox:1", "echo", "attached"); out != "attached\n" {
		t.Errorf("--log-driver none, attached: %q %s", out, errOut)
	}
	if _, errOut, code := dockerRun(t, env, "", "logs", "nolog"); code == 0 || !strings.Contains(errOut, "configured logging driver does not support reading") {
		t.Errorf("docker logs of a --log-driver none container: %d %s", code, errOut)
	}
	if p := docker(t, env, "inspect", "-f", "{{.LogPath}}", "nolog"); p != "" {
		t.Errorf("LogPath of a --log-driver none container: %q", p)
	}
	if _, err := exec.LookPath("docker-init"); err == nil {
		if out := docker(t, env, "run", "--rm", "--init", "e2e/busybox:1", "cat", "/proc/1/cmdline"); out != "/sbin/docker-init\x00--\x00cat\x00/proc/1/cmdline\x00" {
			t.Errorf("--init: PID 1 is %q", out)
		}
	}

	if _, err := os.Stat("/proc/keys"); err != nil {
		t.Skip("this kernel has no /proc/keys to mask")
	}
	masked := docker(t, env, "run", "--rm", "e2e/busybox:1", "sh", "-c", "busybox grep -c ' /proc/keys ' /proc/mounts")
	unmasked, _, _ := dockerRun(t, env, "", "run", "--rm", "--security-opt", "systempaths=unconfined", "e2e/busybox:1", "sh", "-c", "busybox grep -c ' /proc/keys ' /proc/mounts")
	if strings.TrimSpace(masked) != "1" || strings.TrimSpace(unmasked) != "0" {
		t.Errorf("/proc/keys masked by default (%q), not with systempaths=unconfined (%q)", masked, unmasked)
	}
}

// TestCreateVolumesWithDockerCLI: the request's and the image's VOLUMEs
// are anonymous volumes made at create and listed in inspect's Mounts at
// once with Docker's shape, kept across starts and restarts, removed with
// rm -v; --volumes-from takes another container's mounts (ro when asked).
func TestCreateVolumesWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "--name", "mkvol", "e2e/busybox:1", "sh", "-c", "mkdir /data; echo from-image > /data/seed")
	docker(t, env, "commit", "--change", "VOLUME /data", "mkvol", "e2e/vol:1")
	docker(t, env, "rm", "mkvol")

	id := strings.TrimSpace(docker(t, env, "create", "--name", "vol1", "-v", "/cfgvol", "e2e/vol:1", "sh", "-c",
		"echo run >> /data/f; echo run >> /cfgvol/g; cat /data/seed /data/f /cfgvol/g"))
	var mounts []container.MountPoint
	json.Unmarshal([]byte(docker(t, env, "inspect", "-f", "{{json .Mounts}}", id)), &mounts)
	if len(mounts) != 2 {
		t.Fatalf("Mounts right after create: %+v", mounts)
	}
	names := map[string]string{}
	for _, m := range mounts {
		names[m.Destination] = m.Name
		if m.Type != "volume" || len(m.Name) != 64 || m.Driver != "local" || !m.RW || m.Mode != "" || m.Propagation != "" ||
			m.Source != filepath.Join(dir, "root", "volumes", m.Name, "_data") {
			t.Errorf("anonymous volume's mount point: %+v", m)
		}
	}
	if names["/data"] == "" || names["/cfgvol"] == "" {
		t.Errorf("Mounts: %+v", mounts)
	}
	vols := volumeNames(t, env)
	for _, n := range names {
		if !strings.Contains(vols, n) {
			t.Errorf("volume %s is not listed after create:\n%s", n, vols)
		}
	}
	docker(t, env, "start", "-a", id)
	docker(t, env, "restart", id)
	docker(t, env, "wait", id)
	if out := docker(t, env, "logs", id); out != "from-image\nrun\nrun\nfrom-image\nrun\nrun\nrun\nrun" {
		t.Errorf("the volumes across a restart: %q", out)
	}
	json.Unmarshal([]byte(docker(t, env, "inspect", "-f", "{{json .Mounts}}", id)), &mounts)
	for _, m := range mounts {
		if names[m.Destination] != m.Name {
			t.Errorf("the volumes changed across a restart: %+v", mounts)
		}
	}

	docker(t, env, "create", "--name", "vol2", "--volumes-from", "vol1:ro", "e2e/busybox:1", "true")
	out := docker(t, env, "run", "--rm", "--volumes-from", "vol1", "e2e/busybox:1", "cat", "/cfgvol/g")
	if out != "run\nrun" {
		t.Errorf("--volumes-from v: %q", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--volumes-from", "vol1:ro", "e2e/busybox:1", "sh", "-c", "echo x > /cfgvol/h"); code == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("--volumes-from v:ro: %d %s", code, errOut)
	}
	docker(t, env, "rm", "-v", "vol1")
	// vol2 still uses the volumes: they stay until it goes too.
	if vols := volumeNames(t, env); !strings.Contains(vols, names["/data"]) {
		t.Errorf("rm -v removed a volume another container uses:\n%s", vols)
	}
	docker(t, env, "rm", "-v", "vol2")
	if vols := volumeNames(t, env); strings.TrimSpace(vols) != "" {
		t.Errorf("volumes left after rm -v:\n%s", vols)
	}

	// --mount volume-subpath= mounts a folder of the volume, resolved
	// inside it (a link to / there is the volume's root).
	docker(t, env, "run", "--rm", "-v", "sp:/v", "e2e/busybox:1", "sh", "-c", "busybox mkdir -p /v/sub; echo in-sub > /v/sub/f; busybox ln -s / /v/esc")
	if out := docker(t, env, "run", "--rm", "--mount", "type=volume,src=sp,dst=/a,volume-subpath=sub", "e2e/busybox:1", "cat", "/a/f"); out != "in-sub" {
		t.Errorf("volume-subpath=sub: %q", out)
	}
	if out := docker(t, env, "run", "--rm", "--mount", "type=volume,src=sp,dst=/a,volume-subpath=esc", "e2e/busybox:1", "cat", "/a/sub/f"); out != "in-sub" {
		t.Errorf("volume-subpath=esc (a link to /): %q", out)
	}
	if _, errOut, code := dockerRun(t, env, "", "run", "--rm", "--mount", "type=volume,src=sp,dst=/a,volume-subpath=../x", "e2e/busybox:1", "true"); code == 0 ||
		!strings.Contains(errOut, `invalid mount config for type "volume": subpath must be a relative path within the volume`) {
		t.Errorf("volume-subpath=../x: %d %s", code, errOut)
	}
	docker(t, env, "volume", "rm", "sp")
}

// TestCreateConsoleSize: a container with a TTY, and an exec with one, get
// the size asked at create (HostConfig.ConsoleSize, ExecCreate's
// ConsoleSize) from the start: no resize is sent here. Then the real
// client in a terminal: docker run -t prints the terminal's size.
func TestCreateConsoleSize(t *testing.T) {
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	ctx := context.Background()
	cli, err := client.New(client.WithHost("unix://"+filepath.Join(dir, "hull.sock")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: "e2e/busybox:1", Tty: true, Cmd: []string{"stty", "size"}},
		HostConfig: &container.HostConfig{ConsoleSize: [2]uint{30, 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	wait := cli.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{})
	select {
	case <-wait.Result:
	case err := <-wait.Error:
		t.Fatal(err)
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(logs)
	logs.Close()
	if strings.TrimSpace(string(b)) != "30 100" {
		t.Errorf("stty size in a container created with ConsoleSize [30 100]: %q", b)
	}

	docker(t, env, "run", "-d", "--name", "sleeper", "e2e/busybox:1", "sleep", "100")
	ex, err := cli.ExecCreate(ctx, "sleeper", client.ExecCreateOptions{Cmd: []string{"stty", "size"}, TTY: true, AttachStdout: true, ConsoleSize: client.ConsoleSize{Height: 33, Width: 77}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(att.Reader)
	att.Close()
	if strings.TrimSpace(string(b)) != "33 77" {
		t.Errorf("stty size in an exec created with ConsoleSize [33 77]: %q", b)
	}

	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (apt-get install tmux); it provides the terminal")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed")
	}
	sock := fmt.Sprintf("hull-e2e-cs-%d", time.Now().UnixNano())
	t.Cleanup(func() { exec.Command(tmux, "-L", sock, "kill-server").Run() })
	host := "DOCKER_HOST=unix://" + filepath.Join(dir, "hull.sock")
	run(t, 0, nil, tmux, "-L", sock, "new-session", "-d", "-x", "91", "-y", "27", host+" docker run -t --rm e2e/busybox:1 stty size; echo exit=$?; sleep 30")
	screen := func() string { return run(t, 0, nil, tmux, "-L", sock, "capture-pane", "-p") }
	waitFor(t, func() bool { return strings.Contains(screen(), "exit=") }, "docker run -t: the end", screen)
	if s := screen(); !strings.Contains(s, "27 91") || !strings.Contains(s, "exit=0") {
		t.Errorf("docker run -t stty size in a 91x27 terminal:\n%s", s)
	}
}

// TestUpdateWithDockerCLI: docker update of a running container reaches
// its cgroup at once (read back from the cgroup files inside it) and shows
// in inspect; updates that conflict with what the container has answer
// dockerd's 409 and texts; what the host cannot do is dropped with
// dockerd's warning; a stopped container's update applies at its start.
func TestUpdateWithDockerCLI(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	if !isCgroupV1() {
		t.Skip("the cgroup files read here are cgroup v1's")
	}
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	cpu := strings.FieldsFunc(hostCpuset(t, "cpus"), func(r rune) bool { return r == ',' || r == '-' })[0]
	id := docker(t, env, "run", "-d", "--name", "upd", "e2e/busybox:1", "sleep", "300")
	docker(t, env, "update", "--cpu-quota", "50000", "--cpu-period", "100000", "--cpuset-cpus", cpu, "--cpuset-mems", "0",
		"--cpu-shares", "512", "--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", "--pids-limit", "50",
		"--restart", "on-failure:3", "upd")
	cgroup := func(name string) string {
		t.Helper()
		return docker(t, env, "exec", "upd", "cat", "/sys/fs/cgroup/"+name)
	}
	for file, want := range map[string]string{
		"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000", "cpu/cpu.shares": "512",
		"cpuset/cpuset.cpus": cpu, "cpuset/cpuset.mems": "0",
		"memory/memory.limit_in_bytes": "67108864", "memory/memory.soft_limit_in_bytes": "33554432", "pids/pids.max": "50",
	} {
		if got := cgroup(file); got != want {
			t.Errorf("%s after update: %q, want %q", file, got, want)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		if got := cgroup("memory/memory.memsw.limit_in_bytes"); got != "134217728" {
			t.Errorf("memory.memsw.limit_in_bytes after update: %q", got)
		}
	}
	got := docker(t, env, "inspect", "-f", "{{.HostConfig.CPUQuota}} {{.HostConfig.CPUPeriod}} {{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}} {{.HostConfig.CPUShares}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "upd")
	if want := "50000 100000 " + cpu + " 0 512 67108864 134217728 33554432 50 on-failure:3"; got != want {
		t.Errorf("inspect after update: %q, want %q", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpus", "1"}, "Cannot update container " + id + ": Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"},
		{[]string{"--memory", "256m"}, "Cannot update container " + id + ": Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"},
		{[]string{"--cpuset-cpus", "4096"}, "Requested CPUs are not available - requested 4096, available: " + hostCpuset(t, "cpus")},
		{[]string{"--cpu-period", "500"}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{[]string{"--memory-reservation", "1k"}, "Minimum memory reservation allowed is 6MB"},
		{[]string{"--restart", "always:2"}, "maximum retry count cannot be used with restart policy 'always'"},
	} {
		_, errOut, code := dockerRun(t, env, "", append(append([]string{"update"}, c.args...), "upd")...)
		if code == 0 || !strings.Contains(errOut, "Error response from daemon: "+c.want) {
			t.Errorf("docker update %v: %d %s\nwant %q", c.args, code, errOut, c.want)
		}
	}
	docker(t, env, "update", "--pids-limit", "-1", "upd")
	if got := cgroup("pids/pids.max"); got != "max" {
		t.Errorf("pids.max after --pids-limit -1: %q", got)
	}
	if _, err := os.Stat("/sys/fs/cgroup/blkio/blkio.weight"); os.IsNotExist(err) {
		out, errOut, code := dockerRun(t, env, "", "update", "--blkio-weight", "300", "upd")
		if code != 0 || !strings.Contains(out+errOut, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.") {
			t.Errorf("--blkio-weight on a host without it: %d %s %s", code, out, errOut)
		}
		if w := docker(t, env, "inspect", "-f", "{{.HostConfig.BlkioWeight}}", "upd"); w != "0" {
			t.Errorf("BlkioWeight kept though discarded: %s", w)
		}
	}

	docker(t, env, "run", "-d", "--rm", "--name", "auto", "e2e/busybox:1", "sleep", "300")
	autoID := docker(t, env, "inspect", "-f", "{{.Id}}", "auto")
	if _, errOut, code := dockerRun(t, env, "", "update", "--restart", "always", "auto"); code == 0 ||
		!strings.Contains(errOut, "Error response from daemon: Cannot update container "+autoID+": Restart policy cannot be updated because AutoRemove is enabled for the container") {
		t.Errorf("a restart policy on an auto-remove container: %d %s", code, errOut)
	}

	docker(t, env, "create", "--name", "later", "e2e/busybox:1", "sleep", "300")
	docker(t, env, "update", "--memory", "48m", "--memory-swap", "96m", "--cpu-quota", "30000", "later")
	docker(t, env, "start", "later")
	if got := docker(t, env, "exec", "later", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); got != "50331648\n30000" {
		t.Errorf("a stopped container's update at its start: %q", got)
	}
}

// TestInspectDefaultsAsDockerd: inspect of a plain create at API 1.41
// holds dockerd's defaults; below 1.40 the IPC namespace is shareable;
// sizes come with ?size=1 only; the paths of /etc and the log once
// started; ExecIDs lists the execs not yet exited.
func TestInspectDefaultsAsDockerd(t *testing.T) {
	buildShim(t)
	env, dir := hullDaemon(t)
	sock := filepath.Join(dir, "hull.sock")
	loadBusybox(t, env, dir)
	inspect := func(path string) map[string]any {
		t.Helper()
		code, b := apiCall(t, sock, "GET", path, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	create := func(version, body string) string {
		t.Helper()
		code, b := apiCall(t, sock, "POST", "/"+version+"/containers/create", body)
		var r struct {
			ID string `json:"Id"`
		}
		if json.Unmarshal(b, &r); code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		return r.ID
	}
	id := create("v1.41", `{"Image":"e2e/busybox:1","Cmd":["sleep","300"],"WorkingDir":"/a/../b/","HostConfig":{}}`)
	c := inspect("/v1.41/containers/" + id + "/json")
	host := c["HostConfig"].(map[string]any)
	cfg := c["Config"].(map[string]any)
	cgroupns := "host"
	if !isCgroupV1() {
		cgroupns = "private"
	}
	for k, want := range map[string]any{
		"IpcMode": "private", "ShmSize": 67108864.0, "CgroupnsMode": cgroupns, "Isolation": "", "OomScoreAdj": 0.0,
		"OomKillDisable": false, "NetworkMode": "default", "ConsoleSize": []any{0.0, 0.0},
	} {
		if got := host[k]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("HostConfig.%s: %v, want %v", k, got, want)
		}
	}
	if lc := fmt.Sprint(host["LogConfig"]); lc != "map[Config:map[] Type:json-file]" {
		t.Errorf("HostConfig.LogConfig: %s", lc)
	}
	for _, k := range []string{"MaskedPaths", "ReadonlyPaths"} {
		if l, _ := host[k].([]any); len(l) == 0 || !strings.HasPrefix(fmt.Sprint(l[0]), "/proc/") {
			t.Errorf("HostConfig.%s: %v", k, host[k])
		}
	}
	for k, want := range map[string]any{
		"Hostname": id[:12], "Domainname": "", "WorkingDir": "/b", "AttachStdin": false, "Labels": map[string]any{},
	} {
		if got := cfg[k]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Config.%s: %v, want %v", k, got, want)
		}
	}
	for k, want := range map[string]any{
		"Platform": "linux", "Driver": "overlay2", "ResolvConfPath": "", "HostsPath": "", "HostnamePath": "", "LogPath": "", "ExecIDs": nil,
	} {
		if got := c[k]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", k, got, want)
		}
	}
	if _, ok := c["SizeRw"]; ok {
		t.Errorf("SizeRw without size=1: %v", c["SizeRw"])
	}
	sized := inspect("/v1.41/containers/" + id + "/json?size=1")
	if rw, ok := sized["SizeRw"].(float64); !ok || rw != 0 || sized["SizeRootFs"].(float64) <= 0 {
		t.Errorf("size=1: SizeRw %v SizeRootFs %v", sized["SizeRw"], sized["SizeRootFs"])
	}
	if gd := c["GraphDriver"].(map[string]any)["Data"].(map[string]any); gd["UpperDir"] != filepath.Join(dir, "root", "layers", id, "diff") || gd["LowerDir"] == nil {
		t.Errorf("GraphDriver.Data: %v", gd)
	}

	docker(t, env, "start", id)
	docker(t, env, "exec", id, "echo")
	code, b := apiCall(t, sock, "POST", "/v1.41/containers/"+id+"/exec", `{"Cmd":["echo"]}`)
	var ex struct {
		ID string `json:"Id"`
	}
	json.Unmarshal(b, &ex)
	c = inspect("/v1.41/containers/" + id + "/json")
	if code != 201 || fmt.Sprint(c["ExecIDs"]) != "["+ex.ID+"]" {
		t.Errorf("ExecIDs with an exec created and one exited: %v", c["ExecIDs"])
	}
	for _, k := range []string{"ResolvConfPath", "HostsPath", "HostnamePath", "LogPath"} {
		if p, _ := c[k].(string); !strings.HasPrefix(p, filepath.Join(dir, "root", "containers", id)) {
			t.Errorf("%s once started: %q", k, p)
		}
	}

	old := create("v1.39", `{"Image":"e2e/busybox:1","Cmd":["true"]}`)
	if m := inspect("/v1.39/containers/" + old + "/json")["HostConfig"].(map[string]any)["IpcMode"]; m != "shareable" {
		t.Errorf("IpcMode of a create at API 1.39: %v", m)
	}
	health := create("v1.41", `{"Image":"e2e/busybox:1","Cmd":["sleep","300"],"Healthcheck":{"Test":["CMD","sleep","100"],"Interval":100000000000}}`)
	docker(t, env, "start", health)
	h, _ := json.Marshal(inspect("/v1.41/containers/" + health + "/json")["State"].(map[string]any)["Health"])
	if string(h) != `{"FailingStreak":0,"Log":[],"Status":"starting"}` {
		t.Errorf("State.Health while starting: %s", h)
	}
}
