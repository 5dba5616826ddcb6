// Command cri is the client of the CRI benchmark (bench/cri.sh): it drives
// each runtime's CRI socket through the same gRPC calls, in the same order,
// as kubelet would, and prints medians, p90s and ratios.
//
//	cri run -runtime hull=SOCK -runtime containerd=SOCK -image REF [-n 20] [-parallel 10] [-rounds 3] ...
//	cri archive -rootfs ROOTFS.tar -ref REF [-entrypoint /pause] [-cmd /bin/sh] -o OUT.tar
//	cri cleanup -runtime NAME=SOCK ...
//
// run times, per pod: RunPodSandbox until PodSandboxStatus answers READY
// (with an address on the CNI network), CreateContainer, StartContainer
// until ContainerStatus answers RUNNING, StopContainer, RemoveContainer,
// StopPodSandbox, RemovePodSandbox. The runtimes take turns, pod by pod,
// after one pod each that is not counted; then they take turns running
// -rounds rounds of -parallel pods at once. archive writes a
// docker-archive of one layer (go-containerregistry), so both runtimes
// load the same image. cleanup stops and removes every pod of the
// benchmark's namespace.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// namespace is the pods' Kubernetes namespace: cleanup removes its pods.
const namespace = "cribench"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cri run|archive|cleanup [flags] (see the package comment)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "archive":
		err = archiveCmd(os.Args[2:])
	case "cleanup":
		err = cleanupCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		os.Exit(1)
	}
}

// pairs is a repeatable NAME=VALUE flag, in the order given.
type pairs struct{ names, values []string }

func (p *pairs) String() string { return strings.Join(p.names, ",") }
func (p *pairs) Set(s string) error {
	n, v, ok := strings.Cut(s, "=")
	if !ok || n == "" || v == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	p.names, p.values = append(p.names, n), append(p.values, v)
	return nil
}
func (p *pairs) get(n string) string {
	if i := slices.Index(p.names, n); i >= 0 {
		return p.values[i]
	}
	return ""
}

// target is one runtime under test.
type target struct {
	name, cgroupParent, logRoot string
	rt                          runtimeapi.RuntimeServiceClient
	conn                        *grpc.ClientConn
}

func dial(name, sock string) (*target, error) {
	conn, err := grpc.NewClient("unix://"+strings.TrimPrefix(sock, "unix://"), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &target{name: name, rt: runtimeapi.NewRuntimeServiceClient(conn), conn: conn}, nil
}

// The phases of a pod's lifecycle, in order.
const (
	phPodReady   = "pod ready"
	phCreate     = "ctr create"
	phRunning    = "ctr running"
	phCtrStop    = "ctr stop"
	phCtrRemove  = "ctr remove"
	phPodStop    = "pod stop"
	phPodRemove  = "pod remove"
	phCtrStart   = "ctr start"     // create + running
	phCtrDown    = "ctr down"      // stop + remove
	phPodDown    = "pod down"      // stop + remove
	phLifecycle  = "lifecycle"     // all of it
	callTimeout  = 2 * time.Minute // per call
	pollInterval = time.Millisecond
)

// sample is one pod's phase durations.
type sample map[string]time.Duration

type runOpts struct {
	image   string
	seccomp bool
	verbose bool
}

func randomUID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lifecycle runs one pod through its whole life and times each phase. A
// failure removes the pod (best effort) and is returned.
func (t *target) lifecycle(ctx context.Context, podName string, o runOpts) (sample, error) {
	s := sample{}
	uid := randomUID()
	sec := func() *runtimeapi.SecurityProfile {
		if o.seccomp {
			return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	}
	nsOpts := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	logDir := filepath.Join(t.logRoot, namespace+"_"+podName+"_"+uid)
	// kubelet makes the pod's log folder before it asks for the pod.
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: podName, Namespace: namespace, Uid: uid},
		Hostname:     podName,
		LogDirectory: logDir,
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{namespace + ".svc.cluster.local"}, Options: []string{"ndots:5"}},
		Labels:       map[string]string{"app": "cribench"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: t.cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: nsOpts, Seccomp: sec()}},
	}
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, callTimeout) }
	var podID, ctrID string
	fail := func(what string, err error) (sample, error) {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		defer cancel()
		if ctrID != "" {
			t.rt.RemoveContainer(c, &runtimeapi.RemoveContainerRequest{ContainerId: ctrID})
		}
		if podID != "" {
			t.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
			t.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
		}
		return nil, fmt.Errorf("%s: pod %s: %s: %w", t.name, podName, what, err)
	}
	begin := time.Now()

	// The pod, until its status says READY.
	c, cancel := call()
	t0 := time.Now()
	r, err := t.rt.RunPodSandbox(c, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	cancel()
	if err != nil {
		return fail("RunPodSandbox", err)
	}
	podID = r.PodSandboxId
	for {
		c, cancel := call()
		st, err := t.rt.PodSandboxStatus(c, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
		cancel()
		if err != nil {
			return fail("PodSandboxStatus", err)
		}
		if st.Status.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if st.Status.GetNetwork().GetIp() == "" {
				return fail("PodSandboxStatus", errors.New("READY without an address on the CNI network"))
			}
			break
		}
		if time.Since(t0) > callTimeout {
			return fail("PodSandboxStatus", fmt.Errorf("not READY after %s: %v", callTimeout, st.Status.State))
		}
		time.Sleep(pollInterval)
	}
	s[phPodReady] = time.Since(t0)

	// The container, until its status says RUNNING.
	ctrCfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "sleep"},
		Image:    &runtimeapi.ImageSpec{Image: o.image},
		Command:  []string{"sleep", "3600"},
		LogPath:  "sleep/0.log",
		Labels:   map[string]string{"app": "cribench"},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: nsOpts, Seccomp: sec()}},
	}
	c, cancel = call()
	t0 = time.Now()
	cr, err := t.rt.CreateContainer(c, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrCfg, SandboxConfig: podCfg})
	cancel()
	if err != nil {
		return fail("CreateContainer", err)
	}
	ctrID = cr.ContainerId
	s[phCreate] = time.Since(t0)
	c, cancel = call()
	t0 = time.Now()
	_, err = t.rt.StartContainer(c, &runtimeapi.StartContainerRequest{ContainerId: ctrID})
	cancel()
	if err != nil {
		return fail("StartContainer", err)
	}
	for {
		c, cancel := call()
		st, err := t.rt.ContainerStatus(c, &runtimeapi.ContainerStatusRequest{ContainerId: ctrID})
		cancel()
		if err != nil {
			return fail("ContainerStatus", err)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			break
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED || time.Since(t0) > callTimeout {
			return fail("ContainerStatus", fmt.Errorf("not RUNNING: %v (exit %d, %s %s)", st.Status.State, st.Status.ExitCode, st.Status.Reason, st.Status.Message))
		}
		time.Sleep(pollInterval)
	}
	s[phRunning] = time.Since(t0)
	s[phCtrStart] = s[phCreate] + s[phRunning]

	// Down again. The container's sleep, PID 1 of its PID namespace,
	// ignores SIGTERM: a timeout of 0 kills it at once in both runtimes.
	steps := []struct {
		phase string
		do    func(context.Context) error
	}{
		{phCtrStop, func(c context.Context) error {
			_, err := t.rt.StopContainer(c, &runtimeapi.StopContainerRequest{ContainerId: ctrID, Timeout: 0})
			return err
		}},
		{phCtrRemove, func(c context.Context) error {
			_, err := t.rt.RemoveContainer(c, &runtimeapi.RemoveContainerRequest{ContainerId: ctrID})
			return err
		}},
		{phPodStop, func(c context.Context) error {
			_, err := t.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
			return err
		}},
		{phPodRemove, func(c context.Context) error {
			_, err := t.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
			return err
		}},
	}
	for _, st := range steps {
		c, cancel := call()
		t0 := time.Now()
		err := st.do(c)
		s[st.phase] = time.Since(t0)
		cancel()
		if err != nil {
			return fail(st.phase, err)
		}
		if st.phase == phCtrRemove {
			ctrID = ""
		}
	}
	s[phCtrDown] = s[phCtrStop] + s[phCtrRemove]
	s[phPodDown] = s[phPodStop] + s[phPodRemove]
	s[phLifecycle] = time.Since(begin)
	os.RemoveAll(logDir)
	return s, nil
}

// stats is a phase's median and 90th percentile over samples.
func stats(ss []sample, phase string) (med, p90 time.Duration) {
	var d []time.Duration
	for _, s := range ss {
		d = append(d, s[phase])
	}
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		med = d[n/2]
	} else {
		med = (d[n/2-1] + d[n/2]) / 2
	}
	// nearest rank
	k := (90*n + 99) / 100
	return med, d[max(k-1, 0)]
}

// rssKB is the VmRSS of pid and of every process below it, in KiB; with
// detail, each process's is printed to stderr.
func rssKB(pid int, detail bool) (int, error) {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	total := 0
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[0]
		todo = append(todo[1:], children[p]...)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			if p == pid {
				return 0, err
			}
			continue
		}
		comm := ""
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Name:"); ok {
				comm = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				total += kb
				if detail {
					fmt.Fprintf(os.Stderr, "  pid %d (%s): VmRSS %d kB\n", p, comm, kb)
				}
			}
		}
	}
	return total, nil
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var runtimes, pids, cgroups, cpus pairs
	fs.Var(&runtimes, "runtime", "NAME=SOCKET of a runtime's CRI (repeat; the first is the base of the ratios)")
	fs.Var(&pids, "pid", "NAME=PID of a runtime's daemon, for its idle RSS (its processes below it included)")
	fs.Var(&cgroups, "cgroup-parent", "NAME=PATH: the pods' cgroup parent in that runtime")
	fs.Var(&cpus, "cpuacct", "NAME=FILE: a cpuacct.usage (ns) that counts all the CPU the runtime spends (its daemon's and pods' cgroups)")
	image := fs.String("image", "", "the container's image (both runtimes hold it)")
	n := fs.Int("n", 20, "pods per runtime, one after another")
	par := fs.Int("parallel", 10, "pods at once in a parallel round (0: none)")
	rounds := fs.Int("rounds", 3, "parallel rounds per runtime, the runtimes taking turns")
	logRoot := fs.String("log-root", os.TempDir(), "folder of the pods' log folders")
	seccomp := fs.Bool("seccomp", true, "RuntimeDefault seccomp for the pod and container (false: Unconfined)")
	settle := fs.Duration("settle", 6*time.Second, "idle time before the RSS is read after the runs: the Go runtimes give back a burst's heap within seconds")
	rssDetail := fs.Bool("rss-detail", false, "print each process's RSS (stderr)")
	fs.Parse(args)
	if len(runtimes.names) == 0 || *image == "" {
		return errors.New("run needs -runtime NAME=SOCKET and -image")
	}
	ctx := context.Background()
	o := runOpts{image: *image, seccomp: *seccomp}
	var ts []*target
	for i, nm := range runtimes.names {
		t, err := dial(nm, runtimes.values[i])
		if err != nil {
			return err
		}
		defer t.conn.Close()
		t.cgroupParent = cgroups.get(nm)
		t.logRoot = filepath.Join(*logRoot, nm)
		ts = append(ts, t)
	}
	rssFresh := map[string]int{}
	readRSS := func(into map[string]int) {
		for i, nm := range pids.names {
			pid, _ := strconv.Atoi(pids.values[i])
			if kb, err := rssKB(pid, *rssDetail); err == nil {
				into[nm] = kb
			}
		}
	}
	readRSS(rssFresh)

	var versions []string
	for _, t := range ts {
		c, cancel := context.WithTimeout(ctx, callTimeout)
		v, err := t.rt.Version(c, &runtimeapi.VersionRequest{})
		cancel()
		if err != nil {
			return fmt.Errorf("%s: Version: %w", t.name, err)
		}
		versions = append(versions, fmt.Sprintf("%s: %s %s (CRI %s)", t.name, v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion))
	}

	// One pod each first, not counted: the first pod makes the CNI
	// bridge, and each daemon's caches fill.
	for _, t := range ts {
		if _, err := t.lifecycle(ctx, "warmup", o); err != nil {
			return err
		}
	}
	// The CPU each runtime spent per pod: its counter's growth over a
	// phase, divided by the pods (the other runtime's turns included, when
	// its counter barely moves).
	cpuNow := func() map[string]time.Duration {
		m := map[string]time.Duration{}
		for i, nm := range cpus.names {
			b, err := os.ReadFile(cpus.values[i])
			if ns, err2 := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && err2 == nil {
				m[nm] = time.Duration(ns)
			}
		}
		return m
	}
	cpuSeq, cpuPar := map[string][]sample{}, map[string][]sample{}
	cpuDelta := func(into map[string][]sample, before map[string]time.Duration, pods int) {
		after := cpuNow()
		for nm, b := range before {
			if a, ok := after[nm]; ok && pods > 0 {
				into[nm] = []sample{{phLifecycle: (a - b) / time.Duration(pods)}}
			}
		}
	}
	seq := map[string][]sample{}
	cpu0 := cpuNow()
	for i := range *n {
		for _, t := range ts { // interleaved
			s, err := t.lifecycle(ctx, fmt.Sprintf("seq-%d", i), o)
			if err != nil {
				return err
			}
			seq[t.name] = append(seq[t.name], s)
		}
	}
	cpuDelta(cpuSeq, cpu0, *n)
	parSamples := map[string][]sample{}
	walls := map[string][]sample{} // a round's wall time each, as phLifecycle
	cpu0 = cpuNow()
	for r := range *rounds {
		if *par == 0 {
			break
		}
		for _, t := range ts { // the runtimes take turns, round by round
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs []error
				gate = make(chan struct{})
			)
			for i := range *par {
				wg.Go(func() {
					<-gate
					s, err := t.lifecycle(ctx, fmt.Sprintf("par-%d-%d", r, i), o)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					parSamples[t.name] = append(parSamples[t.name], s)
				})
			}
			t0 := time.Now()
			close(gate)
			wg.Wait()
			walls[t.name] = append(walls[t.name], sample{phLifecycle: time.Since(t0)})
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
		}
	}
	cpuDelta(cpuPar, cpu0, *par**rounds)
	time.Sleep(*settle)
	rssAfter := map[string]int{}
	readRSS(rssAfter)

	// The table.
	for _, v := range versions {
		fmt.Println(v)
	}
	sec := "RuntimeDefault"
	if !*seccomp {
		sec = "Unconfined"
	}
	fmt.Printf("busybox `sleep 3600` in a pod on a CNI bridge (host-local), seccomp %s; cgroupfs; %d CPUs\n", sec, goruntime.NumCPU())
	base := ts[0].name
	header := func(title string) {
		fmt.Printf("\n%-42s", title)
		for _, t := range ts {
			fmt.Printf(" %22s", t.name+" med / p90")
		}
		for _, t := range ts[1:] {
			fmt.Printf(" %12s", t.name+" ÷ "+base)
		}
		fmt.Println()
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
	row := func(label string, data map[string][]sample, phase string) {
		fmt.Printf("%-42s", label)
		meds := map[string]time.Duration{}
		for _, t := range ts {
			m, p := stats(data[t.name], phase)
			meds[t.name] = m
			fmt.Printf(" %22s", ms(m)+" / "+ms(p))
		}
		for _, t := range ts[1:] {
			fmt.Printf(" %11.2fx", float64(meds[t.name])/float64(meds[base]))
		}
		fmt.Println()
	}
	rows := []struct{ label, phase string }{
		{"pod create-to-ready", phPodReady},
		{"container start (create+running)", phCtrStart},
		{"  CreateContainer", phCreate},
		{"  StartContainer until RUNNING", phRunning},
		{"container stop + remove", phCtrDown},
		{"pod stop + remove", phPodDown},
		{"full lifecycle per pod", phLifecycle},
	}
	header(fmt.Sprintf("sequential, %d pods each (ms)", *n))
	for _, r := range rows {
		row(r.label, seq, r.phase)
	}
	if len(cpuSeq) == len(ts) {
		row("CPU per pod, mean (all the runtime's)", cpuSeq, phLifecycle)
	}
	if *par > 0 {
		header(fmt.Sprintf("parallel, %d pods at once, %d rounds (ms)", *par, *rounds))
		for _, r := range rows {
			row(r.label, parSamples, r.phase)
		}
		row("a round's wall time", walls, phLifecycle)
		if len(cpuPar) == len(ts) {
			row("CPU per pod, mean (all the runtime's)", cpuPar, phLifecycle)
		}
	}
	if len(pids.names) > 0 {
		fmt.Printf("\n%-42s", "daemon's idle RSS (MB)")
		for _, t := range ts {
			fmt.Printf(" %22s", t.name+" fresh / after")
		}
		fmt.Println()
		fmt.Printf("%-42s", "")
		for _, t := range ts {
			f := func(kb int) string { return fmt.Sprintf("%.1f", float64(kb)/1024) }
			fmt.Printf(" %22s", f(rssFresh[t.name])+" / "+f(rssAfter[t.name]))
		}
		for _, t := range ts[1:] {
			if rssAfter[base] > 0 {
				fmt.Printf(" %11.2fx", float64(rssAfter[t.name])/float64(rssAfter[base]))
			}
		}
		fmt.Println()
	}
	return nil
}

// cleanupCmd stops and removes every pod of the benchmark's namespace.
func cleanupCmd(args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ExitOnError)
	var runtimes pairs
	fs.Var(&runtimes, "runtime", "NAME=SOCKET (repeat)")
	fs.Parse(args)
	var errs []error
	for i, nm := range runtimes.names {
		t, err := dial(nm, runtimes.values[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		l, err := t.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", nm, err))
		}
		for _, p := range l.GetItems() {
			if p.GetMetadata().GetNamespace() != namespace {
				continue
			}
			t.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id})
			if _, err := t.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				errs = append(errs, fmt.Errorf("%s: pod %s: %w", nm, p.Id, err))
			}
		}
		cancel()
		t.conn.Close()
	}
	return errors.Join(errs...)
}

// archiveCmd writes a docker-archive of one layer, the root file system
// given, for linux on this machine's architecture.
func archiveCmd(args []string) error {
	fs := flag.NewFlagSet("archive", flag.ExitOnError)
	rootfs := fs.String("rootfs", "", "the layer: a tar of a root file system")
	ref := fs.String("ref", "", "the image's name")
	entrypoint := fs.String("entrypoint", "", "ENTRYPOINT, comma separated")
	cmd := fs.String("cmd", "", "CMD, comma separated")
	out := fs.String("o", "", "the archive to write")
	fs.Parse(args)
	if *rootfs == "" || *ref == "" || *out == "" {
		return errors.New("archive needs -rootfs, -ref and -o")
	}
	layer, err := tarball.LayerFromFile(*rootfs)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goruntime.GOARCH
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	cf.Config.Entrypoint, cf.Config.Cmd = split(*entrypoint), split(*cmd)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(*ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(*out, tag, img)
}
