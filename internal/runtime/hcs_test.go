package runtime

// Golden tests of the HCS documents (run on any OS): no Windows host has
// sent these to HCS yet; they are checked against what Docker on Windows
// sends for the same container.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeGUID stands for hcsshim.NameToGuid (a Windows API): a stable GUID
// made from the name.
func fakeGUID(name string) (string, error) {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := fmt.Sprintf("%016x%016x", h.Sum64(), h.Sum64()^0x5bd1e995)
	return fmt.Sprintf("%s-%s-%s-%s-%s", s[0:8], s[8:12], s[12:16], s[16:20], s[20:32]), nil
}

// exampleWindowsSpec is a process-isolated container on two image layers,
// with a mapped directory and one endpoint.
func exampleWindowsSpec() *specs.Spec {
	s := WindowsSpec(SpecOptions{Args: []string{"powershell", "-Command", `Write-Host "hello world"`}, Env: []string{"PATH=C:\\Windows\\system32;C:\\Windows"},
		Cwd: `C:\`, Hostname: "example", Terminal: false, RootPath: `\\?\Volume{9b2e1a3c-6f1d-4c8e-9a0b-2f7d5e6c1a11}\`})
	root := `C:\ProgramData\hull\windowsfilter\`
	s.Windows.LayerFolders = []string{root + "6f1d4c8e9a0b", root + "2f7d5e6c1a11", root + "c0ffee000001"}
	s.Windows.Network = &specs.WindowsNetwork{EndpointList: []string{"7e3c2b1a-0000-4000-8000-00000000e001"}, DNSSearchList: []string{"corp.example"}}
	mem := uint64(512 << 20)
	cpus := uint64(2)
	s.Windows.Resources = &specs.WindowsResources{Memory: &specs.WindowsMemoryResources{Limit: &mem}, CPU: &specs.WindowsCPUResources{Count: &cpus}}
	s.Mounts = []specs.Mount{
		{Source: `C:\data`, Destination: `C:\data`, Options: []string{"rbind", "ro"}},
		{Source: `\\.\pipe\docker_engine`, Destination: `\\.\pipe\docker_engine`},
	}
	return s
}

func TestHCSContainerDocumentGolden(t *testing.T) {
	doc, err := HCSContainerDocument("c0ffee000001", exampleWindowsSpec(), fakeGUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Layers) != 2 || doc.LayerFolderPath != `C:\ProgramData\hull\windowsfilter\c0ffee000001` || doc.HvPartition || doc.VolumePath == "" {
		t.Errorf("document: %+v", doc)
	}
	checkGolden(t, "hcs_container_process.golden.json", doc)
}

func TestHCSContainerDocumentHyperVGolden(t *testing.T) {
	s := exampleWindowsSpec()
	s.Windows.HyperV = &specs.WindowsHyperV{}
	doc, err := HCSContainerDocument("c0ffee000001", s, fakeGUID)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.HvPartition || doc.HvRuntime == nil || doc.HvRuntime.ImagePath != `C:\ProgramData\hull\windowsfilter\2f7d5e6c1a11\UtilityVM` || doc.VolumePath != "" {
		t.Errorf("Hyper-V document: %+v %+v", doc, doc.HvRuntime)
	}
	checkGolden(t, "hcs_container_hyperv.golden.json", doc)
}

func TestHCSProcessDocumentGolden(t *testing.T) {
	p := exampleWindowsSpec().Process
	doc := HCSProcessDocument(p, true)
	if doc.CommandLine != `powershell -Command "Write-Host \"hello world\""` {
		t.Errorf("command line: %s", doc.CommandLine)
	}
	checkGolden(t, "hcs_process.golden.json", doc)
	p.Terminal = true
	p.ConsoleSize = &specs.Box{Height: 30, Width: 120}
	if d := HCSProcessDocument(p, true); !d.EmulateConsole || d.CreateStdErrPipe || d.ConsoleSize != [2]uint{30, 120} {
		t.Errorf("terminal process document: %+v", d)
	}
}

func TestHCSContainerDocumentBadInput(t *testing.T) {
	s := exampleWindowsSpec()
	s.Windows.LayerFolders = s.Windows.LayerFolders[:1]
	if _, err := HCSContainerDocument("x", s, fakeGUID); err == nil || !strings.Contains(err.Error(), "layerFolders") {
		t.Errorf("one layer folder: %v", err)
	}
	s = exampleWindowsSpec()
	s.Mounts = append(s.Mounts, specs.Mount{Type: "tmpfs", Destination: `C:\t`})
	if _, err := HCSContainerDocument("x", s, fakeGUID); err == nil {
		t.Error("a tmpfs mount was taken")
	}
	if _, err := HCSContainerDocument("x", exampleWindowsSpec(), func(string) (string, error) { return "", errors.New("no GUID") }); err == nil {
		t.Error("a NameToGuid failure was ignored")
	}
}

func TestWindowsCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cmd", "/c", "echo", "hi"}, `cmd /c echo hi`},
		{[]string{"a b", ""}, `"a b" ""`},
		{[]string{`C:\Program Files\x\`}, `"C:\Program Files\x\\"`},
		{[]string{`say "hi"`}, `"say \"hi\""`},
		{[]string{`a\"b c`}, `"a\\\"b c"`},
		{[]string{`no\slash`}, `no\slash`},
	} {
		if got := WindowsCommandLine(c.args); got != c.want {
			t.Errorf("WindowsCommandLine(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}
