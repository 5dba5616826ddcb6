package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// kubeletBin is kubelet: HULL_TEST_KUBELET (hack/lib.sh install_kubelet),
// else the tools cache's; the test skips without one.
func kubeletBin(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HULL_TEST_KUBELET"), "/var/cache/hull-tools/kubelet-v1.37.2/kubelet"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("kubelet is not built (hack/lib.sh install_kubelet): skipping the kubelet test")
	return ""
}

// kubeletPod is what the test reads of a pod in kubelet's /pods.
type kubeletPod struct {
	Metadata struct {
		Name, Namespace, UID string
	}
	Status struct {
		Phase      string
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type, Status string
		}
		ContainerStatuses []struct {
			Name         string
			Ready        bool
			RestartCount int
			ContainerID  string `json:"containerID"`
			Image        string
			ImageID      string `json:"imageID"`
			State        map[string]json.RawMessage
		} `json:"containerStatuses"`
		InitContainerStatuses []struct {
			Name  string
			State map[string]json.RawMessage
		} `json:"initContainerStatuses"`
		QOSClass string `json:"qosClass"`
	}
}

// summary is the pod's state in one line: phase, Ready, and each
// container's id, state, readiness and restarts, sorted by name.
func (p kubeletPod) summary() string {
	s := p.Status.Phase
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			s += " Ready=" + c.Status
		}
	}
	var cs []string
	for _, c := range p.Status.ContainerStatuses {
		var states []string
		for k := range c.State {
			states = append(states, k)
		}
		cs = append(cs, fmt.Sprintf("%s[%s %v ready=%v restarts=%d]", c.Name, strings.TrimPrefix(c.ContainerID, "hull://"), states, c.Ready, c.RestartCount))
	}
	sort.Strings(cs)
	return s + " " + strings.Join(cs, " ")
}

func (p kubeletPod) container(name string) (id string, running, ready bool, restarts int) {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == name {
			_, running = c.State["running"]
			return c.ContainerID, running, c.Ready, c.RestartCount
		}
	}
	return "", false, false, -1
}

// waitLong is waitFor with a deadline of its own: kubelet works in
// periods of seconds (its pod sync, probes, back-off, garbage collection
// once a minute).
func waitLong(t *testing.T, d time.Duration, cond func() bool, what string, show ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range show {
				t.Log(f())
			}
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestKubeletOnHull runs a real kubelet (standalone: no API server, a
// static pod from a manifest folder) on hull's CRI socket. The pod has
// two containers that talk over localhost, a readiness probe, a liveness
// probe that fails once (kubelet restarts that container), a host port
// (CNI's portmap) and an emptyDir volume. kubelet's /pods shows it running
// and ready; a restart of hull daemon under kubelet (live-restore) changes
// nothing kubelet sees; deleting the manifest removes the pod and leaves
// nothing: containers, network namespaces, cgroups, mounts, CNI leases.
func TestKubeletOnHull(t *testing.T) {
	requireDockerCLI(t)
	kubelet := kubeletBin(t)
	crictl := crictlBin(t)
	buildShim(t)
	keepHostFromKubelet(t)
	confDir, ipamDir, withCNI := criNetwork(t)
	if !withCNI {
		t.Skip("no CNI plugins (apt-get install containernetworking-plugins): the pod's host port needs them")
	}
	env, dir := hullDaemon(t, "--cni-conf-dir", confDir)
	sock := filepath.Join(dir, "run", "cri.sock")
	cri, _ := criClients(t, crictl, sock)
	loadBusybox(t, env, dir)

	kdir, err := os.MkdirTemp("/var/tmp", "kubelet-e2e")
	if err != nil {
		t.Fatal(err)
	}
	root, manifests, podLogs := filepath.Join(kdir, "root"), filepath.Join(kdir, "manifests"), filepath.Join(kdir, "pod-logs")
	for _, d := range []string{root, manifests, podLogs} {
		os.MkdirAll(d, 0o755)
	}
	// kubelet's cgroup root must exist in every controller; kubelet makes
	// kubepods (and its QoS classes, the pods) under it.
	cgroupRoot := fmt.Sprintf("/hull-kubelet-%d", os.Getpid())
	controllers, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, c := range controllers {
		if _, err := os.Stat(filepath.Join(c, "cgroup.procs")); err == nil {
			os.Mkdir(filepath.Join(c, strings.TrimPrefix(cgroupRoot, "/")), 0o755)
		}
	}
	_, statErr := os.Stat("/var/log/containers")
	hadContainerLogs := statErr == nil
	// Last of all: what kubelet leaves behind — mounts under its root
	// folder, the cgroups it made, its links in /var/log/containers.
	t.Cleanup(func() {
		exec.Command("umount", "-R", "-l", root).Run()
		for _, m := range mountsUnder(t, kdir) {
			exec.Command("umount", "-l", m).Run()
		}
		for _, c := range controllers {
			base := filepath.Join(c, strings.TrimPrefix(cgroupRoot, "/"))
			var dirs []string
			filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				os.Remove(dirs[i])
			}
		}
		links, _ := filepath.Glob("/var/log/containers/*")
		for _, l := range links {
			if dst, err := os.Readlink(l); err == nil && strings.HasPrefix(dst, kdir) {
				os.Remove(l)
			}
		}
		if !hadContainerLogs {
			os.Remove("/var/log/containers")
		}
		showKubeletLog(t, filepath.Join(kdir, "kubelet.log"))
		if t.Failed() {
			kept := fmt.Sprintf("/var/tmp/kubelet-e2e-%d.log", os.Getpid())
			if exec.Command("cp", filepath.Join(kdir, "kubelet.log"), kept).Run() == nil {
				t.Logf("kubelet's whole log is kept in %s", kept)
			}
		}
		os.RemoveAll(kdir)
	})

	port, hostPort := freePort(t), freePort(t)
	node := "hull-e2e-node"
	cfgFile := filepath.Join(kdir, "kubelet.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %s
fileCheckFrequency: 1s
syncFrequency: 5s
podLogsDir: %s
volumePluginDir: %s
cgroupDriver: cgroupfs
cgroupRoot: %s
failCgroupV1: false
failSwapOn: false
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1Mi", nodefs.inodesFree: "1", imagefs.available: "1Mi", imagefs.inodesFree: "1"}
`, manifests, podLogs, filepath.Join(kdir, "volume-plugins"), cgroupRoot, port)), 0o644)

	var once sync.Once
	var kcmd *exec.Cmd
	// teardown stops kubelet and removes its pods through the CRI while
	// hull still runs (registered again after a daemon restart, so that
	// it runs before that daemon stops).
	teardown := func() {
		once.Do(func() {
			if kcmd != nil && kcmd.Process != nil {
				kcmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { kcmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					kcmd.Process.Kill()
					<-done
				}
			}
			args := []string{"--config", "/dev/null", "-r", "unix://" + sock, "-i", "unix://" + sock, "--timeout", "60s"}
			exec.Command(crictl, append(args, "rmp", "-a", "-f")...).Run()
		})
	}
	t.Cleanup(teardown)
	logf, err := os.Create(filepath.Join(kdir, "kubelet.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	startKubelet := func() {
		kcmd = exec.Command(kubelet, "--config", cfgFile, "--root-dir", root, "--container-runtime-endpoint", "unix://"+sock,
			"--hostname-override", node, "-v", "2")
		kcmd.Stdout, kcmd.Stderr = logf, logf
		if err := kcmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	startKubelet()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	podsURL := fmt.Sprintf("https://127.0.0.1:%d/pods", port)
	pods := func() ([]kubeletPod, error) {
		resp, err := client.Get(podsURL)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET /pods: %s: %s", resp.Status, b)
		}
		var l struct{ Items []kubeletPod }
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("GET /pods: %v: %s", err, b)
		}
		return l.Items, nil
	}
	var last string
	pod := func() (kubeletPod, bool) {
		l, err := pods()
		if err != nil {
			last = err.Error()
			return kubeletPod{}, false
		}
		for _, p := range l {
			if p.Metadata.Name == "pair-"+node {
				last = p.summary()
				return p, true
			}
		}
		last = fmt.Sprintf("%d pods, not pair-%s", len(l), node)
		return kubeletPod{}, false
	}
	showLast := func() string { return "kubelet's /pods: " + last }
	waitLong(t, 60*time.Second, func() bool { _, err := pods(); last = fmt.Sprint(err); return err == nil }, "kubelet's server", showLast)

	// The pod: an init container writes the page web serves on
	// port 8080 (its host port; kubelet's readiness probe GETs it on the
	// pod's address; web has resources, so the pod is Burstable); client fetches from it each second; client's liveness
	// fails once, 4 s after its first start (a marker on the pod's
	// emptyDir keeps it from failing again).
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: pair
  namespace: e2e
spec:
  terminationGracePeriodSeconds: 2
  securityContext:
    sysctls:
    - {name: net.ipv4.ip_local_port_range, value: "40000 50000"}
  volumes:
  - name: shared
    emptyDir: {medium: Memory}
  initContainers:
  - name: init
    image: e2e/busybox:1
    imagePullPolicy: Never
    volumeMounts:
    - {name: shared, mountPath: /shared}
    command: ["sh", "-c", "busybox mkdir -p /shared/www && echo served > /shared/www/index.html && echo -n page written > /dev/termination-log"]
  containers:
  - name: web
    image: e2e/busybox:1
    imagePullPolicy: Never
    volumeMounts:
    - {name: shared, mountPath: /shared}
    command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/shared/www"]
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 200m, memory: 64Mi}
    ports:
    - containerPort: 8080
      hostPort: %d
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
  - name: client
    image: e2e/busybox:1
    imagePullPolicy: IfNotPresent
    volumeMounts:
    - {name: shared, mountPath: /shared}
    command: ["sh", "-c", "trap 'exit 0' TERM; busybox touch /tmp/healthy; if [ ! -e /shared/once ]; then busybox touch /shared/once; (sleep 4; busybox rm /tmp/healthy) & fi; while true; do echo got $(busybox wget -qO- http://127.0.0.1:8080/); sleep 1; done"]
    livenessProbe:
      exec: {command: ["busybox", "test", "-f", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 2
`, hostPort)
	// Written beside the folder and renamed in: kubelet watches it and
	// would read a half-written file.
	manifestFile := filepath.Join(manifests, "pair.yaml")
	if err := os.WriteFile(filepath.Join(kdir, "pair.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(kdir, "pair.yaml"), manifestFile); err != nil {
		t.Fatal(err)
	}
	var p kubeletPod
	ready := func() bool {
		var ok bool
		if p, ok = pod(); !ok {
			return false
		}
		_, webRunning, webReady, webRestarts := p.container("web")
		_, cRunning, cReady, cRestarts := p.container("client")
		return webRunning && webReady && webRestarts == 0 && cRunning && cReady && cRestarts >= 1 &&
			strings.Contains(p.summary(), "Running Ready=True")
	}
	waitLong(t, 90*time.Second, ready, "the pod running and ready, client restarted once by its liveness probe", showLast,
		func() string { return cri(0, "ps", "-a") })
	t.Logf("kubelet's /pods: %s", p.summary())
	if resp, err := client.Get(podsURL); err == nil {
		var l struct {
			Items []struct{ Status json.RawMessage }
		}
		json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if len(l.Items) == 1 {
			t.Logf("kubelet's /pods, the pod's status: %s", l.Items[0].Status)
		}
	}
	if _, _, _, r := p.container("client"); r != 1 {
		t.Errorf("client restarted %d times, want 1 (its liveness fails once)", r)
	}
	uid := p.Metadata.UID
	// The image as containerd shows it: its name (not the id kubelet
	// created the container from) and its id (a loaded image has no
	// repository digest).
	imageID := strings.TrimSpace(docker(t, env, "image", "inspect", "-f", "{{.Id}}", "e2e/busybox:1"))
	for _, c := range p.Status.ContainerStatuses {
		if c.Image != "docker.io/e2e/busybox:1" || c.ImageID != imageID {
			t.Errorf("%s's image in kubelet's status: %q %q, want docker.io/e2e/busybox:1 %s", c.Name, c.Image, c.ImageID, imageID)
		}
	}
	// The list says the same, with the image as the pod's spec names it.
	var listed struct {
		Containers []struct {
			Image struct {
				Image, UserSpecifiedImage string
			}
			ImageRef string
		}
	}
	json.Unmarshal([]byte(cri(0, "ps", "-a", "-o", "json")), &listed)
	for _, c := range listed.Containers {
		if c.Image.Image != "docker.io/e2e/busybox:1" || c.Image.UserSpecifiedImage != "e2e/busybox:1" || c.ImageRef != imageID {
			t.Errorf("crictl ps -o json: a container's image %+v", c)
		}
	}
	if len(listed.Containers) != 4 {
		t.Errorf("crictl ps -a -o json: %d containers, want 4 (init, web, client twice)", len(listed.Containers))
	}
	ps := cri(0, "ps", "-a")
	t.Logf("crictl ps -a:\n%s", ps)
	if !regexp.MustCompile(`(?m)\sExited\s+client\s+0\s`).MatchString(ps) || !regexp.MustCompile(`(?m)\sRunning\s+client\s+1\s`).MatchString(ps) ||
		!regexp.MustCompile(`(?m)\sRunning\s+web\s+0\s`).MatchString(ps) {
		t.Errorf("crictl ps -a: want web attempt 0 running, client attempt 0 exited and attempt 1 running")
	}
	if b, _ := os.ReadFile(filepath.Join(kdir, "kubelet.log")); !strings.Contains(string(b), "failed liveness probe, will be restarted") {
		t.Errorf("kubelet's log does not say client failed its liveness probe")
	}
	// The containers are in the pod's cgroup, which kubelet made under
	// its QoS class.
	webID, _, _, _ := p.container("web")
	webID = strings.TrimPrefix(webID, "hull://")
	var webInfo struct{ Info struct{ Pid int } }
	json.Unmarshal([]byte(cri(0, "inspect", webID)), &webInfo)
	podCgroup := cgroupRoot + "/kubepods/burstable/pod" + uid
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", webInfo.Info.Pid)); !strings.Contains(string(b), ":"+podCgroup+"/"+webID+"\n") {
		t.Errorf("web's cgroups (pid %d) are not under the pod's %s:\n%s", webInfo.Info.Pid, podCgroup, b)
	}
	// web's limits, as kubelet asks them: 64 MiB, 200m of a CPU (a
	// quota of 20 ms in 100 ms).
	for f, want := range map[string]string{"memory/" + podCgroup + "/" + webID + "/memory.limit_in_bytes": "67108864",
		"cpu/" + podCgroup + "/" + webID + "/cpu.cfs_quota_us": "20000", "cpu/" + podCgroup + "/" + webID + "/cpu.shares": "102"} {
		if b, err := os.ReadFile("/sys/fs/cgroup/" + f); err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s: %q %v, want %s", f, b, err, want)
		}
	}
	if p.Status.QOSClass != "Burstable" || len(p.Status.InitContainerStatuses) != 1 || !strings.Contains(string(p.Status.InitContainerStatuses[0].State["terminated"]), `"exitCode":0,"reason":"Completed","message":"page written"`) {
		t.Errorf("kubelet's pod status: QoS class %q, init containers %+v", p.Status.QOSClass, p.Status.InitContainerStatuses)
	}
	// What kubelet gives each container: its /etc/hosts, the pod's host
	// name, the termination log file, the volume (a tmpfs kubelet
	// mounted).
	clientID, _, _, _ := p.container("client")
	inClient := cri(0, "exec", "-s", strings.TrimPrefix(clientID, "hull://"), "sh", "-c",
		"hostname; cat /etc/hosts; busybox ls /dev/termination-log; busybox grep ' /shared ' /proc/mounts; cat /proc/sys/net/ipv4/ip_local_port_range")
	for _, want := range []string{"pair-hull-e2e-node\n", "# Kubernetes-managed hosts file", "/dev/termination-log\n", " /shared tmpfs ", "40000\t50000\n"} {
		if !strings.Contains(inClient, want) {
			t.Errorf("in client: no %q in:\n%s", want, inClient)
		}
	}
	// client reached web on localhost: its log (kubelet's pod log folder,
	// the CRI's format).
	logGlob := filepath.Join(podLogs, "e2e_pair-"+node+"_"+uid, "client", "1.log")
	waitLong(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(logGlob)
		return strings.Contains(string(b), " stdout F got served\n")
	},
		"client's log to show web's answer", func() string { b, _ := os.ReadFile(logGlob); return logGlob + ":\n" + string(b) })
	// kubelet serves the logs (kubectl logs' endpoint) from the file
	// hull's shim writes, the previous attempt's too.
	for _, q := range []string{"", "?previous=true"} {
		url := fmt.Sprintf("https://127.0.0.1:%d/containerLogs/e2e/pair-%s/client%s", port, node, q)
		resp, err := client.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "got served\n") {
			t.Errorf("GET %s: %s: %q", url, resp.Status, b)
		}
	}
	// The host port, on the bridge's address (CNI's portmap).
	if m := regexp.MustCompile(`^(10\.219\.\d+)\.\d+$`).FindStringSubmatch(p.Status.PodIP); m == nil {
		t.Errorf("pod IP %q is not on the test's CNI network", p.Status.PodIP)
	} else {
		url := fmt.Sprintf("http://%s.1:%d/", m[1], hostPort)
		resp, err := http.Get(url)
		if err != nil {
			// Another test's criNetwork on this machine removes the nat
			// table it made, portmap's rules with it.
			out, _ := exec.Command("sh", "-c", fmt.Sprintf("nft list tables; (iptables-save -t nat; nft list ruleset) 2>&1 | grep -c %d", hostPort)).Output()
			t.Errorf("the pod's host port: %v (the tables, then how many lines of the firewall name the port: %s)", err, out)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "served\n" {
				t.Errorf("GET %s: %q", url, b)
			}
		}
	}

	// hull daemon restarts under kubelet: the pod goes on, kubelet sees
	// the same containers and sandbox, nothing restarted.
	sandboxes := func() string { return strings.TrimSpace(cri(0, "pods", "-q")) }
	infraPid := func(id string) int {
		var v struct{ Info struct{ Pid int } }
		json.Unmarshal([]byte(cri(0, "inspectp", id)), &v)
		return v.Info.Pid
	}
	sandbox := sandboxes()
	if strings.Count(sandbox, "\n") != 0 || sandbox == "" {
		t.Fatalf("crictl pods -q: %q, want one pod", sandbox)
	}
	before, pidBefore, psBefore := p.summary(), infraPid(sandbox), cri(0, "ps", "-a", "-q")
	signalHullDaemon(t, dir, syscall.SIGINT)
	// The new daemon takes the same CNI configuration from daemon.json.
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(fmt.Sprintf(`{"cni-conf-dir": %q}`, confDir)), 0o644)
	time.Sleep(3 * time.Second) // kubelet finds the runtime gone
	startHullDaemon(t, env, dir)
	t.Cleanup(teardown) // before the new daemon stops
	cri, _ = criClients(t, crictl, sock)
	time.Sleep(15 * time.Second) // kubelet's relists and syncs see the daemon back
	waitLong(t, 30*time.Second, ready, "the pod running and ready after hull's restart", showLast)
	if after := p.summary(); after != before {
		t.Errorf("kubelet's /pods after hull's restart:\n%s\nbefore:\n%s", after, before)
	}
	if s := sandboxes(); s != sandbox {
		t.Errorf("pods after hull's restart: %q, before: %q", s, sandbox)
	}
	if pid := infraPid(sandbox); pid != pidBefore || pid == 0 {
		t.Errorf("the pod's infra pid after hull's restart: %d, before: %d", pid, pidBefore)
	}
	if s := cri(0, "ps", "-a", "-q"); s != psBefore {
		t.Errorf("containers after hull's restart:\n%s\nbefore:\n%s", s, psBefore)
	}

	// kubelet restarts: it finds its pod running on hull and leaves it
	// as it is.
	kcmd.Process.Signal(syscall.SIGTERM)
	kcmd.Wait()
	startKubelet()
	waitLong(t, 60*time.Second, ready, "the pod running and ready after kubelet's restart", showLast)
	time.Sleep(10 * time.Second) // kubelet's first syncs of the pod
	if _, ok := pod(); !ok || last != before {
		t.Errorf("kubelet's /pods after kubelet's restart:\n%s\nbefore:\n%s", last, before)
	}
	if s := sandboxes(); s != sandbox {
		t.Errorf("pods after kubelet's restart: %q, before: %q", s, sandbox)
	}
	if s := cri(0, "ps", "-a", "-q"); s != psBefore {
		t.Errorf("containers after kubelet's restart:\n%s\nbefore:\n%s", s, psBefore)
	}

	// The manifest goes: kubelet stops and removes the pod, and nothing
	// is left.
	os.Remove(manifestFile)
	waitLong(t, 150*time.Second, func() bool {
		l, err := pods()
		return err == nil && len(l) == 0 && sandboxes() == "" && strings.TrimSpace(cri(0, "ps", "-a", "-q")) == ""
	}, "kubelet to remove the pod, its sandbox and its containers", showLast, func() string { return cri(0, "pods") + cri(0, "ps", "-a") })
	if out := docker(t, env, "ps", "-a", "-q"); out != "" {
		t.Errorf("engine containers left: %q", out)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "run", "netns")); len(entries) > 0 {
		t.Errorf("compartments left: %v", entries)
	}
	entries, _ := os.ReadDir(filepath.Join(ipamDir, "e2e"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "10.219.") {
			t.Errorf("CNI address still leased: %s", e.Name())
		}
	}
	waitLong(t, 30*time.Second, func() bool {
		out, _ := exec.Command("sh", "-c", "find /sys/fs/cgroup/*"+cgroupRoot+" -mindepth 3 -type d").Output()
		last = string(out)
		return len(out) == 0
	}, "the pod's cgroups to go", func() string { return "cgroups under kubepods: " + last })
	if out, _ := exec.Command("sh", "-c", "grep -l "+uid+" /proc/[0-9]*/cgroup 2>/dev/null").Output(); len(out) > 0 {
		t.Errorf("processes left in the pod's cgroup: %s", out)
	}
	// kubelet's root folder is a (shared) bind mount of itself while
	// kubelet runs; the pod's volumes were under it.
	for _, m := range mountsUnder(t, kdir) {
		if m != root {
			t.Errorf("mount left: %s", m)
		}
	}
	for _, m := range leftMountsUnder(t, dir) {
		t.Errorf("mount left: %s", m)
	}
	for _, e := range kubeletCRIErrors(t, filepath.Join(kdir, "kubelet.log")) {
		t.Errorf("kubelet: hull answered %s", e)
	}
}

// kubeletCRIErrors are the CRI calls kubelet logs as failed, but for
// those a healthy run has: any call while hull restarts (Unavailable), a
// container's status after its removal (kubelet deletes twice), an exec
// probe past its second on a loaded machine, and the stats calls where
// they are not served yet.
func kubeletCRIErrors(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return nil
	}
	re := regexp.MustCompile(`"(\w+)(?: [\w ]+?)? from (?:runtime|image) service failed" err="rpc error: code = (\w+) desc = ([^"]*)`)
	seen := map[string]bool{}
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		call, code := m[1], m[2]
		switch {
		case code == "Unavailable",
			code == "NotFound" && call == "ContainerStatus",
			code == "DeadlineExceeded" && call == "ExecSync",
			code == "Unimplemented" && strings.Contains(call, "Stats"):
			continue
		}
		if k := call + " " + code; !seen[k] {
			seen[k] = true
			out = append(out, fmt.Sprintf("%s: %s: %s", call, code, m[3]))
		}
	}
	return out
}

// showKubeletLog logs kubelet's errors and warnings (its log is long):
// each message once, with how often it came, in the order first seen.
func showKubeletLog(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var order []string
	count, first := map[string]int{}, map[string]string{}
	msg := regexp.MustCompile(`^[EW]\d{4} [\d:.]+\s+\d+ ([^\]]+\] (?:"[^"]*"|[^=]*))`)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := msg.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k := sc.Text()[:1] + " " + m[1]
		if count[k] == 0 {
			order = append(order, k)
			first[k] = sc.Text()
		}
		count[k]++
	}
	var b strings.Builder
	for _, k := range order {
		l := first[k]
		if len(l) > 400 {
			l = l[:400] + "…"
		}
		fmt.Fprintf(&b, "%4d× %s\n", count[k], l)
	}
	t.Logf("kubelet's errors and warnings (%s), each once:\n%s", path, b.String())
}

// TestCRIPodNetworkWithoutItsConfig: a pod's network is torn down with the
// CNI configuration it was set up with, even when that configuration is
// gone by then (a daemon restarted with another CNI folder — what a
// kubelet test once met): its address is released and its host port
// leaves the firewall.
func TestCRIPodNetworkWithoutItsConfig(t *testing.T) {
	requireDockerCLI(t)
	crictl := crictlBin(t)
	buildShim(t)
	confDir, ipamDir, withCNI := criNetwork(t)
	if !withCNI {
		t.Skip("no CNI plugins (apt-get install containernetworking-plugins)")
	}
	_, dir := hullDaemon(t, "--cni-conf-dir", confDir)
	cri, _ := criClients(t, crictl, filepath.Join(dir, "run", "cri.sock"))
	hostPort := freePort(t)
	podJSON := filepath.Join(dir, "pod.json")
	os.WriteFile(podJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"p1","namespace":"e2e","uid":"uid-gone"},
		"port_mappings":[{"container_port":8080,"host_port":%d}],"linux":{}}`, hostPort)), 0o644)
	pod := strings.TrimSpace(cri(0, "runp", podJSON))
	t.Cleanup(func() {
		exec.Command(crictl, "--config", "/dev/null", "-r", "unix://"+filepath.Join(dir, "run", "cri.sock"), "rmp", "-f", pod).Run()
	})
	leases := func() []string {
		var out []string
		entries, _ := os.ReadDir(filepath.Join(ipamDir, "e2e"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "10.219.") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	firewall := func() string {
		out, _ := exec.Command("sh", "-c", "iptables-save -t nat 2>/dev/null; nft list ruleset 2>/dev/null").Output()
		return string(out)
	}
	if l := leases(); len(l) != 1 || !strings.Contains(firewall(), fmt.Sprint(hostPort)) {
		t.Fatalf("the pod's lease %v and host port %d (in the firewall: %v)", l, hostPort, strings.Contains(firewall(), fmt.Sprint(hostPort)))
	}
	if err := os.Rename(confDir, confDir+".away"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Rename(confDir+".away", confDir) })
	if out := cri(0, "info"); !strings.Contains(out, "no network config found in "+confDir) {
		t.Errorf("crictl info without the configuration:\n%s", out)
	}
	cri(0, "stopp", pod)
	if l := leases(); len(l) != 0 {
		t.Errorf("CNI addresses still leased after stopp without the configuration: %v", l)
	}
	if strings.Contains(firewall(), fmt.Sprint(hostPort)) {
		t.Errorf("the pod's host port %d is still in the firewall after stopp without the configuration", hostPort)
	}
	cri(0, "rmp", pod)
	if entries, _ := os.ReadDir(filepath.Join(dir, "run", "cri", "cni-cache")); len(entries) > 0 {
		var names []string
		filepath.WalkDir(filepath.Join(dir, "run", "cri", "cni-cache"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return nil
		})
		if len(names) > 0 {
			t.Errorf("CNI cache left: %v", names)
		}
	}
}
