package runtime

// The compute service on Windows: HCS, through hcsshim. Everything here is
// plain Go that runs (and is tested) on any OS: the HCS v1 documents built
// from an OCI spec's windows section, and HCSRuntime, the order of calls
// Docker on Windows makes, over ComputeService — the narrow interface that
// hcs_windows.go implements on hcsshim (the only part no test here runs).

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// HCSLayer is a read-only layer of a container document: its GUID (from
// the folder's name, NameToGuid) and folder.
type HCSLayer struct {
	ID   string
	Path string
}

// HCSMappedDir is a bind mount of a host folder.
type HCSMappedDir struct {
	HostPath          string
	ContainerPath     string
	ReadOnly          bool
	BandwidthMaximum  uint64
	IOPSMaximum       uint64
	CreateInUtilityVM bool
}

// HCSMappedPipe maps a host named pipe into the container.
type HCSMappedPipe struct {
	HostPath          string
	ContainerPipeName string
}

// HCSHvRuntime is a Hyper-V container's utility VM.
type HCSHvRuntime struct {
	ImagePath    string `json:",omitempty"`
	SkipTemplate bool   `json:",omitempty"`
}

// HCSContainerConfig is the HCS v1 container document (the JSON of
// hcsshim.ContainerConfig).
type HCSContainerConfig struct {
	SystemType                  string
	Name                        string
	Owner                       string          `json:",omitempty"`
	VolumePath                  string          `json:",omitempty"`
	IgnoreFlushesDuringBoot     bool            `json:",omitempty"`
	LayerFolderPath             string          `json:",omitempty"`
	Layers                      []HCSLayer      //
	ProcessorCount              uint32          `json:",omitempty"`
	ProcessorWeight             uint64          `json:",omitempty"`
	ProcessorMaximum            int64           `json:",omitempty"`
	StorageIOPSMaximum          uint64          `json:",omitempty"`
	StorageBandwidthMaximum     uint64          `json:",omitempty"`
	StorageSandboxSize          uint64          `json:",omitempty"`
	MemoryMaximumInMB           int64           `json:",omitempty"`
	HostName                    string          `json:",omitempty"`
	MappedDirectories           []HCSMappedDir  `json:",omitempty"`
	MappedPipes                 []HCSMappedPipe `json:",omitempty"`
	HvPartition                 bool
	NetworkSharedContainerName  string        `json:",omitempty"`
	EndpointList                []string      `json:",omitempty"`
	HvRuntime                   *HCSHvRuntime `json:",omitempty"`
	AllowUnqualifiedDNSQuery    bool          `json:",omitempty"`
	DNSSearchList               string        `json:",omitempty"`
	TerminateOnLastHandleClosed bool          `json:",omitempty"`
}

// HCSProcessConfig is the HCS v1 process document (hcsshim.ProcessConfig).
type HCSProcessConfig struct {
	ApplicationName  string            `json:",omitempty"`
	CommandLine      string            `json:",omitempty"`
	User             string            `json:",omitempty"`
	WorkingDirectory string            `json:",omitempty"`
	Environment      map[string]string `json:",omitempty"`
	EmulateConsole   bool              `json:",omitempty"`
	CreateStdInPipe  bool              `json:",omitempty"`
	CreateStdOutPipe bool              `json:",omitempty"`
	CreateStdErrPipe bool              `json:",omitempty"`
	ConsoleSize      [2]uint           `json:",omitempty"`
}

// HCSOwner is the owner hull's compute systems carry, by which a restarted
// daemon finds them.
const HCSOwner = "hull"

// HCSContainerDocument builds the container document of id from spec, as
// Docker on Windows does: the last of spec.Windows.LayerFolders is the
// scratch layer (LayerFolderPath), the others the read-only layers, nearest
// parent first, each with the GUID nameToGUID gives its folder's name;
// process isolation mounts the scratch volume (spec.Root.Path), Hyper-V
// isolation runs a utility VM from the base layer's UtilityVM folder.
func HCSContainerDocument(id string, spec *specs.Spec, nameToGUID func(string) (string, error)) (*HCSContainerConfig, error) {
	w := spec.Windows
	if w == nil {
		return nil, fmt.Errorf("container %s: the spec has no windows section: %w", id, errdefs.ErrInvalidArgument)
	}
	if len(w.LayerFolders) < 2 {
		return nil, fmt.Errorf("container %s: windows.layerFolders needs the image's layers and the scratch layer last: %w", id, errdefs.ErrInvalidArgument)
	}
	doc := &HCSContainerConfig{
		SystemType: "Container", Name: id, Owner: HCSOwner, HostName: spec.Hostname,
		IgnoreFlushesDuringBoot: w.IgnoreFlushesDuringBoot,
		LayerFolderPath:         w.LayerFolders[len(w.LayerFolders)-1],
		Layers:                  []HCSLayer{},
	}
	parents := w.LayerFolders[:len(w.LayerFolders)-1]
	for _, p := range parents {
		g, err := nameToGUID(winBase(p))
		if err != nil {
			return nil, fmt.Errorf("container %s: layer %s: %w", id, p, err)
		}
		doc.Layers = append(doc.Layers, HCSLayer{ID: g, Path: p})
	}
	if r := w.Resources; r != nil {
		if c := r.CPU; c != nil {
			if c.Count != nil {
				doc.ProcessorCount = uint32(*c.Count)
			}
			if c.Shares != nil {
				doc.ProcessorWeight = uint64(*c.Shares)
			}
			if c.Maximum != nil {
				doc.ProcessorMaximum = int64(*c.Maximum)
			}
		}
		if m := r.Memory; m != nil && m.Limit != nil {
			doc.MemoryMaximumInMB = int64(*m.Limit) / 1024 / 1024
		}
		if s := r.Storage; s != nil {
			if s.Iops != nil {
				doc.StorageIOPSMaximum = *s.Iops
			}
			if s.Bps != nil {
				doc.StorageBandwidthMaximum = *s.Bps
			}
			if s.SandboxSize != nil {
				doc.StorageSandboxSize = *s.SandboxSize
			}
		}
	}
	if w.HyperV != nil {
		doc.HvPartition = true
		uvm := w.HyperV.UtilityVMPath
		if uvm == "" {
			// The base layer (the last read-only one) carries the utility VM.
			uvm = winJoin(parents[len(parents)-1], "UtilityVM")
		}
		doc.HvRuntime = &HCSHvRuntime{ImagePath: uvm}
	} else {
		if spec.Root == nil || spec.Root.Path == "" {
			return nil, fmt.Errorf("container %s: process isolation needs root.path, the scratch layer's volume: %w", id, errdefs.ErrInvalidArgument)
		}
		doc.VolumePath = spec.Root.Path
	}
	for _, m := range spec.Mounts {
		ro := slices.Contains(m.Options, "ro")
		if strings.HasPrefix(m.Source, `\\.\pipe\`) {
			doc.MappedPipes = append(doc.MappedPipes, HCSMappedPipe{HostPath: m.Source, ContainerPipeName: strings.TrimPrefix(m.Destination, `\\.\pipe\`)})
			continue
		}
		if m.Type != "" && m.Type != "bind" {
			return nil, fmt.Errorf("container %s: mount %s of type %q: Windows containers take folder binds and named pipes: %w", id, m.Destination, m.Type, errdefs.ErrInvalidArgument)
		}
		doc.MappedDirectories = append(doc.MappedDirectories, HCSMappedDir{HostPath: m.Source, ContainerPath: m.Destination, ReadOnly: ro, CreateInUtilityVM: w.HyperV != nil})
	}
	if n := w.Network; n != nil {
		doc.EndpointList = n.EndpointList
		doc.AllowUnqualifiedDNSQuery = n.AllowUnqualifiedDNSQuery
		doc.DNSSearchList = strings.Join(n.DNSSearchList, ",")
		doc.NetworkSharedContainerName = n.NetworkSharedContainerName
	}
	return doc, nil
}

// HCSProcessDocument builds the process document of p: its command line
// (Windows quoting), folder, environment, user, and the pipes: stdout
// always, stdin when asked, stderr unless a console merges it.
func HCSProcessDocument(p *specs.Process, stdin bool) *HCSProcessConfig {
	doc := &HCSProcessConfig{
		CommandLine: p.CommandLine, WorkingDirectory: p.Cwd, User: p.User.Username,
		EmulateConsole: p.Terminal, CreateStdInPipe: stdin, CreateStdOutPipe: true, CreateStdErrPipe: !p.Terminal,
	}
	if doc.CommandLine == "" {
		doc.CommandLine = WindowsCommandLine(p.Args)
	}
	if len(p.Env) > 0 {
		doc.Environment = map[string]string{}
		for _, e := range p.Env {
			k, v, _ := strings.Cut(e, "=")
			doc.Environment[k] = v
		}
	}
	if p.ConsoleSize != nil {
		doc.ConsoleSize = [2]uint{p.ConsoleSize.Height, p.ConsoleSize.Width}
	}
	return doc
}

// WindowsCommandLine joins args into one command line that Windows'
// CommandLineToArgvW splits back into args: an argument with spaces, tabs
// or quotes is quoted, its quotes escaped, and the backslashes before a
// quote doubled.
func WindowsCommandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = windowsQuote(a)
	}
	return strings.Join(out, " ")
}

func windowsQuote(a string) string {
	if a == "" {
		return `""`
	}
	if !strings.ContainsAny(a, " \t\"") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(a); i++ {
		switch c := a[i]; c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
			b.WriteByte('"')
			slashes = 0
			continue
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
			b.WriteByte(c)
			slashes = 0
			continue
		}
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}

// winBase and winJoin handle Windows paths on any OS.
func winBase(p string) string {
	p = strings.TrimRight(p, `\/`)
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func winJoin(a, b string) string { return strings.TrimRight(a, `\/`) + `\` + b }

// ComputeService is the narrow interface over HCS (hcsshim's
// CreateContainer, OpenContainer, GetContainers, NameToGuid).
type ComputeService interface {
	CreateContainer(id string, doc *HCSContainerConfig) (ComputeSystem, error)
	OpenContainer(id string) (ComputeSystem, error)
	// GetContainers lists the compute systems of an owner.
	GetContainers(owner string) ([]ComputeSystemInfo, error)
	NameToGUID(name string) (string, error)
}

// ComputeSystemInfo is what GetContainers tells of a compute system.
type ComputeSystemInfo struct {
	ID, State, Owner string
	Stopped          bool
}

// ComputeSystem is one HCS compute system (hcsshim.Container).
type ComputeSystem interface {
	Start() error
	CreateProcess(doc *HCSProcessConfig) (ComputeProcess, error)
	OpenProcess(pid int) (ComputeProcess, error)
	Shutdown() error
	Terminate() error
	Statistics() (HCSStatistics, error)
	ProcessList() ([]HCSProcessItem, error)
	Close() error
}

// ComputeProcess is a process in a compute system (hcsshim.Process).
type ComputeProcess interface {
	Pid() int
	Stdio() (io.WriteCloser, io.ReadCloser, io.ReadCloser, error)
	Wait() error
	ExitCode() (int, error)
	Kill() error
	ResizeConsole(width, height uint16) error
	Close() error
}

// HCSStatistics are a compute system's counters (CPU in 100 ns units).
type HCSStatistics struct {
	CPUTotal100ns    uint64
	MemoryCommit     uint64
	MemoryPrivateWS  uint64
	StorageReadBytes uint64
	StorageWriteByte uint64
}

// HCSProcessItem is a process of ProcessList.
type HCSProcessItem struct {
	ProcessID uint32
	ImageName string
}

// HCSRuntime is the compute service on HCS: the calls Docker on Windows
// makes, in its order, and a restore that reopens instead of terminating.
type HCSRuntime struct {
	svc ComputeService
}

// NewHCSRuntime returns the compute service over svc.
func NewHCSRuntime(svc ComputeService) *HCSRuntime { return &HCSRuntime{svc: svc} }

// HCSContainer is a running (or created) compute system and its process.
type HCSContainer struct {
	ID      string
	System  ComputeSystem
	Process ComputeProcess
}

// Run creates the compute system of id from spec, starts it and creates
// its process (CreateContainer → Start → CreateProcess).
func (r *HCSRuntime) Run(id string, spec *specs.Spec, stdin bool) (*HCSContainer, error) {
	doc, err := HCSContainerDocument(id, spec, r.svc.NameToGUID)
	if err != nil {
		return nil, err
	}
	cs, err := r.svc.CreateContainer(id, doc)
	if err != nil {
		return nil, fmt.Errorf("create compute system %s: %w", id, err)
	}
	if err := cs.Start(); err != nil {
		cs.Terminate()
		cs.Close()
		return nil, fmt.Errorf("start compute system %s: %w", id, err)
	}
	if spec.Process == nil {
		return &HCSContainer{ID: id, System: cs}, nil
	}
	p, err := cs.CreateProcess(HCSProcessDocument(spec.Process, stdin))
	if err != nil {
		cs.Terminate()
		cs.Close()
		return nil, fmt.Errorf("create the process of %s: %w", id, err)
	}
	return &HCSContainer{ID: id, System: cs, Process: p}, nil
}

// Restore finds the compute systems hull owns and reopens them with their
// process (pids as the daemon recorded them) — it never terminates one, as
// Docker on Windows did at every start. Stopped ones are reported with a
// nil System.
func (r *HCSRuntime) Restore(pids map[string]int) ([]*HCSContainer, error) {
	infos, err := r.svc.GetContainers(HCSOwner)
	if err != nil {
		return nil, fmt.Errorf("list compute systems: %w", err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	var out []*HCSContainer
	var errs []error
	for _, in := range infos {
		if in.Stopped {
			out = append(out, &HCSContainer{ID: in.ID})
			continue
		}
		cs, err := r.svc.OpenContainer(in.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("open compute system %s: %w", in.ID, err))
			continue
		}
		c := &HCSContainer{ID: in.ID, System: cs}
		if pid, ok := pids[in.ID]; ok {
			if p, err := cs.OpenProcess(pid); err == nil {
				c.Process = p
			} else {
				errs = append(errs, fmt.Errorf("open process %d of %s: %w", pid, in.ID, err))
			}
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}
