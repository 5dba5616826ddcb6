package daemon

// The daemon's Windows container flow, run here against a recording fake of
// hcsshim (layers, HNS, HCS) — what it shows is the order of calls and the
// documents; no real Windows host has run this code yet.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/runtime"
	"github.com/hullproject/hull/internal/wine"
)

// hcsRecorder is one log of every call to the three Windows services.
type hcsRecorder struct {
	mu         sync.Mutex
	calls      []string
	containers map[string]*fakeSystem
	docs       []*runtime.HCSContainerConfig
}

func (r *hcsRecorder) rec(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

// doc is the n-th container document sent.
func (r *hcsRecorder) doc(n int) *runtime.HCSContainerConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.docs[n]
}

// take returns the calls so far and forgets them.
func (r *hcsRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// The layer calls (hcsshim wclayer).
type fakeLayers struct{ r *hcsRecorder }

func (f fakeLayers) ImportLayer(_ context.Context, p string, _ []string, rd io.Reader) error {
	io.Copy(io.Discard, rd)
	f.r.rec("ImportLayer " + filepath.Base(p)[:4])
	return os.MkdirAll(p, 0o700)
}
func (f fakeLayers) ExportLayer(context.Context, string, []string, io.Writer) error { return nil }
func (f fakeLayers) CreateScratchLayer(_ context.Context, p string, _ []string) error {
	f.r.rec("CreateScratchLayer " + filepath.Base(p)[:4])
	return os.MkdirAll(p, 0o700)
}
func (f fakeLayers) ActivateLayer(_ context.Context, p string) error {
	f.r.rec("ActivateLayer " + filepath.Base(p)[:4])
	return nil
}
func (f fakeLayers) PrepareLayer(_ context.Context, p string, _ []string) error {
	f.r.rec("PrepareLayer " + filepath.Base(p)[:4])
	return nil
}
func (f fakeLayers) GetLayerMountPath(_ context.Context, p string) (string, error) {
	f.r.rec("GetLayerMountPath " + filepath.Base(p)[:4])
	return `\\?\Volume{` + filepath.Base(p)[:8] + `}\`, nil
}
func (f fakeLayers) UnprepareLayer(_ context.Context, p string) error {
	f.r.rec("UnprepareLayer " + filepath.Base(p)[:4])
	return nil
}
func (f fakeLayers) DeactivateLayer(_ context.Context, p string) error {
	f.r.rec("DeactivateLayer " + filepath.Base(p)[:4])
	return nil
}
func (f fakeLayers) DestroyLayer(_ context.Context, p string) error {
	f.r.rec("DestroyLayer " + filepath.Base(p)[:4])
	return nil
}

// The HNS calls (hcn).
type fakeHNS struct{ r *hcsRecorder }

func (f fakeHNS) CreateNetwork(doc *network.HNSNetwork) (*network.HNSNetwork, error) {
	sub := ""
	if len(doc.Ipams) > 0 && len(doc.Ipams[0].Subnets) > 0 {
		sub = doc.Ipams[0].Subnets[0].IpAddressPrefix
	}
	f.r.rec("HNS CreateNetwork " + doc.Name + " " + doc.Type + " " + sub)
	d := *doc
	d.Id = "net-" + doc.Name
	return &d, nil
}
func (f fakeHNS) GetNetworkByName(name string) (*network.HNSNetwork, error) {
	if name != "examplenetwork" {
		return nil, errors.New("no such network")
	}
	nw, _ := network.HNSNetworkDocument(name, "nat", netip.MustParsePrefix("172.28.0.0/16"), netip.MustParseAddr("172.28.0.1"))
	nw.Id = "net-examplenetwork"
	return nw, nil
}
func (f fakeHNS) DeleteNetwork(id string) error {
	f.r.rec("HNS DeleteNetwork " + id)
	return nil
}
func (f fakeHNS) ListNamespaces() ([]network.HNSNamespace, error) {
	return []network.HNSNamespace{{Id: "ns-1", NamespaceId: 3}}, nil
}
func (f fakeHNS) CreateEndpoint(nid string, doc *network.HNSEndpoint) (*network.HNSEndpoint, error) {
	f.r.rec("HNS CreateEndpoint " + nid)
	d := *doc
	d.Id = "ep-1"
	return &d, nil
}
func (f fakeHNS) DeleteEndpoint(id string) error {
	f.r.rec("HNS DeleteEndpoint " + id)
	return nil
}
func (f fakeHNS) CreateNamespace(doc *network.HNSNamespace) (*network.HNSNamespace, error) {
	f.r.rec("HNS CreateNamespace")
	d := *doc
	d.Id = "ns-1"
	return &d, nil
}
func (f fakeHNS) DeleteNamespace(id string) error {
	f.r.rec("HNS DeleteNamespace " + id)
	return nil
}
func (f fakeHNS) NamespaceEndpoints(string) ([]network.HNSEndpoint, error) {
	ep := network.HNSEndpointDocument("net-examplenetwork", "3b5c3e8abdda_examplenetwork", netip.MustParsePrefix("172.28.0.2/16"), netip.MustParseAddr("172.28.0.1"), "00-15-5D-00-00-02", network.HNSDNS{})
	ep.Id = "ep-1"
	return []network.HNSEndpoint{*ep}, nil
}

// The HCS calls.
type fakeHCS struct{ r *hcsRecorder }

type fakeSystem struct {
	r       *hcsRecorder
	id      string
	running bool
	proc    *fakeProcess
}

// fakeProcess runs a few "programs" by their command line: `cmd /c echo
// WORDS` prints WORDS (and a line on stderr), `cmd /c exit N` exits N,
// `more` copies stdin to stdout; anything else runs until its compute
// system is shut down or terminated (exit 1067).
type fakeProcess struct {
	pid        int
	done       chan struct{}
	once       sync.Once
	code       int
	inR        *io.PipeReader
	inW        *io.PipeWriter
	outR, errR *io.PipeReader
	outW, errW *io.PipeWriter
}

func newFakeProcess(pid int) *fakeProcess {
	p := &fakeProcess{pid: pid, done: make(chan struct{}), code: 1067}
	p.inR, p.inW = io.Pipe()
	p.outR, p.outW = io.Pipe()
	p.errR, p.errW = io.Pipe()
	return p
}

func (p *fakeProcess) run(cmdline string) {
	switch {
	case strings.HasPrefix(cmdline, "cmd /c echo "):
		io.WriteString(p.outW, strings.TrimPrefix(cmdline, "cmd /c echo ")+"\n")
		io.WriteString(p.errW, "to stderr\n")
		p.exit(0)
	case strings.HasPrefix(cmdline, "cmd /c exit "):
		n := 0
		fmt.Sscan(strings.TrimPrefix(cmdline, "cmd /c exit "), &n)
		p.exit(n)
	case cmdline == "more":
		io.Copy(p.outW, p.inR)
		p.exit(0)
	}
}

func (p *fakeProcess) exit(code int) {
	p.once.Do(func() {
		p.code = code
		p.outW.Close()
		p.errW.Close()
		close(p.done)
	})
}

func (p *fakeProcess) end()     { p.exit(1067) }
func (p *fakeProcess) Pid() int { return p.pid }
func (p *fakeProcess) Stdio() (io.WriteCloser, io.ReadCloser, io.ReadCloser, error) {
	return p.inW, p.outR, p.errR, nil
}
func (p *fakeProcess) Wait() error                     { <-p.done; return nil }
func (p *fakeProcess) ExitCode() (int, error)          { return p.code, nil }
func (p *fakeProcess) Kill() error                     { p.end(); return nil }
func (p *fakeProcess) ResizeConsole(_, _ uint16) error { return nil }
func (p *fakeProcess) Close() error                    { return nil }

func (f fakeHCS) CreateContainer(id string, doc *runtime.HCSContainerConfig) (runtime.ComputeSystem, error) {
	f.r.rec("HCS CreateContainer " + id[:4] + " endpoints=" + strings.Join(doc.EndpointList, ","))
	s := &fakeSystem{r: f.r, id: id}
	f.r.mu.Lock()
	f.r.docs = append(f.r.docs, doc)
	f.r.containers[id] = s
	f.r.mu.Unlock()
	return s, nil
}
func (f fakeHCS) OpenContainer(id string) (runtime.ComputeSystem, error) {
	f.r.rec("HCS OpenContainer " + id[:4])
	f.r.mu.Lock()
	s := f.r.containers[id]
	f.r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return &fakeSystem{r: f.r, id: id, running: true}, nil
}
func (f fakeHCS) GetContainers(owner string) ([]runtime.ComputeSystemInfo, error) {
	f.r.rec("HCS GetContainers owner=" + owner)
	var out []runtime.ComputeSystemInfo
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	for id, s := range f.r.containers {
		out = append(out, runtime.ComputeSystemInfo{ID: id, Owner: owner, State: "Running", Stopped: !s.running})
	}
	return out, nil
}
func (f fakeHCS) NameToGUID(name string) (string, error) { return "guid-" + name[:4], nil }

func (s *fakeSystem) Start() error {
	s.r.rec("HCS Start " + s.id[:4])
	s.r.mu.Lock()
	s.running = true
	s.r.mu.Unlock()
	return nil
}
func (s *fakeSystem) CreateProcess(doc *runtime.HCSProcessConfig) (runtime.ComputeProcess, error) {
	s.r.rec("HCS CreateProcess " + doc.CommandLine)
	s.r.mu.Lock()
	p := newFakeProcess(4242 + len(s.r.calls))
	if s.proc == nil {
		p.pid = 4242 // the container's process
		s.proc = p
	}
	s.r.mu.Unlock()
	go p.run(doc.CommandLine)
	return p, nil
}
func (s *fakeSystem) OpenProcess(pid int) (runtime.ComputeProcess, error) {
	s.r.rec("HCS OpenProcess " + s.id[:4])
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.proc == nil {
		s.proc = newFakeProcess(pid)
	}
	return s.proc, nil
}
func (s *fakeSystem) stopped() {
	s.r.mu.Lock()
	s.running = false
	p := s.proc
	s.r.mu.Unlock()
	if p != nil {
		p.end()
	}
}
func (s *fakeSystem) Shutdown() error { s.r.rec("HCS Shutdown " + s.id[:4]); s.stopped(); return nil }
func (s *fakeSystem) Terminate() error {
	s.r.rec("HCS Terminate " + s.id[:4])
	s.stopped()
	return nil
}
func (s *fakeSystem) Statistics() (runtime.HCSStatistics, error) {
	return runtime.HCSStatistics{CPUTotal100ns: 12345678, MemoryPrivateWS: 64 << 20}, nil
}
func (s *fakeSystem) ProcessList() ([]runtime.HCSProcessItem, error) {
	return []runtime.HCSProcessItem{{ProcessID: 4, ImageName: "System"}, {ProcessID: 4242, ImageName: "powershell.exe"}}, nil
}
func (s *fakeSystem) Close() error { return nil }

func newFakeWindows(t *testing.T) (*windowsEngine, *hcsRecorder) {
	r := &hcsRecorder{containers: map[string]*fakeSystem{}}
	e := &windowsEngine{
		layers:  layer.NewWindowsFilter(wine.TempDir(t), fakeLayers{r}),
		net:     network.NewHNSService(fakeHNS{r}),
		compute: runtime.NewHCSRuntime(fakeHCS{r}),
	}
	return e, r
}

// TestWindowsRunCallOrder: `docker run -id --network examplenetwork --name
// example IMAGE powershell` (an image of two layers) makes Docker on
// Windows' calls in its order.
func TestWindowsRunCallOrder(t *testing.T) {
	ctx := context.Background()
	e, r := newFakeWindows(t)
	baseL, topL, id := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("e", 64)
	if err := e.layers.Import(ctx, baseL, "", strings.NewReader("base")); err != nil {
		t.Fatal(err)
	}
	if err := e.layers.Import(ctx, topL, baseL, strings.NewReader("top")); err != nil {
		t.Fatal(err)
	}
	r.calls = nil
	// docker create: the scratch layer.
	if err := e.create(ctx, id, topL); err != nil {
		t.Fatal(err)
	}
	// docker start: -i keeps stdin, no -t.
	c, err := e.start(ctx, id, winStart{Network: "examplenetwork", Args: []string{"powershell"}, Stdin: true, Hostname: id[:12]})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GetLayerMountPath bbbb",
		"CreateScratchLayer eeee",
		"ActivateLayer eeee",
		"PrepareLayer eeee",
		"GetLayerMountPath eeee",
		"HNS CreateEndpoint net-examplenetwork",
		"HNS CreateNamespace",
		"HCS CreateContainer eeee endpoints=ep-1",
		"HCS Start eeee",
		"HCS CreateProcess powershell",
	}
	if got := strings.Join(r.calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	doc := r.doc(0)
	if len(doc.Layers) != 2 || doc.Layers[0].ID != "guid-bbbb" || doc.Layers[1].ID != "guid-aaaa" || doc.VolumePath != `\\?\Volume{eeeeeeee}\` || doc.Owner != runtime.HCSOwner {
		t.Errorf("the compute system's document: %+v", doc)
	}
	if c.Compute.Process.Pid() != 4242 {
		t.Errorf("process: %+v", c.Compute.Process)
	}

	// A daemon restart: the compute system is found and reopened with its
	// process, never terminated.
	r.calls = nil
	e2, _ := newFakeWindows(t)
	e2.compute = runtime.NewHCSRuntime(fakeHCS{r})
	restored, err := e2.restore(map[string]int{id: 4242})
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 1 || restored[0].Process == nil || restored[0].Process.Pid() != 4242 {
		t.Errorf("restored: %+v", restored)
	}
	got := strings.Join(r.calls, "\n")
	if got != "HCS GetContainers owner=hull\nHCS OpenContainer eeee\nHCS OpenProcess eeee" || strings.Contains(got, "Terminate") {
		t.Errorf("restore calls:\n%s", got)
	}

	// Stop: shutdown, then the network and the layer go.
	r.calls = nil
	if err := e.stop(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.calls, ","); got != "HCS Shutdown eeee,HNS DeleteNamespace ns-1,HNS DeleteEndpoint ep-1,UnprepareLayer eeee,DeactivateLayer eeee" {
		t.Errorf("stop calls: %s", got)
	}
}

// TestWindowsStartUndo: a network that does not exist fails the start and
// leaves the layer unmounted; nothing reaches HCS.
func TestWindowsStartUndo(t *testing.T) {
	ctx := context.Background()
	e, r := newFakeWindows(t)
	baseL, id := strings.Repeat("a", 64), strings.Repeat("e", 64)
	e.layers.Import(ctx, baseL, "", strings.NewReader("base"))
	e.create(ctx, id, baseL)
	r.calls = nil
	if _, err := e.start(ctx, id, winStart{Network: "nowhere", Args: []string{"cmd"}}); err == nil {
		t.Fatal("started on a missing network")
	}
	got := strings.Join(r.calls, ",")
	if !strings.HasSuffix(got, "UnprepareLayer eeee,DeactivateLayer eeee") || strings.Contains(got, "HCS") {
		t.Errorf("calls: %s", got)
	}
}
