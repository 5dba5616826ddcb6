// Package daemon is hull's engine: it holds the image store (and, as the
// daemon grows, the containers, the compute and the network services) and
// implements the API server's backends over them.
package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"github.com/hullproject/hull/internal/groupcommit"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/plugin"
	"github.com/hullproject/hull/internal/runtime"
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
	// DefaultUlimits apply to every container unless its HostConfig
	// names the same limit (daemon.json default-ulimits).
	DefaultUlimits map[string]*container.Ulimit
	// Bridge is the default bridge network's interface (dockerd's
	// --bridge); default hull0, or a name of the exec root's own.
	Bridge string
	// IPv6 gives the default bridge network IPv6 too (dockerd's --ipv6),
	// from FixedCIDRv6 (--fixed-cidr-v6) or, empty, the default IPv6 pool.
	IPv6        bool
	FixedCIDRv6 string
	// PluginTimeout bounds a plugin's activation and each call (default
	// 30 s, Docker's).
	PluginTimeout time.Duration
	// Registries are the mirrors and insecure registries every pull
	// follows (daemon.json's registry-mirrors-per-registry,
	// registry-mirrors, insecure-registries), shown by /info; set with
	// SetRegistries.
	Registries image.Registries
	// Windows, when set, runs containers on the Windows services — the
	// windowsfilter layers, HNS and HCS — through these interfaces: the
	// hcsshim adapters on Windows, recording fakes in tests elsewhere.
	Windows *WindowsServices
}

// Daemon is the engine behind the API.
type Daemon struct {
	cfg Config
	db  *bolt.DB
	// dbq commits the changes of hull.db on containers' paths, grouping
	// those made at once (package groupcommit).
	dbq     *groupcommit.Committer
	layers  *layer.Store
	images  *image.Store
	rt      *runtime.Runtime
	net     *network.Service
	plugins *plugin.Registry
	win     *windowsEngine
	started time.Time
	// engineID names this daemon for good (<root>/engine-id): /info's ID,
	// and the owner of the host links it makes.
	engineID string

	mu    sync.Mutex
	ctrs  map[string]*ctr
	names map[string]string // name -> id
	// saved holds each container's record as last saved (id → *record),
	// for records to show a container whose lock a start holds.
	saved sync.Map

	traceMu sync.Mutex
	traces  map[string]*tracer

	execMu sync.Mutex
	execs  map[string]*execRec

	volMu sync.Mutex
	// localVols: the local volumes whose options are mounted, and who holds them.
	localVols localVolumeMounts
	// volDrivers: the volume plugins found since the daemon started.
	volDrivers seenVolumeDrivers

	events eventBus

	// pods is what the CRI's pods need in memory (pod.go).
	pods podState

	shuttingDown atomic.Bool

	// reaper deletes what removals leave once their clients have their
	// answer (reap.go).
	reaper reaper
}

// New opens the stores under cfg.Root and restores the containers: those
// the compute service still runs are reattached, those that exited while
// the daemon was away get their real exit status.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = root
	if cfg.ExecRoot == "" {
		cfg.ExecRoot = "/run/hull"
	}
	if cfg.ExecRoot, err = filepath.Abs(cfg.ExecRoot); err != nil {
		return nil, err
	}
	if err := secureRoots(cfg.Root, cfg.ExecRoot); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(cfg.Root, image.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s (is another daemon running on this data root?): %w", filepath.Join(cfg.Root, image.DBFile), err)
	}
	engineID, err := loadEngineID(cfg.Root)
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, db: db, dbq: groupcommit.New(db), engineID: engineID, started: time.Now(), traces: map[string]*tracer{}, execs: map[string]*execRec{}, rt: runtime.New(filepath.Join(cfg.ExecRoot, "runtime"))}
	// Containers are created again and again: a spare shim waits for the next.
	d.rt.KeepSpareShim()
	fail := func(err error) (*Daemon, error) {
		d.dbq.Close()
		db.Close()
		return nil, err
	}
	if d.layers, err = layer.NewStore(ctx, cfg.Root); err != nil {
		return fail(err)
	}
	d.layers.SetDisposable(isInitLayer)
	// Build contexts a daemon that died kept for their builds.
	os.RemoveAll(d.buildContexts())
	if d.images, err = image.New(ctx, cfg.Root, db, d.layers); err != nil {
		return fail(err)
	}
	if err := d.openContainers(); err != nil {
		return fail(err)
	}
	bridge, table := networkNames(cfg.ExecRoot, cfg.Bridge)
	dirs := plugin.DefaultDirs()
	if goruntime.GOOS == "windows" {
		dirs = plugin.DefaultDirsWindows()
	}
	if cfg.ExecRoot != "/run/hull" {
		dirs.Sockets = append(dirs.Sockets, filepath.Join(cfg.ExecRoot, "plugins"))
		dirs.Specs = append(dirs.Specs, filepath.Join(cfg.ExecRoot, "plugins"))
	}
	plugins := plugin.NewRegistry(dirs, cfg.PluginTimeout)
	d.plugins = plugins
	netCfg := network.Config{DB: db, Update: d.dbq.Update, NetnsDir: filepath.Join(cfg.ExecRoot, "netns"), DefaultBridge: bridge, Table: table, Plugins: plugins, Owner: engineID}
	netCfg.CompartmentPool = compartmentPool()
	if netCfg.DefaultIPv6, netCfg.DefaultSubnet6, err = defaultIPv6(cfg); err != nil {
		return fail(err)
	}
	if d.net, err = network.Open(ctx, netCfg); err != nil {
		return fail(err)
	}
	if err := d.net.Prepare(ctx); err != nil {
		slog.Error("network service: the networks' bridges and firewall", "error", err)
	}
	d.images.SetInUse(d.imageUsers)
	d.startReaper()
	if w := cfg.Windows; w != nil {
		if err := d.net.RegisterHNS(w.HNS); err != nil {
			slog.Warn("the HNS network drivers", "error", err)
		}
		d.win = &windowsEngine{layers: layer.NewWindowsFilterIn(d.layers.LayersDir(), w.Layers), net: network.NewHNSService(w.HNS), compute: runtime.NewHCSRuntime(w.Compute)}
		d.restoreWindows()
		return d, nil
	}
	d.restore(ctx)
	d.reconcile(ctx)
	d.reconcileVolumes(ctx)
	d.reconcileCommitPause(ctx)
	if err := d.ReleaseBuildSandboxes(ctx); err != nil {
		slog.Error("network service: build sandboxes a daemon that died left", "error", err)
	}
	if err := d.net.Reconcile(ctx, d.isRunning); err != nil {
		slog.Error("network service: reconcile", "error", err)
	}
	return d, nil
}

// Close stops serving the containers. With live-restore they go on
// running under their shims; without it they are stopped, side by side as
// dockerd's shutdown stops them (the longest stop timeout, not their sum).
func (d *Daemon) Close() error {
	d.shuttingDown.Store(true)
	if !d.cfg.LiveRestore {
		d.mu.Lock()
		var running []string
		for id, c := range d.ctrs {
			c.mu.Lock()
			if c.rec.State.Status == container.StateRunning || c.rec.State.Status == container.StatePaused {
				running = append(running, id)
			}
			c.mu.Unlock()
		}
		d.mu.Unlock()
		stopAll(running, func(id string) { d.ContainerStop(context.Background(), id, nil, "") })
	}
	// hull-buildkit has stopped (it releases its sandboxes as it exits):
	// any build sandbox left is no one's.
	if err := d.ReleaseBuildSandboxes(context.Background()); err != nil {
		slog.Warn("network service: release build sandboxes at shutdown", "error", err)
	}
	d.stopReaper()
	d.net.Close()
	d.rt.Close() // the spare shim, if one waits
	d.dbq.Close()
	return d.db.Close()
}

// isRunning says whether a container runs (or is paused), for the network
// service's reconcile.
func (d *Daemon) isRunning(id string) bool {
	c, err := d.lookup(id)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.rec.State.Status
	return st == container.StateRunning || st == container.StatePaused || st == container.StateRestarting
}

func (d *Daemon) imageInUse(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.ctrs {
		if c.rec.Image == id {
			return true
		}
	}
	return false
}

// restore reconnects the containers that were running when the daemon
// last stopped (without live-restore it stops them), and applies the
// restart policies as dockerd does at its start (startAtDaemonStart).
func (d *Daemon) restore(ctx context.Context) {
	d.mu.Lock()
	cs := make([]*ctr, 0, len(d.ctrs))
	for _, c := range d.ctrs {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	var outlived, stopped, autoRemove []*ctr
	for _, c := range cs {
		st := c.rec.State.Status
		if h := c.rec.HostConfig; h != nil && h.AutoRemove && (st == container.StateExited || st == container.StateCreated || st == container.StateDead) {
			// Its removal did not happen or did not finish (the daemon
			// died after its exit): dockerd removes such containers at
			// its start.
			autoRemove = append(autoRemove, c)
			continue
		}
		if st == container.StateRemoving {
			// A record written back during its removal (by a daemon before
			// save refused that): finish the removal, as dockerd removes
			// what it finds with its removal in progress.
			slog.Warn("removing a container whose removal did not finish", "id", c.rec.ID)
			if err := d.ContainerRemove(ctx, c.rec.ID, true, false); err != nil {
				slog.Error("remove a container whose removal did not finish", "id", c.rec.ID, "error", err)
			}
			continue
		}
		if st == container.StateExited {
			stopped = append(stopped, c) // its restart policy may start it
			continue
		}
		if st != container.StateRunning && st != container.StatePaused && st != container.StateRestarting {
			continue
		}
		rs, err := d.rt.State(ctx, c.rec.ID)
		switch {
		case err == nil && (rs.Status == runtime.StatusRunning || rs.Status == runtime.StatusPaused):
			slog.Info("container restored: it kept running while the daemon was away", "id", c.rec.ID, "pid", rs.Pid)
			close(c.created)
			c.mu.Lock()
			d.holdLocalVolumes(c)
			d.startHealth(c)
			c.mu.Unlock()
			if rs.Status == runtime.StatusPaused {
				c.rec.State.Status = container.StatePaused
			}
			go d.monitor(c)
			if !d.cfg.LiveRestore {
				outlived = append(outlived, c)
			}
		case err == nil && rs.Status == runtime.StatusStopped && rs.ExitStatus != nil:
			slog.Info("container exited while the daemon was away", "id", c.rec.ID, "code", *rs.ExitStatus)
			d.exited(c, *rs.ExitStatus, nil)
		default:
			slog.Warn("container lost while the daemon was away", "id", c.rec.ID, "error", err)
			d.exited(c, 255, nil)
		}
	}
	for _, c := range autoRemove {
		slog.Warn("removing an auto-remove container that does not run", "id", c.rec.ID)
		if err := d.remove(ctx, c.rec.ID, true, true, true); err != nil && !errdefs.IsNotFound(err) {
			slog.Error("remove an auto-remove container that does not run", "id", c.rec.ID, "error", err)
		}
	}
	d.startAtDaemonStart(ctx, outlived, stopped)
}

// loadEngineID reads the daemon's id from <root>/engine-id, making it (a
// random UUID, as dockerd's) the first time.
func loadEngineID(root string) (string, error) {
	p := filepath.Join(root, "engine-id")
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("engine id: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("engine id: %w", err)
	}
	return id, nil
}

// Version and GitCommit are the engine's; the build may set them.
var (
	Version   = "0.1.0-dev"
	GitCommit = ""
)

// APIVersion and MinAPIVersion are what the API server speaks; cmd/hull
// sets them from internal/server (this package does not import it).
var APIVersion, MinAPIVersion string
