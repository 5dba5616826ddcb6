package runtime

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/wine"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// updateGolden is the package's one -update flag (STYLE.md: golden files
// are refreshed with -update). Other tests of this package use it too;
// defining a second "update" flag would panic at start.
var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

// checkGolden compares got, as indented JSON, with testdata/name, or writes
// it there with -update.
func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the generated document (run with -update if the change is intended); got:\n%s", file, b)
	}
}

// v1Host is this machine's kind of host: hybrid cgroups, both sysctls,
// outside a user namespace, no thermal_throttle directories.
var v1Host = hostFacts{
	sysctls: []string{"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ping_group_range"},
}

func TestSpecDefaultCapabilities(t *testing.T) {
	s := linuxSpec(SpecOptions{}, v1Host)
	want := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	c := s.Process.Capabilities
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if len(set) != 14 || !slices.Equal(set, want) {
			t.Errorf("%s = %v (%d), want Docker's 14: %v", name, set, len(set), want)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %v, ambient %v: want both empty as in Docker ≥ 20.10", c.Inheritable, c.Ambient)
	}
	// The sets must not share a backing array: a caller that drops a
	// capability from one set must not change the others.
	c.Bounding[0] = "CAP_X"
	if c.Effective[0] != "CAP_CHOWN" || defaultCapabilities[0] != "CAP_CHOWN" {
		t.Error("the capability sets share memory")
	}
}

func TestSpecCgroupnsDecision(t *testing.T) {
	if got := defaultCgroupns(false); got != CgroupnsHost {
		t.Errorf("cgroup v1/hybrid host: %q, want %q", got, CgroupnsHost)
	}
	if got := defaultCgroupns(true); got != CgroupnsPrivate {
		t.Errorf("cgroup v2 host: %q, want %q", got, CgroupnsPrivate)
	}
	hasCgroupns := func(s *specs.Spec) bool {
		return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace })
	}
	v2Host := v1Host
	v2Host.cgroup2 = true
	for _, tc := range []struct {
		name string
		mode CgroupnsMode
		host hostFacts
		want bool
	}{
		{"v1 default", CgroupnsDefault, v1Host, false},
		{"v2 default", CgroupnsDefault, v2Host, true},
		{"v1 private", CgroupnsPrivate, v1Host, true},
		{"v2 host", CgroupnsHost, v2Host, false},
	} {
		if got := hasCgroupns(linuxSpec(SpecOptions{Cgroupns: tc.mode}, tc.host)); got != tc.want {
			t.Errorf("%s: cgroup namespace %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := DefaultSpec(SpecOptions{Cgroupns: "shared"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Cgroupns \"shared\": err = %v, want ErrInvalidArgument", err)
	}
}

func TestSpecOptions(t *testing.T) {
	s := linuxSpec(SpecOptions{
		Args: []string{"top", "-b"}, Terminal: true, RootPath: "/var/lib/x/rootfs", Readonly: true,
		Hostname: "c1", Cwd: "/srv", Env: []string{"A=b"}, NoNewPrivileges: true,
	}, v1Host)
	if !slices.Equal(s.Process.Args, []string{"top", "-b"}) || !s.Process.Terminal || s.Process.Cwd != "/srv" ||
		!s.Process.NoNewPrivileges || s.Hostname != "c1" || s.Root.Path != "/var/lib/x/rootfs" || !s.Root.Readonly {
		t.Errorf("options not applied: %+v %+v root %+v", s.Process, s.Hostname, s.Root)
	}
	if want := []string{DefaultPathEnv, "A=b", "TERM=xterm"}; !slices.Equal(s.Process.Env, want) {
		t.Errorf("env %v, want %v", s.Process.Env, want)
	}
	s = linuxSpec(SpecOptions{Terminal: true, Env: []string{"PATH=/bin", "TERM=vt100"}}, v1Host)
	if want := []string{"PATH=/bin", "TERM=vt100"}; !slices.Equal(s.Process.Env, want) {
		t.Errorf("env %v, want the caller's PATH and TERM kept: %v", s.Process.Env, want)
	}
	userns := v1Host
	userns.inUserNS = true
	if s := linuxSpec(SpecOptions{}, userns); s.Linux.Sysctl["net.ipv4.ping_group_range"] != "" || s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("in a user namespace: sysctls %v, want only ip_unprivileged_port_start", s.Linux.Sysctl)
	}
	if s := linuxSpec(SpecOptions{}, hostFacts{}); s.Linux.Sysctl != nil {
		t.Errorf("host without the sysctls: %v, want none", s.Linux.Sysctl)
	}
}

func TestSpecWindowsGolden(t *testing.T) {
	s := windowsSpec(SpecOptions{})
	if s.Process.Cwd != `C:\` || !slices.Equal(s.Process.Args, []string{"cmd"}) || s.Windows == nil || s.Linux != nil {
		t.Errorf("not Windows-shaped: %+v", s)
	}
	checkGolden(t, "default_spec_windows.golden.json", s)
}

func TestValidateSpec(t *testing.T) {
	bundle := wine.TempDir(t)
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ValidateSpec(linuxSpec(SpecOptions{}, v1Host), bundle); err != nil {
		t.Fatalf("the default spec: %v", err)
	}
	if err := ValidateSpec(windowsSpec(SpecOptions{}), bundle); err != nil {
		t.Fatalf("the Windows default spec: %v", err)
	}

	for _, tc := range []struct {
		name   string
		change func(s *specs.Spec)
		want   string // in the message: the name of the bad thing
	}{
		{"no ociVersion", func(s *specs.Spec) { s.Version = "" }, "ociVersion"},
		{"ociVersion 2", func(s *specs.Spec) { s.Version = "2.0.0" }, `"2.0.0"`},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"empty program", func(s *specs.Spec) { s.Process.Args = []string{""} }, "process.args[0]"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "nothere" }, `"nothere"`},
		{"rootfs not a directory", func(s *specs.Spec) { s.Root.Path = "file" }, "not a directory"},
		{"absolute missing rootfs", func(s *specs.Spec) { s.Root.Path = filepath.Join(bundle, "gone") }, "gone"},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FLY")
		}, "CAP_FLY"},
		{"lower-case capability", func(s *specs.Spec) { s.Process.Capabilities.Ambient = []string{"net_admin"} }, "did you mean CAP_NET_ADMIN"},
		{"relative destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "data", Type: "bind", Source: "/srv", Options: []string{"rbind"}})
		}, `"data"`},
		{"tmpfs on /proc", func(s *specs.Spec) { s.Mounts[0].Type, s.Mounts[0].Source = "tmpfs", "tmpfs" }, "/proc"},
		{"bind of host dir on /proc", func(s *specs.Spec) {
			s.Mounts[0] = specs.Mount{Destination: "/proc/", Type: "bind", Source: "/tmp", Options: []string{"rbind"}}
		}, `"/tmp"`},
		{"bind under /proc", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys/kernel/core_pattern", Type: "bind", Source: "/tmp/x", Options: []string{"bind"}})
		}, "/proc/sys/kernel/core_pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := linuxSpec(SpecOptions{}, v1Host)
			tc.change(s)
			err := ValidateSpec(s, bundle)
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q does not name %s", err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		change func(s *specs.Spec)
	}{
		{"lxcfs meminfo", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/meminfo", Type: "bind", Source: "/var/lib/lxcfs/proc/meminfo", Options: []string{"bind"}})
		}},
		{"procfs bind on /proc", func(s *specs.Spec) {
			s.Mounts[0] = specs.Mount{Destination: "/proc", Type: "bind", Source: "/proc", Options: []string{"rbind"}}
		}},
		{"all capabilities", func(s *specs.Spec) { s.Process.Capabilities.Bounding = slices.Clone(knownCapabilities) }},
		{"Windows command line", func(s *specs.Spec) { s.Process.Args, s.Process.CommandLine = []string{}, "cmd /c dir" }},
	} {
		t.Run("ok "+tc.name, func(t *testing.T) {
			s := linuxSpec(SpecOptions{}, v1Host)
			tc.change(s)
			if err := ValidateSpec(s, bundle); err != nil {
				t.Errorf("err = %v, want none", err)
			}
		})
	}

	if err := ValidateSpec(nil, bundle); !errdefs.IsInvalidArgument(err) {
		t.Errorf("nil spec: %v, want ErrInvalidArgument", err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"c1": true, "A.b_c+d-e": true, strings.Repeat("x", 128): true,
		"": false, "-x": false, ".x": false, "a/b": false, "a b": false, "..": false,
		strings.Repeat("x", 129): false, "é": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v, want %v", id, got, want)
		}
	}
}
