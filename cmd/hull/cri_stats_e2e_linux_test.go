package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCRIStatsAndResources: the CRI's stats and resource updates end to
// end. A container that holds memory and burns a CPU shows plausible
// numbers through ContainerStats, ListContainerStats (and its filters),
// PodSandboxStats, ListPodSandboxStats, crictl stats and crictl statsp;
// its writable layer grows when it writes a file; the pod shows its
// processes and its network interface. UpdateContainerResources changes
// the container's cgroup files and its record (ContainerStatus, docker
// inspect), which a daemon restart and a container restart keep;
// UpdatePodSandboxResources is recorded. Everything is removed after.
func TestCRIStatsAndResources(t *testing.T) {
	requireDockerCLI(t)
	crictl := crictlBin(t)
	buildShim(t)
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err != nil {
		t.Skip("the test reads cgroup v1's files (/sys/fs/cgroup/cpu/...)")
	}
	confDir, _, withCNI := criNetwork(t)
	env, dir := hullDaemon(t, "--cni-conf-dir", confDir)
	sock := filepath.Join(dir, "run", "cri.sock")
	cri, conn := criClients(t, crictl, sock)
	rts := rt(conn)
	ctx := context.Background()
	loadBusybox(t, env, dir)

	// The pod's cgroup parent is kubelet's to make and remove: here the
	// test's, so that the container's cgroup is at a known place.
	cgroupParent := fmt.Sprintf("/hull-e2e-stats-%d", os.Getpid())
	t.Cleanup(func() {
		// The containers' cgroups under it go as their shims exit: the
		// children first, until none is left.
		deadline := time.Now().Add(10 * time.Second)
		for {
			dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupParent)
			kids, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupParent + "/*/")
			for _, d := range append(kids, dirs...) {
				os.Remove(d)
			}
			if left, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupParent); len(left) == 0 {
				return
			} else if time.Now().After(deadline) {
				t.Errorf("cgroups left: %v", left)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	podJSON := filepath.Join(dir, "pod.json")
	os.WriteFile(podJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"statspod","namespace":"e2e","uid":"uid-stats"},
		"log_directory":%q,"labels":{"app":"stats"},"linux":{"cgroup_parent":%q}}`, filepath.Join(dir, "pods"), cgroupParent)), 0o644)
	pod := strings.TrimSpace(cri(0, "runp", podJSON))
	// kubelet sizes the pod's cgroup: here 1 GiB of memory.
	const podLimit = 1 << 30
	if err := os.WriteFile(filepath.Join("/sys/fs/cgroup/memory", cgroupParent, "memory.limit_in_bytes"), []byte(fmt.Sprint(podLimit)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The burner: 40 MB in the pod's /dev/shm, 30 MB in tail's buffer,
	// a CPU's worth of a busy loop.
	ctrJSON := filepath.Join(dir, "burner.json")
	const memLimit = 512 << 20
	os.WriteFile(ctrJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"burner"},"image":{"image":"e2e/busybox:1"},"labels":{"role":"burner"},"log_path":"burner.log",
		"command":["sh","-c","bb=/bin/busybox; $bb head -c 40000000 /dev/zero > /dev/shm/fill; (while :; do :; done) & ($bb head -c 30000000 /dev/zero; sleep 100000) | $bb tail -c 30000000 > /dev/null & sleep 1; $bb touch /tmp/ready; sleep 100000"],
		"linux":{"resources":{"memory_limit_in_bytes":%d}}}`, memLimit)), 0o644)
	ctr := strings.TrimSpace(cri(0, "create", pod, ctrJSON, podJSON))
	cri(0, "start", ctr)
	// A second container, created only: listed with its writable layer,
	// without CPU or memory.
	idleJSON := filepath.Join(dir, "idle.json")
	os.WriteFile(idleJSON, []byte(`{"metadata":{"name":"idle"},"image":{"image":"e2e/busybox:1"},"labels":{"role":"idle"},"command":["true"],"linux":{}}`), 0o644)
	idle := strings.TrimSpace(cri(0, "create", pod, idleJSON, podJSON))
	waitFor(t, func() bool {
		r, err := rts.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"sh", "-c", "test -e /tmp/ready"}, Timeout: 10})
		return err == nil && r.ExitCode == 0
	}, "the burner to hold its memory", func() string {
		r, err := rts.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"busybox", "ls", "-l", "/tmp", "/dev/shm"}, Timeout: 10})
		return fmt.Sprintf("%v %v\n%s", r, err, cri(0, "inspect", ctr))
	})

	stats := func(id string) *runtimeapi.ContainerStats {
		t.Helper()
		r, err := rts.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
		if err != nil {
			t.Fatalf("ContainerStats %s: %v", id, err)
		}
		return r.Stats
	}

	// CPU: usage_nano_cores from the previous sample, about a core.
	s1 := stats(ctr)
	time.Sleep(2 * time.Second)
	s2 := stats(ctr)
	if s1.GetCpu().GetUsageCoreNanoSeconds().GetValue() == 0 || s2.Cpu.UsageCoreNanoSeconds.Value <= s1.Cpu.UsageCoreNanoSeconds.Value {
		t.Errorf("CPU usage: %v then %v", s1.GetCpu(), s2.GetCpu())
	}
	if s2.Cpu.Timestamp-s1.Cpu.Timestamp < int64(time.Second) || s2.Cpu.Timestamp > time.Now().UnixNano() {
		t.Errorf("CPU timestamps %d, %d: not nanoseconds of now", s1.Cpu.Timestamp, s2.Cpu.Timestamp)
	}
	want := float64(s2.Cpu.UsageCoreNanoSeconds.Value-s1.Cpu.UsageCoreNanoSeconds.Value) / float64(s2.Cpu.Timestamp-s1.Cpu.Timestamp) * 1e9
	if nc := s2.Cpu.GetUsageNanoCores(); nc == nil || nc.Value < 1e8 || nc.Value > uint64(runtime.NumCPU())*11e8 ||
		float64(nc.Value) < want*0.95 || float64(nc.Value) > want*1.05 {
		t.Errorf("usage_nano_cores %v: want about %.0f, a busy loop's share of a core", nc, want)
	}
	// Memory: the working set is the usage less the inactive file cache,
	// at least what the burner holds; available is the limit less it.
	m := s2.GetMemory()
	if m.GetWorkingSetBytes().GetValue() < 60<<20 || m.UsageBytes.Value < m.WorkingSetBytes.Value || m.UsageBytes.Value > memLimit ||
		m.GetRssBytes().GetValue() < 25<<20 || m.GetPageFaults().GetValue() == 0 || m.Timestamp != s2.Cpu.Timestamp {
		t.Errorf("memory: %v", m)
	}
	if m.GetAvailableBytes() == nil || m.AvailableBytes.Value+m.WorkingSetBytes.Value != memLimit {
		t.Errorf("available bytes %v + working set %d: want the limit %d", m.GetAvailableBytes(), m.WorkingSetBytes.Value, memLimit)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.usage_in_bytes"); err == nil && s2.GetSwap().GetSwapUsageBytes() == nil {
		t.Errorf("swap is accounted on this host but not shown: %v", s2.GetSwap())
	}

	// The writable layer: its file system is the image file system; a
	// file written in the container makes it grow.
	var fsinfo struct {
		Status struct {
			ImageFilesystems []struct{ FsId struct{ Mountpoint string } }
		}
	}
	json.Unmarshal([]byte(cri(0, "imagefsinfo")), &fsinfo)
	wl := s2.GetWritableLayer()
	if wl == nil || len(fsinfo.Status.ImageFilesystems) == 0 || wl.GetFsId().GetMountpoint() != fsinfo.Status.ImageFilesystems[0].FsId.Mountpoint ||
		wl.GetInodesUsed().GetValue() == 0 || wl.Timestamp == 0 {
		t.Errorf("writable layer %v; image file systems %+v", wl, fsinfo.Status.ImageFilesystems)
	}
	if r, err := rts.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"sh", "-c", "busybox mkdir /grow && busybox head -c 3000000 /dev/urandom > /grow/file"}, Timeout: 30}); err != nil || r.ExitCode != 0 {
		t.Fatalf("writing a file: %v %v", r, err)
	}
	wl2 := stats(ctr).GetWritableLayer()
	if wl2.GetUsedBytes().GetValue() < wl.GetUsedBytes().GetValue()+3000000 || wl2.GetInodesUsed().GetValue() < wl.GetInodesUsed().GetValue()+2 {
		t.Errorf("writable layer after writing 3 MB in a new folder: %v, before %v", wl2, wl)
	}

	// ListContainerStats and its filters.
	list := func(f *runtimeapi.ContainerStatsFilter) map[string]*runtimeapi.ContainerStats {
		t.Helper()
		r, err := rts.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: f})
		if err != nil {
			t.Fatalf("ListContainerStats %v: %v", f, err)
		}
		out := map[string]*runtimeapi.ContainerStats{}
		for _, s := range r.Stats {
			out[s.GetAttributes().GetId()] = s
		}
		return out
	}
	all := list(nil)
	if len(all) != 2 || all[ctr].GetCpu() == nil || all[ctr].GetAttributes().GetMetadata().GetName() != "burner" || all[ctr].Attributes.Labels["role"] != "burner" {
		t.Errorf("ListContainerStats: %v", all)
	}
	if s := all[idle]; s == nil || s.Cpu != nil || s.Memory != nil || s.GetWritableLayer().GetInodesUsed() == nil {
		t.Errorf("a created container's stats: %v", s)
	}
	for _, c := range []struct {
		f    *runtimeapi.ContainerStatsFilter
		want []string
	}{
		{&runtimeapi.ContainerStatsFilter{Id: ctr[:12]}, []string{ctr}},
		{&runtimeapi.ContainerStatsFilter{PodSandboxId: pod}, []string{ctr, idle}},
		{&runtimeapi.ContainerStatsFilter{PodSandboxId: "0000000000"}, nil},
		{&runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"role": "idle"}}, []string{idle}},
		{&runtimeapi.ContainerStatsFilter{PodSandboxId: pod, LabelSelector: map[string]string{"role": "none"}}, nil},
	} {
		got := list(c.f)
		if len(got) != len(c.want) {
			t.Errorf("ListContainerStats %v: %d containers, want %v", c.f, len(got), c.want)
		}
		for _, id := range c.want {
			if got[id] == nil {
				t.Errorf("ListContainerStats %v: %s missing", c.f, id)
			}
		}
	}
	if _, err := rts.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: "nosuchcontainer"}); status.Code(err) != codes.NotFound {
		t.Errorf("ContainerStats of an unknown container: %v, want NotFound", err)
	}

	// The pod: its CPU and memory are its cgroup parent's, which holds its
	// containers', its processes are its containers', its network
	// namespace's interfaces are there.
	if withCNI {
		var p struct {
			Status struct{ Network struct{ IP string } }
		}
		json.Unmarshal([]byte(cri(0, "inspectp", pod)), &p)
		gw := regexp.MustCompile(`\.\d+$`).ReplaceAllString(p.Status.Network.IP, ".1")
		rts.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"busybox", "ping", "-c", "2", "-W", "1", gw}, Timeout: 10})
	}
	podStats := func() *runtimeapi.PodSandboxStats {
		t.Helper()
		r, err := rts.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: pod})
		if err != nil {
			t.Fatalf("PodSandboxStats: %v", err)
		}
		return r.Stats
	}
	ps1 := podStats()
	time.Sleep(time.Second)
	ps := podStats()
	cs := stats(ctr)
	lx := ps.GetLinux()
	if ps.GetAttributes().GetId() != pod || ps.Attributes.GetMetadata().GetName() != "statspod" || ps.Attributes.Labels["app"] != "stats" {
		t.Errorf("pod attributes: %v", ps.GetAttributes())
	}
	if lx.GetCpu().GetUsageCoreNanoSeconds().GetValue() < s2.Cpu.UsageCoreNanoSeconds.Value || lx.Cpu.GetUsageNanoCores().GetValue() < 1e8 ||
		lx.Cpu.Timestamp <= ps1.GetLinux().GetCpu().GetTimestamp() {
		t.Errorf("pod CPU: %v (before: %v; the container's a moment before: %v)", lx.GetCpu(), ps1.GetLinux().GetCpu(), s2.Cpu)
	}
	// The pod's memory is its cgroup parent's, whose limit kubelet set.
	if lx.GetMemory().GetWorkingSetBytes().GetValue() < cs.Memory.WorkingSetBytes.Value*9/10 || lx.Memory.GetUsageBytes().GetValue() < lx.Memory.WorkingSetBytes.Value ||
		lx.Memory.GetAvailableBytes().GetValue()+lx.Memory.WorkingSetBytes.Value != podLimit {
		t.Errorf("pod memory: %v (the container's: %v; the pod's limit %d)", lx.GetMemory(), cs.Memory, podLimit)
	}
	// sh, the busy loop's subshell, sleep.
	if n := lx.GetProcess().GetProcessCount().GetValue(); n < 2 || n > 10 {
		t.Errorf("pod process count %d, want the burner's few", n)
	}
	if len(lx.GetContainers()) != 2 {
		t.Errorf("pod's containers' stats: %v", lx.GetContainers())
	}
	if withCNI {
		d := lx.GetNetwork().GetDefaultInterface()
		if d.GetName() != "eth0" || d.GetTxBytes().GetValue() == 0 || len(lx.Network.Interfaces) != 1 || lx.Network.Timestamp == 0 {
			t.Errorf("pod network: %v", lx.GetNetwork())
		}
	} else if n := lx.GetNetwork(); n == nil || len(n.Interfaces) != 0 {
		t.Errorf("pod network without CNI (its loopback only, which is not listed): %v", n)
	}
	for _, c := range []struct {
		f    *runtimeapi.PodSandboxStatsFilter
		want int
	}{
		{nil, 1},
		{&runtimeapi.PodSandboxStatsFilter{Id: pod[:10]}, 1},
		{&runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"app": "stats"}}, 1},
		{&runtimeapi.PodSandboxStatsFilter{LabelSelector: map[string]string{"app": "other"}}, 0},
		{&runtimeapi.PodSandboxStatsFilter{Id: "0000000000"}, 0},
	} {
		r, err := rts.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{Filter: c.f})
		if err != nil || len(r.Stats) != c.want || c.want == 1 && r.Stats[0].GetAttributes().GetId() != pod {
			t.Errorf("ListPodSandboxStats %v: %v %v, want %d", c.f, r, err, c.want)
		}
	}
	if _, err := rts.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "nosuchpod"}); status.Code(err) != codes.NotFound {
		t.Errorf("PodSandboxStats of an unknown pod: %v, want NotFound", err)
	}

	// crictl stats and statsp: a CPU % from two samples a second apart.
	cpuPercent := func(out, key string) float64 {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && strings.Contains(line, key) {
				for i, w := range f {
					if w == key && i+1 < len(f) {
						if v, err := strconv.ParseFloat(f[i+1], 64); err == nil {
							return v
						}
					}
				}
			}
		}
		return -1
	}
	out := cri(0, "stats")
	if p := cpuPercent(out, "burner"); p < 10 || p > float64(runtime.NumCPU())*110 || !strings.Contains(out, ctr[:13]) {
		t.Errorf("crictl stats (burner's CPU %% %.2f):\n%s", p, out)
	}
	out = cri(0, "statsp")
	if p := cpuPercent(out, pod[:13]); p < 10 || !strings.Contains(out, "statspod") {
		t.Errorf("crictl statsp (CPU %% %.2f):\n%s", p, out)
	}
	if out := cri(0, "stats", "-o", "json", "--id", ctr); !strings.Contains(out, `"workingSetBytes"`) || !strings.Contains(out, `"writableLayer"`) {
		t.Errorf("crictl stats -o json --id:\n%s", out)
	}

	// UpdateContainerResources: the cgroup changes at once, the record
	// too; memory+swap follows memory when not given.
	cg := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, cgroupParent, ctr, file))
		if err != nil {
			t.Errorf("cgroup file: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	if q := cg("cpu", "cpu.cfs_quota_us"); q != "-1" {
		t.Errorf("cpu.cfs_quota_us before the update: %s", q)
	}
	const newMem = 256 << 20
	upd := &runtimeapi.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 30000, CpuShares: 512, CpusetCpus: "0", CpusetMems: "0", MemoryLimitInBytes: newMem,
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 0}}, Unified: map[string]string{"memory.high": "max"}}
	if _, err := rts.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: ctr, Linux: upd}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	checkCgroup := func(when string) {
		t.Helper()
		for _, c := range [][3]string{
			{"cpu", "cpu.cfs_period_us", "100000"}, {"cpu", "cpu.cfs_quota_us", "30000"}, {"cpu", "cpu.shares", "512"},
			{"cpuset", "cpuset.cpus", "0"}, {"cpuset", "cpuset.mems", "0"}, {"memory", "memory.limit_in_bytes", fmt.Sprint(newMem)},
		} {
			if got := cg(c[0], c[1]); got != c[2] {
				t.Errorf("%s: %s/%s = %q, want %q", when, c[0], c[1], got, c[2])
			}
		}
		if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
			if got := cg("memory", "memory.memsw.limit_in_bytes"); got != fmt.Sprint(newMem) {
				t.Errorf("%s: memory.memsw.limit_in_bytes = %s, want the memory limit (no swap)", when, got)
			}
		}
	}
	checkRecord := func(when string) {
		t.Helper()
		r, err := rts.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ctr})
		if err != nil {
			t.Fatalf("%s: ContainerStatus: %v", when, err)
		}
		l := r.GetStatus().GetResources().GetLinux()
		if l.GetCpuPeriod() != 100000 || l.CpuQuota != 30000 || l.CpuShares != 512 || l.CpusetCpus != "0" || l.CpusetMems != "0" ||
			l.MemoryLimitInBytes != newMem || l.MemorySwapLimitInBytes != newMem && l.MemorySwapLimitInBytes != 0 {
			t.Errorf("%s: ContainerStatus resources: %v", when, l)
		}
		if got := docker(t, env, "inspect", "-f", "{{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuShares}} {{.HostConfig.Memory}} {{.HostConfig.CpusetCpus}}", ctr); got != fmt.Sprintf("30000 100000 512 %d 0", newMem) {
			t.Errorf("%s: docker inspect: %s", when, got)
		}
	}
	checkCgroup("after the update")
	checkRecord("after the update")
	// The quota holds the busy loop to 30 % of a CPU.
	stats(ctr)
	time.Sleep(2 * time.Second)
	if nc := stats(ctr).GetCpu().GetUsageNanoCores().GetValue(); nc > 36e7 || nc == 0 {
		t.Errorf("usage_nano_cores under a 30%% quota: %d", nc)
	}
	// A zero leaves a value: only the shares change.
	if _, err := rts.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: ctr, Linux: &runtimeapi.LinuxContainerResources{CpuShares: 1024}}); err != nil {
		t.Fatal(err)
	}
	if got := cg("cpu", "cpu.shares") + " " + cg("cpu", "cpu.cfs_quota_us"); got != "1024 30000" {
		t.Errorf("after updating the shares only: shares and quota %s", got)
	}
	rts.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: ctr, Linux: &runtimeapi.LinuxContainerResources{CpuShares: 512}})
	for _, c := range []struct {
		req  *runtimeapi.UpdateContainerResourcesRequest
		code codes.Code
	}{
		{&runtimeapi.UpdateContainerResourcesRequest{ContainerId: "nosuchcontainer", Linux: upd}, codes.NotFound},
		{&runtimeapi.UpdateContainerResourcesRequest{ContainerId: pod, Linux: upd}, codes.NotFound}, // a pod is no container
		{&runtimeapi.UpdateContainerResourcesRequest{ContainerId: ctr, Linux: &runtimeapi.LinuxContainerResources{
			HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 2 << 20}}}}, codes.Unimplemented},
		{&runtimeapi.UpdateContainerResourcesRequest{ContainerId: ctr, Linux: &runtimeapi.LinuxContainerResources{CpuShares: -5}}, codes.InvalidArgument},
		{&runtimeapi.UpdateContainerResourcesRequest{ContainerId: ctr, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: newMem, MemorySwapLimitInBytes: newMem / 2}}, codes.InvalidArgument},
	} {
		if _, err := rts.UpdateContainerResources(ctx, c.req); status.Code(err) != c.code {
			t.Errorf("UpdateContainerResources %v: %v, want %v", c.req, err, c.code)
		}
	}
	checkCgroup("after the refused updates")

	// A created container's update is recorded, for its start.
	if _, err := rts.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: idle, Linux: &runtimeapi.LinuxContainerResources{CpuQuota: 20000, CpuPeriod: 100000}}); err != nil {
		t.Errorf("UpdateContainerResources of a created container: %v", err)
	}
	if r, err := rts.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: idle}); err != nil || r.GetStatus().GetResources().GetLinux().GetCpuQuota() != 20000 {
		t.Errorf("a created container's status after an update: %v %v", r.GetStatus().GetResources(), err)
	}

	// UpdatePodSandboxResources is recorded (inspectp's info shows it).
	podRes := &runtimeapi.LinuxContainerResources{CpuShares: 2048, MemoryLimitInBytes: 1 << 30}
	if _, err := rts.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: pod, Resources: podRes}); err != nil {
		t.Errorf("UpdatePodSandboxResources: %v", err)
	}
	if _, err := rts.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: "nosuchpod", Resources: podRes}); status.Code(err) != codes.NotFound {
		t.Errorf("UpdatePodSandboxResources of an unknown pod: %v, want NotFound", err)
	}
	if out := cri(0, "inspectp", pod); !strings.Contains(out, `"cpu_shares": 2048`) && !strings.Contains(out, `"cpu_shares":2048`) {
		t.Errorf("inspectp after UpdatePodSandboxResources: no resources recorded:\n%s", out)
	}

	// A daemon restart keeps the container, its cgroup and its record;
	// a restart of the container builds its cgroup from the record.
	signalHullDaemon(t, dir, syscall.SIGTERM)
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(fmt.Sprintf(`{"cni-conf-dir": %q}`, confDir)), 0o644)
	startHullDaemon(t, env, dir)
	cri, conn = criClients(t, crictl, sock)
	rts = rt(conn)
	checkCgroup("after a daemon restart")
	checkRecord("after a daemon restart")
	docker(t, env, "restart", "-t", "0", ctr)
	checkCgroup("after a restart of the container")
	checkRecord("after a restart of the container")

	// Status: the handlers RunPodSandbox takes, the CNI load status.
	st, err := rts.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if h := st.GetRuntimeHandlers(); len(h) != 2 || h[0].Name != "" || h[1].Name != "hull" || h[1].GetFeatures().GetUserNamespaces() {
		t.Errorf("Status runtime handlers: %v", h)
	}
	if got, want := st.Info["lastCNILoadStatus"], "OK"; withCNI && got != want || !withCNI && !strings.Contains(got, "no network config") {
		t.Errorf("Status lastCNILoadStatus %q (CNI: %v)", got, withCNI)
	}
	if _, err := rts.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{RuntimeHandler: "kata", Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "nope", Namespace: "e2e", Uid: "nope"}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RunPodSandbox with an unknown runtime handler: %v, want InvalidArgument", err)
	}

	// The metrics RPCs are not there, and say so.
	if _, err := rts.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListMetricDescriptors: %v, want Unimplemented", err)
	}
	if _, err := rts.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListPodSandboxMetrics: %v, want Unimplemented", err)
	}

	cri(0, "stopp", pod)
	// A pod that is not ready has no stats, and is not listed.
	if _, err := rts.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: pod}); status.Code(err) != codes.Unavailable {
		t.Errorf("PodSandboxStats of a stopped pod: %v, want Unavailable", err)
	}
	if r, err := rts.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{}); err != nil || len(r.Stats) != 0 {
		t.Errorf("ListPodSandboxStats with the pod stopped: %v %v", r, err)
	}
	if s := stats(ctr); s.Cpu != nil || s.GetWritableLayer() == nil {
		t.Errorf("a stopped container's stats: %v", s)
	}
	cri(0, "rmp", pod)
	if _, err := os.Stat(filepath.Join(dir, "run", "cri", "pods", pod+".resources.json")); !os.IsNotExist(err) {
		t.Errorf("the pod's resources record after rmp: %v", err)
	}
	if out := cri(0, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %q", out)
	}
}
