package daemon

// /info and /version: what the engine is and what the host gives it, read
// from the host as dockerd reads it (info_linux.go, info_windows.go), in
// the newest API version's shape; internal/server gives older versions
// theirs.

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/hullproject/hull/internal/image"
)

// runtimeName is the name /info gives hull's OCI runtime (the hull-shim
// binary, libcontainer inside): the one and default runtime.
const runtimeName = "hull"

// hostFacts is what the platform hook reads from the host for /info.
type hostFacts struct {
	cgroupDriver, cgroupVersion            string
	memoryLimit, swapLimit, oomKillDisable bool
	cpuCfs, cpuShares, cpuset, pidsLimit   bool
	ipv4Forwarding                         bool
	memTotal                               int64
	architecture, osVersion                string
	nfd                                    int
	securityOptions                        []string
	warnings                               []string
	runtimePath                            string
	isolation                              container.Isolation
	firewall                               *system.FirewallInfo
	kernelMemory, kernelMemoryTCP          bool
	bridgeNfIptables, bridgeNfIp6tables    bool
	// blkio: read bps, write bps, read iops, write iops limits; ioWeight:
	// v2's io.weight.
	blkio    [4]bool
	ioWeight bool
}

// SystemInfo is GET /info.
func (d *Daemon) SystemInfo(ctx context.Context) (system.Info, error) {
	list, err := d.images.List(ctx)
	if err != nil {
		return system.Info{}, err
	}
	host, _ := os.Hostname()
	var running, paused, stopped int
	d.mu.Lock()
	for _, c := range d.ctrs {
		c.mu.Lock()
		switch c.rec.State.Status {
		case container.StateRunning:
			running++
		case container.StatePaused:
			paused++
		default:
			stopped++
		}
		c.mu.Unlock()
	}
	total := len(d.ctrs)
	d.mu.Unlock()
	d.events.mu.Lock()
	listeners := len(d.events.subs)
	d.events.mu.Unlock()
	f := readHostFacts()
	info := system.Info{
		ID:                 d.engineID,
		Containers:         total,
		ContainersRunning:  running,
		ContainersPaused:   paused,
		ContainersStopped:  stopped,
		Images:             len(list),
		Driver:             driverName,
		DriverStatus:       [][2]string{{"Layer folders", filepath.Join(d.cfg.Root, "layers")}},
		Plugins:            d.pluginsInfo(),
		MemoryLimit:        f.memoryLimit,
		SwapLimit:          f.swapLimit,
		CPUCfsPeriod:       f.cpuCfs,
		CPUCfsQuota:        f.cpuCfs,
		CPUShares:          f.cpuShares,
		CPUSet:             f.cpuset,
		PidsLimit:          f.pidsLimit,
		IPv4Forwarding:     f.ipv4Forwarding,
		Debug:              d.cfg.Debug,
		NFd:                f.nfd,
		OomKillDisable:     f.oomKillDisable,
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       f.cgroupDriver,
		CgroupVersion:      f.cgroupVersion,
		NEventsListener:    listeners,
		KernelVersion:      kernelVersion(),
		OperatingSystem:    operatingSystem(),
		OSVersion:          f.osVersion,
		OSType:             goruntime.GOOS,
		Architecture:       f.architecture,
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     registryConfig(d.cfg.Registries),
		NCPU:               goruntime.NumCPU(),
		MemTotal:           f.memTotal,
		DockerRootDir:      d.cfg.Root,
		HTTPProxy:          maskCredentials(envAny("HTTP_PROXY", "http_proxy")),
		HTTPSProxy:         maskCredentials(envAny("HTTPS_PROXY", "https_proxy")),
		NoProxy:            envAny("NO_PROXY", "no_proxy"),
		Name:               host,
		Labels:             []string{},
		ExperimentalBuild:  false,
		ServerVersion:      Version,
		DefaultRuntime:     runtimeName,
		Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		LiveRestoreEnabled: d.cfg.LiveRestore,
		Isolation:          f.isolation,
		// hull runs neither containerd nor runc nor an init binary: the
		// compute service is libcontainer inside hull-shim.
		ContainerdCommit: system.Commit{ID: "N/A"},
		RuncCommit:       system.Commit{ID: "N/A"},
		InitCommit:       system.Commit{ID: "N/A"},
		SecurityOptions:  f.securityOptions,
		FirewallBackend:  f.firewall,
		// No CDI devices: dockerd answers an empty list when CDI is off.
		CDISpecDirs: []string{},
		Warnings:    f.warnings,
	}
	if f.runtimePath != "" || goruntime.GOOS != "windows" {
		info.Runtimes = map[string]system.RuntimeWithStatus{runtimeName: {Runtime: system.Runtime{Path: f.runtimePath}}}
	}
	return info, nil
}

// LegacyInfo is the host's answer for the /info fields that API versions
// before 1.52 carry and moby's wire type no longer has.
func (d *Daemon) LegacyInfo(ctx context.Context) map[string]bool {
	f := readHostFacts()
	return map[string]bool{
		"KernelMemory":      f.kernelMemory,
		"KernelMemoryTCP":   f.kernelMemoryTCP,
		"BridgeNfIptables":  f.bridgeNfIptables,
		"BridgeNfIp6tables": f.bridgeNfIp6tables,
	}
}

// pluginsInfo is /info's Plugins as dockerd fills it: the volume drivers
// (local, the plugins found since the daemon started and any other the
// volumes use, sorted), the network drivers (the built-in
// ones and those of existing networks, remote drivers among them), the log
// drivers (hull writes json-file only) and no authorization plugins.
func (d *Daemon) pluginsInfo() system.PluginsInfo {
	volumes := append([]string{"local"}, d.volDrivers.list()...)
	if recs, err := d.volumeRecords(); err == nil {
		for _, r := range recs {
			if r.Driver != "" && !slices.Contains(volumes, r.Driver) {
				volumes = append(volumes, r.Driver)
			}
		}
	}
	sort.Strings(volumes)
	volumes = slices.Compact(volumes)
	networks := d.net.DriverNames()
	if all, err := d.net.Networks(); err == nil {
		for _, nw := range all {
			if nw.Driver != "" && !slices.Contains(networks, nw.Driver) {
				networks = append(networks, nw.Driver)
			}
		}
	}
	sort.Strings(networks)
	return system.PluginsInfo{Volume: volumes, Network: networks, Log: []string{"json-file"}}
}

// registryConfig is the registry configuration as dockerd shows it:
// Docker Hub with its mirrors, an index of each other registry that has
// mirrors or is insecure (by name), the insecure networks with
// loopback's last.
func registryConfig(rs image.Registries) *registry.ServiceConfig {
	mirrors := func(host string) []string { return append([]string{}, rs.Mirrors[host]...) }
	c := &registry.ServiceConfig{
		InsecureRegistryCIDRs: append(append([]netip.Prefix{}, rs.InsecureCIDRs...), image.DefaultInsecureCIDRs...),
		IndexConfigs: map[string]*registry.IndexInfo{
			"docker.io": {Name: "docker.io", Mirrors: mirrors("docker.io"), Secure: true, Official: true},
		},
		Mirrors: mirrors("docker.io"),
	}
	for _, h := range rs.InsecureHosts {
		c.IndexConfigs[h] = &registry.IndexInfo{Name: h, Mirrors: mirrors(h), Secure: false}
	}
	for h := range rs.Mirrors {
		if c.IndexConfigs[h] == nil {
			c.IndexConfigs[h] = &registry.IndexInfo{Name: h, Mirrors: mirrors(h), Secure: !slices.Contains(rs.InsecureHosts, h)}
		}
	}
	return c
}

func envAny(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// maskCredentials hides the user and password of a proxy URL, as dockerd
// does ("http://xxxxx:xxxxx@proxy:3128").
func maskCredentials(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	return scheme + "://xxxxx:xxxxx@" + rest[at+1:]
}

// SystemVersion is GET /version, in dockerd's shape: the Engine component
// with its details, and hull's compute service as a component of its own.
func (d *Daemon) SystemVersion(ctx context.Context) (system.VersionResponse, error) {
	commit, built := buildVCS()
	details := map[string]string{
		"ApiVersion":    APIVersion,
		"MinAPIVersion": MinAPIVersion,
		"GitCommit":     commit,
		"GoVersion":     goruntime.Version(),
		"Os":            goruntime.GOOS,
		"Arch":          goruntime.GOARCH,
		"KernelVersion": kernelVersion(),
		"Experimental":  "false",
	}
	if built != "" {
		details["BuildTime"] = built
	}
	components := []system.ComponentVersion{{Name: "Engine", Version: Version, Details: details}}
	if v := moduleVersion("github.com/opencontainers/runc"); v != "" {
		// The OCI runtime: libcontainer, inside hull-shim.
		components = append(components, system.ComponentVersion{Name: "libcontainer", Version: v, Details: map[string]string{"GitCommit": ""}})
	}
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "hull"},
		Version:       Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		Components:    components,
		GitCommit:     commit,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernelVersion(),
		BuildTime:     built,
	}, nil
}

// buildVCS is the engine's commit (GitCommit when the build set it, else
// the VCS revision Go stamped, shortened as Docker's) and build time.
func buildVCS() (commit, built string) {
	commit = GitCommit
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return commit, ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit == "" {
				commit = s.Value
				if len(commit) > 7 {
					commit = commit[:7]
				}
			}
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				built = t.Format(time.RFC3339Nano)
			}
		}
	}
	return commit, built
}

// moduleVersion is the version of a module built into hull, or "".
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return ""
}
