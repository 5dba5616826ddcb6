package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// crictlBin is crictl: HULL_TEST_CRICTL (hack/lib.sh install_crictl), else
// the tools cache's, else PATH's; the test skips without one.
func crictlBin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HULL_TEST_CRICTL"), "/var/cache/hull-tools/crictl-v1.34.0/crictl"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("crictl"); err == nil {
		return p
	}
	t.Skip("crictl is not built (hack/lib.sh install_crictl): skipping the CRI test")
	return ""
}

// authRegistry serves go-containerregistry's registry on loopback behind
// basic authentication (user/pass) and returns its host:port.
func authRegistry(t *testing.T) string {
	t.Helper()
	reg := registry.New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
			w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// criNetwork writes a CNI configuration for the test's pods — a bridge of
// its own, host-local addresses in a folder of its own — when the CNI
// plugins are installed, and removes the bridge after the test.
func criNetwork(t *testing.T) (confDir, ipamDir string, withCNI bool) {
	t.Helper()
	cniDir := t.TempDir()
	ipamDir = filepath.Join(cniDir, "ipam")
	confDir = filepath.Join(cniDir, "net.d")
	bridge := fmt.Sprintf("hcri%d", os.Getpid()%10000)
	for _, d := range []string{"/opt/cni/bin", "/usr/lib/cni"} {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			withCNI = true
		}
	}
	os.MkdirAll(confDir, 0o755)
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"e2e","plugins":[{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,
		"ipam":{"type":"host-local","ranges":[[{"subnet":"10.219.%d.0/24"}]],"dataDir":%q}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
		bridge, os.Getpid()%200+20, ipamDir)
	if withCNI {
		if err := os.WriteFile(filepath.Join(confDir, "10-e2e.conflist"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("no CNI plugins (apt-get install containernetworking-plugins): the pod gets a network namespace with its loopback only")
	}
	// CNI's portmap makes iptables' nat tables (its CNI-HOSTPORT-*
	// chains) and leaves them for the next pod: gone after the test
	// when they were not there before it.
	var made []string
	for _, fam := range []string{"ip", "ip6"} {
		if exec.Command("nft", "list", "table", fam, "nat").Run() != nil {
			made = append(made, fam)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", bridge).Run()
		for _, fam := range made {
			exec.Command("nft", "delete", "table", fam, "nat").Run()
		}
	})
	return confDir, ipamDir, withCNI
}

// criClients waits for the CRI socket and returns crictl on it (the exit
// status wanted, then crictl's arguments) and a gRPC connection to it.
func criClients(t *testing.T, crictl, sock string) (func(want int, args ...string) string, *grpc.ClientConn) {
	t.Helper()
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil }, "the CRI socket "+sock)
	cri := func(want int, args ...string) string {
		t.Helper()
		return run(t, want, nil, crictl, append([]string{"--config", "/dev/null", "-r", "unix://" + sock, "-i", "unix://" + sock, "--timeout", "60s"}, args...)...)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cri, conn
}

// TestCRIWithCrictl drives hull's CRI socket with crictl end to end —
// version, info, pull (by tag with credentials, by digest) from a registry
// on loopback, images, inspecti, a pod on a CNI bridge (runp, inspectp),
// a container in it (create, start, ps, logs in the CRI format, exec -s,
// an exec past its timeout, stop, rm), stopp, rmp, rmi — and the CRI's
// rules through a gRPC client: NotFound for unknown ids, idempotent stop
// and remove, an unknown runtime handler refused, NetworkReady false
// without a CNI configuration. Nothing is left: containers, mounts,
// cgroups, processes, CNI addresses.
func TestCRIWithCrictl(t *testing.T) {
	requireDockerCLI(t)
	crictl := crictlBin(t)
	buildShim(t)
	confDir, ipamDir, withCNI := criNetwork(t)
	env, dir := hullDaemon(t, "--cni-conf-dir", confDir)
	sock := filepath.Join(dir, "run", "cri.sock")
	cri, conn := criClients(t, crictl, sock)
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx := context.Background()

	// version, info
	if out := cri(0, "version"); !strings.Contains(out, "RuntimeName:  hull") || !strings.Contains(out, "RuntimeApiVersion:  v1") {
		t.Errorf("crictl version:\n%s", out)
	}
	var info struct {
		Status struct {
			Conditions []struct {
				Type, Reason, Message string
				Status                bool
			}
		}
	}
	if err := json.Unmarshal([]byte(cri(0, "info")), &info); err != nil {
		t.Fatal(err)
	}
	conds := map[string]bool{}
	for _, c := range info.Status.Conditions {
		conds[c.Type] = c.Status
	}
	if !conds["RuntimeReady"] || conds["NetworkReady"] != withCNI {
		t.Errorf("crictl info conditions: %+v (CNI plugins: %v)", info.Status.Conditions, withCNI)
	}
	// Without a configuration the network is not ready, and says why.
	os.Rename(confDir, confDir+".away")
	st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
	os.Rename(confDir+".away", confDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.Conditions {
		if c.Type == runtimeapi.NetworkReady && (c.Status || c.Reason != "NetworkPluginNotReady" || !strings.HasSuffix(c.Message, "no network config found in "+confDir)) {
			t.Errorf("NetworkReady without a CNI config: %+v", c)
		}
	}
	if r, err := rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{}); err != nil || r.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("RuntimeConfig: %v %v", r, err)
	}

	// An image on a registry on loopback, behind credentials.
	reg := authRegistry(t)
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "e2e/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "e2e/busybox:1")
	tag, err := name.NewTag("e2e/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg + "/e2e/busybox:1"
	dst, _ := name.NewTag(ref)
	if err := remote.Write(dst, img, remote.WithAuth(&authn.Basic{Username: "user", Password: "pass"})); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	cfgName, _ := img.ConfigName()
	imageID := cfgName.String()

	run(t, 1, nil, crictl, "--config", "/dev/null", "-r", "unix://"+sock, "-i", "unix://"+sock, "pull", ref) // no credentials
	if out := cri(0, "pull", "--creds", "user:pass", ref); !strings.Contains(out, imageID) {
		t.Errorf("crictl pull answered %q, want the config digest %s", out, imageID)
	}
	byDigest := reg + "/e2e/busybox@" + digest.String()
	if out := cri(0, "pull", "--creds", "user:pass", byDigest); !strings.Contains(out, imageID) {
		t.Errorf("crictl pull by digest answered %q, want %s", out, imageID)
	}
	if out := cri(0, "images", "--digests", "--no-trunc"); !strings.Contains(out, reg+"/e2e/busybox") || !strings.Contains(out, imageID) || strings.Contains(out, "hull.internal") {
		t.Errorf("crictl images:\n%s", out)
	}
	var want string
	for _, r := range []string{ref, imageID, byDigest} {
		got := cri(0, "inspecti", r)
		if want == "" {
			want = got
		} else if got != want {
			t.Errorf("crictl inspecti %s:\n%s\nwant, as by tag:\n%s", r, got, want)
		}
	}
	if !strings.Contains(want, `"id": "`+imageID+`"`) || !strings.Contains(want, `"`+ref+`"`) || !strings.Contains(want, `"`+byDigest+`"`) {
		t.Errorf("crictl inspecti:\n%s", want)
	}
	fsinfo := cri(0, "imagefsinfo")
	if !strings.Contains(fsinfo, `"mountpoint": "/`) {
		t.Errorf("crictl imagefsinfo:\n%s", fsinfo)
	}

	// A pod and a container in it.
	logDir := filepath.Join(dir, "pods", "p1")
	podJSON := filepath.Join(dir, "pod.json")
	hostPort := freePort(t)
	// The pod's cgroup parent is kubelet's to make and remove: here the
	// test's.
	cgroupParent := fmt.Sprintf("/hull-e2e-%d", os.Getpid())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupParent)
		more, _ := filepath.Glob("/sys/fs/cgroup" + cgroupParent)
		for _, d := range append(dirs, more...) {
			os.Remove(d)
		}
	})
	os.WriteFile(podJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"p1","namespace":"e2e","uid":"uid-1","attempt":0},
		"hostname":"podhost","log_directory":%q,"labels":{"app":"e2e"},"dns_config":{"servers":["10.0.0.53"],"searches":["e2e.local"]},
		"port_mappings":[{"container_port":8080,"host_port":%d}],"linux":{"cgroup_parent":%q}}`, logDir, hostPort, cgroupParent)), 0o644)
	ctrJSON := filepath.Join(dir, "ctr.json")
	os.WriteFile(ctrJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"c1"},"image":{"image":%q},
		"command":["/bin/sh","-c","echo hello; echo oops >&2; echo -n partial; trap 'exit 0' TERM; while true; do sleep 1; done"],
		"envs":[{"key":"GREETING","value":"hi"}],"log_path":"c1/0.log","labels":{"c":"1"},"linux":{}}`, ref)), 0o644)
	pod := strings.TrimSpace(cri(0, "runp", podJSON))
	if out := cri(0, "pods", "--label", "app=e2e", "-q"); strings.TrimSpace(out) != pod {
		t.Errorf("crictl pods -q: %q, want %s", out, pod)
	}
	if out := cri(0, "pods"); !strings.Contains(out, "Ready") || !strings.Contains(out, "p1") {
		t.Errorf("crictl pods:\n%s", out)
	}
	podStatus := cri(0, "inspectp", pod)
	if withCNI && !regexp.MustCompile(`"ip": "10\.219\.\d+\.\d+"`).MatchString(podStatus) {
		t.Errorf("crictl inspectp: no address on the CNI network:\n%s", podStatus)
	}
	if !strings.Contains(podStatus, `"state": "SANDBOX_READY"`) {
		t.Errorf("crictl inspectp:\n%s", podStatus)
	}
	ctr := strings.TrimSpace(cri(0, "create", pod, ctrJSON, podJSON))
	if out := cri(0, "ps", "-a", "--pod", pod); !strings.Contains(out, "Created") {
		t.Errorf("crictl ps -a:\n%s", out)
	}
	cri(0, "start", ctr)
	if out := cri(0, "ps", "--label", "c=1", "-q"); strings.TrimSpace(out) != ctr {
		t.Errorf("crictl ps --label c=1 -q: %q, want %s", out, ctr)
	}
	logFile := filepath.Join(logDir, "c1", "0.log")
	// stdout and stderr are two pipes: either line may come first.
	waitFor(t, func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "oops") && strings.Contains(string(b), "hello")
	}, "the container's CRI log", func() string { b, _ := os.ReadFile(logFile); return string(b) })
	b, _ := os.ReadFile(logFile)
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (stdout|stderr) (F|P) (.*)$`)
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("log line %q is not in the CRI format", l)
			continue
		}
		got[m[1]+" "+m[2]+" "+m[3]] = true
	}
	if !got["stdout F hello"] || !got["stderr F oops"] {
		t.Errorf("CRI log %s:\n%s", logFile, b)
	}
	if out := cri(0, "logs", ctr); !strings.Contains(out, "hello") {
		t.Errorf("crictl logs: %q", out)
	}
	if out := cri(0, "exec", "-s", ctr, "sh", "-c", "hostname; echo $GREETING; cat /etc/resolv.conf"); !strings.Contains(out, "podhost\nhi\n") ||
		!strings.Contains(out, "10.0.0.53") || !strings.Contains(out, "e2e.local") {
		t.Errorf("crictl exec -s: %q", out)
	}
	// The container shares the pod's network, IPC and UTS namespaces.
	pidOf := func(what string, args ...string) int {
		var v struct{ Info struct{ Pid int } }
		if err := json.Unmarshal([]byte(cri(0, args...)), &v); err != nil || v.Info.Pid == 0 {
			t.Fatalf("%s: no pid (%v)", what, err)
		}
		return v.Info.Pid
	}
	infraPid, ctrPid := pidOf("the pod", "inspectp", pod), pidOf("the container", "inspect", ctr)
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ctrPid)); !strings.Contains(string(b), cgroupParent+"/"+ctr+"\n") {
		t.Errorf("the container's cgroups are not under the pod's cgroup parent %s:\n%s", cgroupParent, b)
	}
	for _, ns := range []string{"net", "ipc", "uts"} {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", infraPid, ns))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", ctrPid, ns))
		if a == "" || a != b {
			t.Errorf("%s namespace: the pod's %q, the container's %q", ns, a, b)
		}
	}
	// A second container in the pod serves on 8080: the first reaches it
	// on localhost, the node through the pod's host port (CNI's portmap).
	webJSON := filepath.Join(dir, "web.json")
	os.WriteFile(webJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"web"},"image":{"image":%q},"linux":{},
		"command":["busybox","sh","-c","mkdir -p /www && echo served > /www/index.html && exec busybox httpd -f -p 8080 -h /www"]}`, ref)), 0o644)
	web := strings.TrimSpace(cri(0, "create", pod, webJSON, podJSON))
	cri(0, "start", web)
	waitFor(t, func() bool {
		r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"busybox", "wget", "-qO-", "http://127.0.0.1:8080/"}, Timeout: 5})
		return err == nil && string(r.Stdout) == "served\n"
	}, "the pod's web container on localhost")
	if withCNI {
		m := regexp.MustCompile(`"ip": "(10\.219\.\d+)\.\d+"`).FindStringSubmatch(podStatus)
		gw := m[1] + ".1" // the bridge's address, one of the node's
		url := fmt.Sprintf("http://%s:%d/", gw, hostPort)
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("the pod's host port: %v", err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "served\n" {
				t.Errorf("GET %s: %q", url, b)
			}
		}
	}

	// hull diag list shows the pod beside its container.
	diag := diagList(t, dir)
	if !regexp.MustCompile(`(?m)^`+pod+`\s+running\s.*\ssandbox:e2e/p1$`).MatchString(diag) ||
		!regexp.MustCompile(`(?m)^`+ctr+`\s+running\s.*\s`+pod[:12]+`/c1$`).MatchString(diag) {
		t.Errorf("hull diag list:\n%s", diag)
	}
	if withCNI {
		if out := cri(0, "exec", "-s", ctr, "busybox", "ip", "-4", "addr", "show", "eth0"); !strings.Contains(out, "10.219.") {
			t.Errorf("the container is not on the pod's network: %q", out)
		}
	}
	r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil || string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" || r.ExitCode != 3 {
		t.Errorf("ExecSync: %v %v", r, err)
	}
	start := time.Now()
	_, err = rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"sleep", "30"}, Timeout: 1})
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 10*time.Second {
		t.Errorf("ExecSync past its timeout: %v after %s, want DeadlineExceeded after about 1 s", err, time.Since(start))
	}
	if out := cri(0, "exec", "-s", ctr, "busybox", "ps"); strings.Contains(out, "sleep 30") {
		t.Errorf("the timed-out exec still runs:\n%s", out)
	}
	// Log rotation: the log moved away, reopened, a new file at once.
	os.Rename(logFile, logFile+".1")
	cri(0, "logs", "-r", ctr)
	if _, err := os.Stat(logFile); err != nil {
		t.Errorf("ReopenContainerLog returned before the new log existed: %v", err)
	}

	// The CRI's rules through its gRPC client.
	unknown := strings.Repeat("0", 64)
	for what, err := range map[string]error{
		"ContainerStatus": func() error {
			_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: unknown})
			return err
		}(),
		"PodSandboxStatus": func() error {
			_, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: unknown})
			return err
		}(),
		"StartContainer": func() error {
			_, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: unknown})
			return err
		}(),
		"ExecSync": func() error {
			_, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: unknown, Cmd: []string{"true"}})
			return err
		}(),
		"ReopenContainerLog": func() error {
			_, err := rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: unknown})
			return err
		}(),
		"CreateContainer": func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: unknown, Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "x"}, Image: &runtimeapi.ImageSpec{Image: ref}}})
			return err
		}(),
		"ContainerStatus of a pod": func() error {
			_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: pod})
			return err
		}(),
	} {
		if status.Code(err) != codes.NotFound {
			t.Errorf("%s of an unknown id: %v, want NotFound", what, err)
		}
	}
	for what, err := range map[string]error{
		"StopContainer": func() error {
			_, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: unknown})
			return err
		}(),
		"RemoveContainer": func() error {
			_, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: unknown})
			return err
		}(),
		"StopPodSandbox": func() error {
			_, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: unknown})
			return err
		}(),
		"RemovePodSandbox": func() error {
			_, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: unknown})
			return err
		}(),
	} {
		if err != nil {
			t.Errorf("%s of an unknown id: %v, want no error", what, err)
		}
	}
	if _, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{RuntimeHandler: "no-such-handler",
		Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p2", Namespace: "e2e", Uid: "uid-2"}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RunPodSandbox with an unknown runtime handler: %v, want InvalidArgument", err)
	}

	// stop (its timeout), rm, stopp, rmp; a second pod with a running
	// container goes with rmp alone.
	start = time.Now()
	cri(0, "stop", "--timeout", "20", ctr)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("crictl stop took %s: the container's TERM trap should end it at once", d)
	}
	if out := cri(0, "inspect", ctr); !strings.Contains(out, `"state": "CONTAINER_EXITED"`) || !strings.Contains(out, `"exitCode": 0`) {
		t.Errorf("crictl inspect after stop:\n%s", out)
	}
	cri(0, "rm", ctr)
	cri(0, "stopp", pod)
	if out := cri(0, "pods"); !strings.Contains(out, "NotReady") {
		t.Errorf("crictl pods after stopp:\n%s", out)
	}
	cri(0, "rmp", pod)
	if out, _ := exec.Command("sh", "-c", "iptables-save -t nat 2>/dev/null; nft list ruleset 2>/dev/null").Output(); withCNI && strings.Contains(string(out), fmt.Sprint(hostPort)) {
		t.Errorf("the pod's host port %d is still in the firewall:\n%s", hostPort, out)
	}
	pod2JSON := filepath.Join(dir, "pod2.json")
	// A second pod on the node's network, its container in the pod's
	// PID namespace, goes with RemovePodSandbox alone while it runs.
	os.WriteFile(pod2JSON, []byte(`{"metadata":{"name":"p2","namespace":"e2e","uid":"uid-2"},
		"linux":{"security_context":{"namespace_options":{"network":2}}}}`), 0o644)
	pod2 := strings.TrimSpace(cri(0, "runp", pod2JSON))
	os.WriteFile(ctrJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"c2"},"image":{"image":%q},"command":["sleep","1000"],
		"linux":{"security_context":{"namespace_options":{"pid":0}}}}`, imageID)), 0o644)
	ctr2 := strings.TrimSpace(cri(0, "create", pod2, ctrJSON, pod2JSON))
	cri(0, "start", ctr2)
	if out := cri(0, "exec", "-s", ctr2, "busybox", "ps"); !strings.Contains(out, "/hull-infra pause") {
		t.Errorf("a container in the pod's PID namespace does not see the infra process:\n%s", out)
	}
	if node, _ := os.Hostname(); strings.TrimSpace(cri(0, "exec", "-s", ctr2, "hostname")) != node {
		t.Errorf("a pod on the node's network: hostname is not the node's %q", node)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if out := cri(0, "exec", "-s", ctr2, "busybox", "readlink", "/proc/self/ns/net"); strings.TrimSpace(out) != hostNet {
		t.Errorf("a pod on the node's network: the container's %q, the node's %q", out, hostNet)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod2}); err != nil {
		t.Errorf("RemovePodSandbox of a running pod: %v", err)
	}
	if out := cri(0, "pods", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("pods left: %q", out)
	}
	if out := cri(0, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %q", out)
	}
	if out := docker(t, env, "ps", "-a", "-q"); out != "" {
		t.Errorf("engine containers left: %q", out)
	}

	// rmi drops every tag; an image already gone is no error.
	cri(0, "rmi", imageID)
	if out := cri(0, "images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images left after rmi: %q", out)
	}
	irt := runtimeapi.NewImageServiceClient(conn)
	if _, err := irt.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: imageID}}); err != nil {
		t.Errorf("RemoveImage of an image already gone: %v", err)
	}
	if s, err := irt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil || s.Image != nil {
		t.Errorf("ImageStatus of a removed image: %v %v, want none and no error", s, err)
	}

	// Nothing left: processes, cgroups, CNI addresses, network namespaces.
	for _, id := range []string{pod, ctr, web, pod2, ctr2} {
		if out, _ := exec.Command("sh", "-c", "grep -l "+id+" /proc/[0-9]*/cgroup 2>/dev/null").Output(); len(out) > 0 {
			t.Errorf("processes left in %s's cgroup: %s", id, out)
		}
		if out, _ := exec.Command("sh", "-c", "find /sys/fs/cgroup -maxdepth 4 -type d -name '*"+id+"*'").Output(); len(out) > 0 {
			t.Errorf("cgroup left for %s: %s", id, out)
		}
	}
	if withCNI {
		entries, _ := os.ReadDir(filepath.Join(ipamDir, "e2e"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "10.219.") {
				t.Errorf("CNI address still leased: %s", e.Name())
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "run", "netns")); len(entries) > 0 {
		t.Errorf("compartments left: %v", entries)
	}
}

// TestCRIPodAcrossDaemonRestart: a pod and its container keep running
// while hull daemon restarts (live-restore): the same processes, address,
// namespaces; the CRI lists and drives them again, their log goes on, and
// the new daemon takes daemon.json's cri-socket and cni-conf-dir.
func TestCRIPodAcrossDaemonRestart(t *testing.T) {
	requireDockerCLI(t)
	crictl := crictlBin(t)
	buildShim(t)
	confDir, ipamDir, withCNI := criNetwork(t)
	env, dir := hullDaemon(t, "--cni-conf-dir", confDir)
	cri, _ := criClients(t, crictl, filepath.Join(dir, "run", "cri.sock"))
	loadBusybox(t, env, dir)
	logDir := filepath.Join(dir, "pods", "p1")
	podJSON := filepath.Join(dir, "pod.json")
	os.WriteFile(podJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"p1","namespace":"e2e","uid":"uid-r"},"log_directory":%q,"linux":{}}`, logDir)), 0o644)
	ctrJSON := filepath.Join(dir, "ctr.json")
	os.WriteFile(ctrJSON, []byte(`{"metadata":{"name":"ticker"},"image":{"image":"e2e/busybox:1"},"log_path":"ticker.log",
		"command":["sh","-c","i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"],"linux":{}}`), 0o644)
	pod := strings.TrimSpace(cri(0, "runp", podJSON))
	ctr := strings.TrimSpace(cri(0, "create", pod, ctrJSON, podJSON))
	cri(0, "start", ctr)
	state := func() string {
		var p struct {
			Info   struct{ Pid int }
			Status struct {
				State   string
				Network struct{ IP string }
			}
		}
		var c struct {
			Info   struct{ Pid int }
			Status struct{ State string }
		}
		json.Unmarshal([]byte(cri(0, "inspectp", pod)), &p)
		json.Unmarshal([]byte(cri(0, "inspect", ctr)), &c)
		return fmt.Sprintf("pod %s pid %d ip %q; container %s pid %d", p.Status.State, p.Info.Pid, p.Status.Network.IP, c.Status.State, c.Info.Pid)
	}
	before := state()
	if !strings.Contains(before, "SANDBOX_READY") || !strings.Contains(before, "CONTAINER_RUNNING") || withCNI && strings.Contains(before, `ip ""`) {
		t.Fatalf("before the restart: %s", before)
	}

	signalHullDaemon(t, dir, syscall.SIGTERM)
	moved := filepath.Join(dir, "moved-cri.sock")
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(fmt.Sprintf(`{"cri-socket": "unix://%s", "cni-conf-dir": %q}`, moved, confDir)), 0o644)
	logFile := filepath.Join(logDir, "ticker.log")
	st, _ := os.Stat(logFile)
	startHullDaemon(t, env, dir)
	cri, conn := criClients(t, crictl, moved)
	if after := state(); after != before {
		t.Errorf("after the restart: %s\nbefore: %s", after, before)
	}
	// A pod that names no hostname has the node's, as containerd gives it.
	if node, _ := os.Hostname(); strings.TrimSpace(cri(0, "exec", "-s", ctr, "hostname")) != node {
		t.Errorf("exec hostname after the restart: want the node's, %q", node)
	}
	waitFor(t, func() bool { s2, err := os.Stat(logFile); return err == nil && s2.Size() > st.Size()+100 }, "the log to go on")
	st2, _ := rt(conn).Status(context.Background(), &runtimeapi.StatusRequest{})
	for _, c := range st2.GetStatus().GetConditions() {
		if c.Type == runtimeapi.NetworkReady && c.Status != withCNI {
			t.Errorf("NetworkReady after the restart (daemon.json's cni-conf-dir): %+v", c)
		}
	}
	cri(0, "stopp", pod)
	cri(0, "rmp", pod)
	if out := cri(0, "pods", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("pods left: %q", out)
	}
	if withCNI {
		entries, _ := os.ReadDir(filepath.Join(ipamDir, "e2e"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "10.219.") {
				t.Errorf("CNI address still leased: %s", e.Name())
			}
		}
	}
}

func rt(conn *grpc.ClientConn) runtimeapi.RuntimeServiceClient {
	return runtimeapi.NewRuntimeServiceClient(conn)
}
