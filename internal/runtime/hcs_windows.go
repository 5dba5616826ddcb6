package runtime

// The adapter of ComputeService onto hcsshim — the one part of the compute
// service on Windows no test on this project's machines runs. Documents
// cross by their JSON, which hcs_test.go checks against golden files.

import (
	"encoding/json"
	"io"

	"github.com/Microsoft/hcsshim"
)

// HCSCompute is ComputeService on hcsshim.
type HCSCompute struct{}

var _ ComputeService = HCSCompute{}

func convert(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

func (HCSCompute) CreateContainer(id string, doc *HCSContainerConfig) (ComputeSystem, error) {
	var cfg hcsshim.ContainerConfig
	if err := convert(doc, &cfg); err != nil {
		return nil, err
	}
	c, err := hcsshim.CreateContainer(id, &cfg)
	if err != nil {
		return nil, err
	}
	return hcsSystem{c}, nil
}

func (HCSCompute) OpenContainer(id string) (ComputeSystem, error) {
	c, err := hcsshim.OpenContainer(id)
	if err != nil {
		return nil, err
	}
	return hcsSystem{c}, nil
}

func (HCSCompute) GetContainers(owner string) ([]ComputeSystemInfo, error) {
	props, err := hcsshim.GetContainers(hcsshim.ComputeSystemQuery{Owners: []string{owner}, Types: []string{"Container"}})
	if err != nil {
		return nil, err
	}
	out := make([]ComputeSystemInfo, 0, len(props))
	for _, p := range props {
		out = append(out, ComputeSystemInfo{ID: p.ID, State: p.State, Owner: p.Owner, Stopped: p.Stopped})
	}
	return out, nil
}

func (HCSCompute) NameToGUID(name string) (string, error) {
	g, err := hcsshim.NameToGuid(name)
	if err != nil {
		return "", err
	}
	return g.ToString(), nil
}

type hcsSystem struct{ c hcsshim.Container }

func (s hcsSystem) Start() error     { return s.c.Start() }
func (s hcsSystem) Shutdown() error  { return s.c.Shutdown() }
func (s hcsSystem) Terminate() error { return s.c.Terminate() }
func (s hcsSystem) Close() error     { return s.c.Close() }

func (s hcsSystem) CreateProcess(doc *HCSProcessConfig) (ComputeProcess, error) {
	var cfg hcsshim.ProcessConfig
	if err := convert(doc, &cfg); err != nil {
		return nil, err
	}
	p, err := s.c.CreateProcess(&cfg)
	if err != nil {
		return nil, err
	}
	return hcsProcess{p}, nil
}

func (s hcsSystem) OpenProcess(pid int) (ComputeProcess, error) {
	p, err := s.c.OpenProcess(pid)
	if err != nil {
		return nil, err
	}
	return hcsProcess{p}, nil
}

func (s hcsSystem) Statistics() (HCSStatistics, error) {
	st, err := s.c.Statistics()
	if err != nil {
		return HCSStatistics{}, err
	}
	return HCSStatistics{
		CPUTotal100ns: st.Processor.TotalRuntime100ns, MemoryCommit: st.Memory.UsageCommitBytes,
		MemoryPrivateWS: st.Memory.UsagePrivateWorkingSetBytes, StorageReadBytes: st.Storage.ReadSizeBytes,
		StorageWriteByte: st.Storage.WriteSizeBytes,
	}, nil
}

func (s hcsSystem) ProcessList() ([]HCSProcessItem, error) {
	l, err := s.c.ProcessList()
	if err != nil {
		return nil, err
	}
	out := make([]HCSProcessItem, 0, len(l))
	for _, p := range l {
		out = append(out, HCSProcessItem{ProcessID: p.ProcessId, ImageName: p.ImageName})
	}
	return out, nil
}

type hcsProcess struct{ p hcsshim.Process }

func (p hcsProcess) Pid() int { return p.p.Pid() }
func (p hcsProcess) Stdio() (io.WriteCloser, io.ReadCloser, io.ReadCloser, error) {
	return p.p.Stdio()
}
func (p hcsProcess) Wait() error                     { return p.p.Wait() }
func (p hcsProcess) ExitCode() (int, error)          { return p.p.ExitCode() }
func (p hcsProcess) Kill() error                     { return p.p.Kill() }
func (p hcsProcess) ResizeConsole(w, h uint16) error { return p.p.ResizeConsole(w, h) }
func (p hcsProcess) Close() error                    { return p.p.Close() }
