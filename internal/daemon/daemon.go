// Package daemon is hull's engine: it holds the image store (and, as the
// daemon grows, the containers, the compute and the network services) and
// implements the API server's backends over them.
package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"time"

	"github.com/moby/moby/api/types/system"

	"github.com/hullproject/hull/internal/image"
)

// Config is the daemon's configuration (flags and daemon.json).
type Config struct {
	// Root is the data root (/var/lib/hull): hull.db, content, layers.
	Root string
	// ExecRoot holds the runtime's state (/run/hull).
	ExecRoot string
	Debug    bool
	// LiveRestore keeps containers running while the daemon is down.
	LiveRestore bool
}

// Daemon is the engine behind the API.
type Daemon struct {
	cfg       Config
	images    *image.Store
	closeImgs func() error
	started   time.Time
}

// New opens the stores under cfg.Root.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("data root: %w", err)
	}
	imgs, closeImgs, err := image.Open(ctx, cfg.Root)
	if err != nil {
		return nil, err
	}
	return &Daemon{cfg: cfg, images: imgs, closeImgs: closeImgs, started: time.Now()}, nil
}

// Close releases the stores.
func (d *Daemon) Close() error { return d.closeImgs() }

// SystemVersion is GET /version.
func (d *Daemon) SystemVersion(ctx context.Context) (system.VersionResponse, error) {
	// The docker CLI prints the Engine component's details.
	engine := system.ComponentVersion{Name: "Engine", Version: Version, Details: map[string]string{
		"ApiVersion":    APIVersion,
		"MinAPIVersion": MinAPIVersion,
		"GoVersion":     goruntime.Version(),
		"Os":            goruntime.GOOS,
		"Arch":          goruntime.GOARCH,
		"KernelVersion": kernelVersion(),
		"Experimental":  "false",
		"GitCommit":     GitCommit,
	}}
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "hull"},
		Arch:          goruntime.GOARCH,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernelVersion(),
		GitCommit:     GitCommit,
		Components:    []system.ComponentVersion{engine},
		Version:       Version,
	}, nil
}

// SystemInfo is GET /info.
func (d *Daemon) SystemInfo(ctx context.Context) (system.Info, error) {
	list, err := d.images.List(ctx)
	if err != nil {
		return system.Info{}, err
	}
	host, _ := os.Hostname()
	return system.Info{
		ID:                 "hull",
		Images:             len(list),
		Driver:             driverName,
		DriverStatus:       [][2]string{{"Layer folders", filepath.Join(d.cfg.Root, "layers")}},
		Debug:              d.cfg.Debug,
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		KernelVersion:      kernelVersion(),
		OperatingSystem:    operatingSystem(),
		OSType:             goruntime.GOOS,
		Architecture:       goruntime.GOARCH,
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               goruntime.NumCPU(),
		DockerRootDir:      d.cfg.Root,
		Name:               host,
		ServerVersion:      Version,
		LiveRestoreEnabled: d.cfg.LiveRestore,
		DefaultRuntime:     "hull",
	}, nil
}

// Version and GitCommit are the engine's; the build may set them.
var (
	Version   = "0.1.0-dev"
	GitCommit = ""
)

// APIVersion and MinAPIVersion are what the API server speaks; cmd/hull
// sets them from internal/server (this package does not import it).
var APIVersion, MinAPIVersion string
