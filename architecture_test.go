package hull_test

// These tests hold the code to the dependency direction of DESIGN.md and
// ARCHITECTURE.md, so that it is checked by a test and not by memory.

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hullproject/hull"

// allowed lists, for each package of hull, the hull packages it may import
// directly. A package missing here may not exist: add it with its rule.
var allowed = map[string][]string{
	"internal/errdefs":           {},
	"internal/filters":           {"internal/errdefs"},
	"internal/apiversion":        {},
	"internal/crashpoint":        {},
	"internal/groupcommit":       {},
	"internal/layer":             {"internal/errdefs", "internal/crashpoint"},
	"internal/layer/layertest":   {"internal/errdefs", "internal/layer"},
	"internal/runtime":           {"internal/errdefs", "internal/runtime/shimapi", "internal/runtime/monitor", "internal/runtime/leaninit", "internal/runtime/seccompbpf", "internal/runtime/seccompprog"},
	"internal/runtime/leaninit":  {}, // the container's init: types of its own, nothing of libcontainer's configuration
	"internal/runtime/shimapi":   {"internal/errdefs"},
	"internal/runtime/monitor":   {"internal/errdefs", "internal/runtime/shimapi"},
	"internal/plugin":            {"internal/errdefs"},
	"internal/image":             {"internal/errdefs", "internal/layer", "internal/crashpoint"},
	"internal/network":           {"internal/errdefs", "internal/plugin", "internal/crashpoint"},
	"internal/daemon":            {"internal/errdefs", "internal/crashpoint", "internal/groupcommit", "internal/apiversion", "internal/filters", "internal/image", "internal/layer", "internal/runtime", "internal/network", "internal/plugin"},
	"internal/cri":               {"internal/errdefs", "internal/filters"},
	"internal/build":             {"internal/errdefs", "internal/runtime"},
	"internal/buildproc":         {"internal/errdefs"},
	"cmd/hull-buildkit":          {"internal/build"},
	"internal/server":            {"internal/errdefs", "internal/apiversion", "internal/filters"},
	"internal/cli":               {"internal/errdefs"},
	"internal/diag":              {"internal/errdefs"},
	"cmd/hull-shim":              {"internal/errdefs", "internal/runtime"},
	"cmd/hull-monitor":           {"internal/runtime/monitor"},
	"cmd/hull-init":              {"internal/runtime/leaninit", "internal/runtime/seccompprog"},
	"cmd/hull":                   nil,                                // the wiring: knows every concrete type
	"":                           nil,                                // this test
	"bench":                      {"bench/soak", "internal/runtime"}, // starttrace drives the runtime in process
	"internal/image/imagetest":   {"internal/errdefs", "internal/image", "internal/layer"},
	"internal/server/servertest": {"internal/errdefs", "internal/server"},
	"test/conformance":           {"internal/hosttest"}, // drives the daemons over their sockets only
	"internal/hosttest":          {},                    // host settings shared by test binaries
	"internal/wine":              {},                    // test files only: Wine told from Windows
	"test/critest/images":        {},                    // critest's test images, made locally
	"test/critest/standin":       {},                    // the programs in those images

	// The precompiled seccomp filter: compiled in the shim (seccompbpf),
	// loaded by hull's own init (seccompprog, pure Go).
	"internal/runtime/seccompbpf":  {"internal/errdefs", "internal/runtime/seccompprog"},
	"internal/runtime/seccompprog": {},
}

// daemonSide may never be reached, even indirectly, from the client side.
var daemonSide = []string{"internal/server", "internal/cri", "internal/build", "internal/buildproc", "internal/daemon", "internal/image", "internal/layer", "internal/runtime", "internal/network", "internal/plugin"}

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func goList(t *testing.T, goos string, args ...string) []listed {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command("go", append([]string{"list", "-json", "-deps=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v (GOOS=%s): %v", args, goos, err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(p string) (string, bool) {
	if p == module {
		return "", true
	}
	r, ok := strings.CutPrefix(p, module+"/")
	return r, ok
}

func TestDependencyDirection(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		for _, p := range goList(t, goos, "./...") {
			name, ok := rel(p.ImportPath)
			if !ok {
				continue
			}
			if name == "bench" || strings.HasPrefix(name, "bench/") {
				name = "bench" // benchmark tools drive hull's binary, never its packages
			}
			rules, known := allowed[name]
			if !known {
				t.Errorf("package %s has no rule in architecture_test.go; add one that follows DESIGN.md", name)
				continue
			}
			if rules == nil {
				continue
			}
			for _, imp := range p.Imports {
				r, ok := rel(imp)
				if !ok || r == name {
					continue
				}
				if !slices.Contains(rules, r) {
					t.Errorf("GOOS=%s: %s imports %s, which DESIGN.md's dependency direction forbids", goos, name, r)
				}
			}
			if name == "internal/cli" || name == "internal/diag" || name == "internal/server" {
				for _, d := range p.Deps {
					r, ok := rel(d)
					if ok && slices.Contains(daemonSide, r) && r != name {
						t.Errorf("GOOS=%s: %s reaches %s", goos, name, r)
					}
				}
			}
		}
	}
}

// TestInitStaysSmall keeps hull-init, which starts once per container,
// free of cgo (libseccomp: the filter comes compiled), of libcontainer's
// init and nsenter, of libcontainer's configuration and what it pulls in
// (cgroups, D-Bus, logrus, net: each package's start-up is paid by every
// container), and of hull's own packages other than the init's.
func TestInitStaysSmall(t *testing.T) {
	needGo(t)
	cmd := exec.Command("go", "list", "-deps", "./cmd/hull-init")
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/hull-init: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		r, ours := rel(d)
		if d == "runtime/cgo" || strings.HasPrefix(d, "github.com/seccomp") || d == "github.com/opencontainers/runc/libcontainer" ||
			strings.HasPrefix(d, "github.com/opencontainers/runc/libcontainer/nsenter") ||
			(ours && r != "cmd/hull-init" && r != "internal/runtime/leaninit" && r != "internal/runtime/seccompprog") ||
			strings.HasPrefix(d, "github.com/opencontainers/runc/libcontainer/configs") || strings.HasPrefix(d, "github.com/opencontainers/cgroups") ||
			strings.HasPrefix(d, "github.com/godbus") || strings.HasPrefix(d, "github.com/sirupsen") || d == "net" || d == "net/http" {
			t.Errorf("hull-init depends on %s", d)
		}
	}
}

// TestMonitorStaysSmall: hull-monitor stays resident beside every running
// container, so it may not reach the container runtime (libcontainer,
// libseccomp through cgo) or the rest of hull.
func TestMonitorStaysSmall(t *testing.T) {
	needGo(t)
	cmd := exec.Command("go", "list", "-deps", "./cmd/hull-monitor")
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/hull-monitor: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		r, ours := rel(d)
		if strings.HasPrefix(d, "github.com/opencontainers/runc") || strings.HasPrefix(d, "github.com/opencontainers/cgroups") ||
			strings.HasPrefix(d, "github.com/seccomp") || (ours && r != "internal/errdefs" && !strings.HasPrefix(r, "internal/runtime/") && r != "cmd/hull-monitor") ||
			(ours && r == "internal/runtime") ||
			// net/http's init and its dependencies cost the shim
			// about 1.4 MB resident (TestShimMemory).
			d == "net/http" {
			t.Errorf("hull-monitor depends on %s", d)
		}
	}
}

// TestPlatformImports checks that each platform's libraries are imported
// only from files of that platform: hcsshim and go-winio from *_windows.go,
// libcontainer, netlink, netns and nftables from *_linux.go.
func TestPlatformImports(t *testing.T) {
	needGo(t)
	only := map[string]string{
		"github.com/Microsoft/hcsshim":                "_windows",
		"github.com/Microsoft/go-winio":               "_windows",
		"github.com/opencontainers/runc/libcontainer": "_linux",
		"github.com/vishvananda/netlink":              "_linux",
		"github.com/vishvananda/netns":                "_linux",
		"github.com/google/nftables":                  "_linux",
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".go"), "_test")
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			for lib, suffix := range only {
				if (path == lib || strings.HasPrefix(path, lib+"/")) && !strings.HasSuffix(base, suffix) {
					t.Errorf("%s imports %s; only *%s.go files may", p, path, suffix)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And the Linux build does not reach hcsshim at all.
	for _, p := range goListDeps(t, "linux") {
		if strings.HasPrefix(p, "github.com/Microsoft/hcsshim") {
			t.Errorf("the Linux build depends on %s", p)
		}
	}
}

// needGo skips a test that reads the sources through the go command where
// there is none (the Windows test binaries under Wine).
func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
}

func goListDeps(t *testing.T, goos string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "./...")
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps (GOOS=%s): %v", goos, err)
	}
	return strings.Fields(string(out))
}

// TestDaemonBinaryHasNoBuildKit: BuildKit lives in hull-buildkit, which the
// daemon starts on the first build (internal/buildproc), so that the
// daemon's binary and its idle memory stay as they were without a builder.
// (gRPC itself is in the daemon since the Kubernetes CRI is served there.)
func TestDaemonBinaryHasNoBuildKit(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "./cmd/hull").Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/hull: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == module+"/internal/build" || strings.HasPrefix(p, "github.com/moby/buildkit/control") ||
			strings.HasPrefix(p, "github.com/containerd/containerd/v2") {
			t.Errorf("cmd/hull depends on %s: BuildKit belongs in hull-buildkit", p)
		}
	}
}
