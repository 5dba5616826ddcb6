package daemon

// Containers: records in hull.db, the state machine, and the glue between
// the image store, the layer store (a scratch layer whose id is the
// container id) and the compute service.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mnet "github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

var bucketContainers = []byte("containers")

// record is what hull.db keeps of a container.
type record struct {
	ID         string                `json:"id"`
	Name       string                `json:"name"` // without the leading "/"
	Created    time.Time             `json:"created"`
	Image      string                `json:"image"`    // image id
	ImageRef   string                `json:"imageRef"` // as the client named it
	Config     *container.Config     `json:"config"`
	HostConfig *container.HostConfig `json:"hostConfig"`
	State      state                 `json:"state"`
	// Path and Args are the process the container runs.
	Path         string `json:"path"`
	Args         []string
	RestartCount int `json:"restartCount"`
	// Mounts are the container's volumes, binds and tmpfs mounts.
	Mounts []mountPoint `json:"mounts,omitempty"`
	// ManuallyStopped: the user stopped or killed it (unless-stopped then
	// keeps it stopped, also across daemon restarts).
	ManuallyStopped bool `json:"manuallyStopped,omitempty"`
	// StoppedByDaemon: a daemon shutting down without live-restore stopped
	// it; the restart policy applies at the next start.
	StoppedByDaemon bool `json:"stoppedByDaemon,omitempty"`
	// PausedForCommit: a commit paused it (docker commit --pause) and has
	// not resumed it yet; a daemon that died in the commit resumes it at
	// its next start (reconcileCommitPause).
	PausedForCommit bool `json:"pausedForCommit,omitempty"`
	// Health is the health check's state, when the container has one.
	Health *container.Health `json:"health,omitempty"`
	// NetworkingConfig holds the networks besides the network mode's, and
	// the endpoints' aliases and static addresses.
	NetworkingConfig *mnet.NetworkingConfig `json:"networkingConfig,omitempty"`
	// NetworkModeDetached: the container was disconnected from its network
	// mode's network; it is not attached to it at start.
	NetworkModeDetached bool `json:"networkModeDetached,omitempty"`
	// NetworkIDs are the ids of the networks, by name, that the container
	// has had an endpoint on since it was connected to them (inspect's
	// NetworkID, which dockerd fills at the first start).
	NetworkIDs map[string]string `json:"networkIDs,omitempty"`
	// Links are its legacy links (--link) on the default bridge.
	Links []legacyLink `json:"links,omitempty"`
	// CRILog is the log of a container of the CRI (pod.go): a file in the
	// CRI's format at the path kubelet chose, in place of the json-file log.
	CRILog string `json:"criLog,omitempty"`
	// PodUTS: a container of a CRI pod joins the UTS namespace of the
	// container whose network it shares (the pod's infra container).
	PodUTS bool `json:"podUTS,omitempty"`
	// deleted says the record has left hull.db: the container was
	// removed, and save refuses to write it back. Not stored.
	deleted bool
}

type state struct {
	Status     container.ContainerState `json:"status"`
	Pid        int                      `json:"pid,omitempty"`
	ExitCode   int                      `json:"exitCode"`
	OOMKilled  bool                     `json:"oomKilled,omitempty"`
	Error      string                   `json:"error,omitempty"`
	StartedAt  time.Time                `json:"startedAt,omitzero"`
	FinishedAt time.Time                `json:"finishedAt,omitzero"`
}

// ctr is a container in memory: its record and what waits on it.
type ctr struct {
	mu  sync.Mutex
	rec record
	// changed is closed and replaced on every change of state; waiters
	// watch it.
	changed chan struct{}
	// created is closed once the compute service holds the container (an
	// attach made before start waits for it) and replaced when it exits.
	created chan struct{}
	removed bool
	// gone: the removal is done, the container out of the daemon's maps;
	// a wait for condition removed ends only then (state Removing is set
	// before, and a waiter woken by the exit could answer while inspect
	// still found the container).
	gone bool
	// stopping says the user stopped or killed it: no restart policy.
	stopping bool
	// restarting: a restart's stop is under way; neither the restart
	// policy nor auto-removal applies to its exit.
	restarting bool
	// exits counts the exits of its process, the last with exitCode; a
	// wait that began before an exit is released by it even if a restart
	// follows at once.
	exits    int
	exitCode int
	// lastExit mirrors exits and exitCode for ContainerWait, which reads
	// it without mu: an exit's waiters have their answer while the exit's
	// cleanup still holds mu.
	lastExit atomic.Pointer[exitMark]
	// cleaned is closed once the compute service's container of the last
	// exit is deleted, when the exit left that to a goroutine
	// (deleteComputeLater); nil otherwise. A start or an rm waits for it.
	cleaned chan struct{}
	// attachers counts attaches waiting for created; start lets them
	// connect before the process runs.
	attachers sync.WaitGroup
	// stopHealth ends the health check's goroutine.
	stopHealth context.CancelFunc
	// win is the container's compute system, endpoint and volume on
	// Windows.
	win *winContainer
}

// exitMark is the count of a container's exits and the last one's code.
type exitMark struct{ n, code int }

func (c *ctr) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// namePattern is Docker's rule for container names.
var namePattern = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// openContainers loads the container records.
func (d *Daemon) openContainers() error {
	d.ctrs = map[string]*ctr{}
	d.names = map[string]string{}
	return d.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketVolumes); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketContainers)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				slog.Error("a container record cannot be read; skipped", "id", string(k), "error", err)
				return nil
			}
			d.ctrs[rec.ID] = &ctr{rec: rec, changed: make(chan struct{}), created: make(chan struct{})}
			saved := rec
			d.saved.Store(rec.ID, &saved)
			d.names[rec.Name] = rec.ID
			return nil
		})
	})
}

// save writes rec to hull.db; the caller holds the container's mu (or, at
// create, the only copy). A removed container's record is never written
// again: whatever outlived the remove — a health probe, an exit seen late,
// a rename or connect that raced with it — gets NotFound instead of
// bringing the container back at the next daemon start.
func (d *Daemon) save(rec *record) error {
	if rec.deleted {
		return fmt.Errorf("No such container: %s: %w", rec.ID, errdefs.ErrNotFound)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	saved := *rec
	d.saved.Store(rec.ID, &saved)
	return d.dbq.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).Put([]byte(rec.ID), b)
	})
}

// lookup finds a container by full id, unique id prefix or name.
func (d *Daemon) lookup(ref string) (*ctr, error) {
	if ref == "" {
		return nil, fmt.Errorf("no container named: %w", errdefs.ErrInvalidArgument)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookupLocked(ref)
}

// records is a snapshot of every container's record. A container whose
// lock is held — a start holds it throughout, ~20 ms, a start with a
// slow network or volume plugin much longer — is shown as it was last
// saved (created, or stopped), as dockerd's list reads its snapshot of
// the containers and never waits for one: `docker compose up` lists its
// containers while it starts them and subscribes to events after the
// list's answer; a list that waited for a start could come back after a
// short-lived container had died, and compose never saw that die. The
// daemon's lock is let go before a container's is waited for (one never
// saved): a start holds its container's lock and may then take the
// daemon's (peer).
func (d *Daemon) records() []record {
	d.mu.Lock()
	ids := make([]string, 0, len(d.ctrs))
	cs := make([]*ctr, 0, len(d.ctrs))
	for id, c := range d.ctrs {
		ids = append(ids, id)
		cs = append(cs, c)
	}
	d.mu.Unlock()
	recs := make([]record, 0, len(cs))
	for i, c := range cs {
		if !c.mu.TryLock() {
			if saved, ok := d.saved.Load(ids[i]); ok {
				recs = append(recs, *saved.(*record))
				continue
			}
			c.mu.Lock()
		}
		recs = append(recs, c.rec)
		c.mu.Unlock()
	}
	return recs
}

// ContainerCreate is POST /containers/create. It checks the request as
// dockerd does, in dockerd's order (validate.go), fills dockerd's defaults
// (what inspect shows), and then makes the container: image, name, scratch
// layer, mounts (named, anonymous and image volumes), record.
func (d *Daemon) ContainerCreate(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig, netCfg *mnet.NetworkingConfig) (container.CreateResponse, error) {
	if cfg == nil {
		return container.CreateResponse{}, invalid("Config cannot be empty in order to create a container")
	}
	if host == nil {
		host = &container.HostConfig{}
	}
	if err := validateCreateRequest(cfg, host); err != nil {
		return container.CreateResponse{}, err
	}
	if host.PidsLimit != nil && *host.PidsLimit <= 0 {
		// 0 and -1 (any negative) ask for no limit, as no value does.
		host.PidsLimit = nil
	}
	warnings, err := verifySettings(cfg, host, false)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if _, err := checkHostConfig(host); err != nil {
		return container.CreateResponse{}, err
	}
	if err := d.checkSharing(cfg, host); err != nil {
		return container.CreateResponse{}, err
	}
	adaptHostConfig(host)
	if cfg.Image == "" {
		if len(cfg.Cmd) == 0 && (len(cfg.Entrypoint) == 0 || len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "") {
			return container.CreateResponse{}, invalid("No command specified")
		}
		return container.CreateResponse{}, fmt.Errorf("no image named in the container's config: hull has no empty (scratch) root file system: %w", errdefs.ErrInvalidArgument)
	}
	id := newID()
	tr := d.trace(id)
	img, err := d.images.Get(ctx, cfg.Image)
	if err != nil {
		d.dropTrace(id)
		return container.CreateResponse{}, err
	}
	merged := mergeImageConfig(cfg, img.Config)
	if len(merged.Entrypoint) == 0 && len(merged.Cmd) == 0 {
		d.dropTrace(id)
		return container.CreateResponse{}, invalid("No command specified")
	}
	path, args := entrypointAndArgs(merged.Entrypoint, merged.Cmd)
	if err := validateLogConfig(&host.LogConfig); err != nil {
		d.dropTrace(id)
		return container.CreateResponse{}, err
	}
	tr.step("image resolved", "image", img.ID, "layer chain top", img.TopLayer)
	generated := name == ""
	if generated {
		name = generateName(id)
	} else if !namePattern.MatchString(name) {
		d.dropTrace(id)
		return container.CreateResponse{}, invalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if err := checkSecurityOpts(host.SecurityOpt); err != nil {
		d.dropTrace(id)
		return container.CreateResponse{}, err
	}
	name = strings.TrimPrefix(name, "/")
	d.mu.Lock()
	if _, taken := d.names[name]; taken && generated {
		name += "_" + id[:6]
	}
	if other, ok := d.names[name]; ok {
		d.mu.Unlock()
		d.dropTrace(id)
		return container.CreateResponse{}, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.: %w", name, other, errdefs.ErrConflict)
	}
	d.names[name] = id // reserved while the container is made
	d.mu.Unlock()
	release := func() {
		d.mu.Lock()
		delete(d.names, name)
		d.mu.Unlock()
		d.dropTrace(id)
	}
	if merged.Hostname == "" {
		if host.NetworkMode.IsHost() {
			merged.Hostname, _ = os.Hostname()
		} else {
			merged.Hostname = id[:12]
		}
	}
	rec := record{ID: id, Name: name, Created: time.Now().UTC(), Image: img.ID, ImageRef: cfg.Image, Config: merged, HostConfig: host,
		State: state{Status: container.StateCreated}, Path: path, Args: args, NetworkingConfig: netCfg}
	if d.win == nil {
		if err := d.checkNetworking(&rec); err != nil {
			release()
			return container.CreateResponse{}, err
		}
	} else if len(host.Binds)+len(host.Mounts)+len(merged.Volumes) > 0 || len(host.PortBindings) > 0 {
		release()
		return container.CreateResponse{}, fmt.Errorf("volumes, binds and published ports of Windows containers are not supported by hull yet: %w", errdefs.ErrNotImplemented)
	}
	// The mounts are resolved before the scratch layer is made: a bad
	// --volumes-from or bind leaves nothing behind but the volumes made.
	if rec.Mounts, err = d.resolveMounts(host, merged.Volumes, id); err != nil {
		release()
		return container.CreateResponse{}, err
	}
	if err := d.createScratch(ctx, id, img.TopLayer); err != nil {
		d.releaseAnonymous(rec.Mounts)
		release()
		return container.CreateResponse{}, err
	}
	tr.step("scratch layer created with the container's id", "parent", img.TopLayer)
	setDefaultPaths(host)
	if err := os.MkdirAll(d.containerDir(id), 0o710); err != nil {
		d.removeScratch(context.WithoutCancel(ctx), id, false)
		d.releaseAnonymous(rec.Mounts)
		release()
		return container.CreateResponse{}, err
	}
	crashpoint.At("create: the scratch layer is made, the record is not")
	if err := d.save(&rec); err != nil {
		d.saved.Delete(id)
		d.removeScratch(context.WithoutCancel(ctx), id, false)
		os.RemoveAll(d.containerDir(id))
		d.releaseAnonymous(rec.Mounts)
		release()
		return container.CreateResponse{}, err
	}
	tr.step("record written")
	d.mu.Lock()
	d.ctrs[id] = &ctr{rec: rec, changed: make(chan struct{}), created: make(chan struct{})}
	d.mu.Unlock()
	slog.Debug("container created", "id", id, "name", name, "image", img.ID)
	d.mu.Lock()
	d.containerEvent(d.ctrs[id], events.ActionCreate)
	d.mu.Unlock()
	return container.CreateResponse{ID: id, Warnings: nonNil(warnings)}, nil
}

// verifySettings is dockerd's verifyContainerSettings: the container's
// config, its host config, then what the platform can do. With update (a
// POST /containers/{id}/update) cfg is nil and host holds the update.
func verifySettings(cfg *container.Config, host *container.HostConfig, update bool) ([]string, error) {
	if err := validateContainerConfig(cfg); err != nil {
		return nil, err
	}
	if err := validateHostConfig(host); err != nil {
		return nil, err
	}
	return verifyPlatformSettings(host, update)
}

// adaptHostConfig fills the defaults dockerd stores at create (and
// inspect shows): swap twice the memory limit, 64 MiB of /dev/shm, a
// private IPC namespace, the host's cgroup namespace mode, OomKillDisable
// false, the network mode "default", SELinux labels disabled for a
// container that shares the host's IPC or PID namespace or is privileged.
func adaptHostConfig(h *container.HostConfig) {
	if h.Memory > 0 && h.MemorySwap == 0 {
		h.MemorySwap = h.Memory * 2
	}
	if h.ShmSize == 0 {
		h.ShmSize = defaultShmSize
	}
	if h.IpcMode == "" {
		h.IpcMode = container.IPCModePrivate
	}
	if h.CgroupnsMode == "" {
		h.CgroupnsMode = defaultCgroupnsMode(h.Privileged)
	}
	if h.OomKillDisable == nil {
		h.OomKillDisable = new(bool)
	}
	if h.NetworkMode == "" {
		h.NetworkMode = mnet.NetworkDefault
	}
	if h.Runtime == "" {
		h.Runtime = defaultRuntime
	}
	if !slices.ContainsFunc(h.SecurityOpt, func(o string) bool { return strings.HasPrefix(o, "label=") || strings.HasPrefix(o, "label:") }) &&
		(h.IpcMode.IsHost() || h.PidMode.IsHost() || h.Privileged) {
		h.SecurityOpt = append(h.SecurityOpt, "label=disable")
	}
}

// defaultRuntime is the runtime a container gets when it names none
// (/info's DefaultRuntime).
const defaultRuntime = "hull"

// defaultShmSize is dockerd's default /dev/shm size (64 MiB).
const defaultShmSize = 64 << 20

// setDefaultPaths fills MaskedPaths and ReadonlyPaths from the default
// profile when the request left them unset and the container is not
// privileged, as dockerd stores them at create.
func setDefaultPaths(h *container.HostConfig) {
	if h.Privileged {
		return
	}
	masked, readonly := defaultProfilePaths()
	if h.MaskedPaths == nil {
		h.MaskedPaths = masked
	}
	if h.ReadonlyPaths == nil {
		h.ReadonlyPaths = readonly
	}
}

// entrypointAndArgs is the container's process from its merged config, as
// dockerd's getEntrypointAndArgs.
func entrypointAndArgs(entrypoint, cmd []string) (string, []string) {
	if len(entrypoint) == 0 {
		return cmd[0], slices.Clone(cmd[1:])
	}
	return entrypoint[0], append(slices.Clone(entrypoint[1:]), cmd...)
}

// checkHostConfig holds what hull itself cannot do yet.
func checkHostConfig(h *container.HostConfig) ([]string, error) {
	if len(h.StorageOpt) > 0 {
		// dockerd's overlay2 takes a size over xfs with pquota only; hull's
		// layer folders have no quota.
		return nil, fmt.Errorf("--storage-opt is not supported by hull's layer store: %w", errdefs.ErrNotImplemented)
	}
	return nil, nil
}

// mergeImageConfig fills what the request leaves unset from the image, as
// dockerd's merge: the user's environment first and the image's variables
// it does not name after it, the image's exposed ports, volumes and labels
// added, the image's command unless the request names an entrypoint, an
// entrypoint of [""] reset.
func mergeImageConfig(cfg *container.Config, img imageConfig) *container.Config {
	c := *cfg
	if c.User == "" {
		c.User = img.User
	}
	if len(img.ExposedPorts) > 0 {
		ports := mnet.PortSet{}
		maps.Copy(ports, c.ExposedPorts)
		for p := range img.ExposedPorts {
			if port, err := mnet.ParsePort(p); err == nil {
				ports[port] = struct{}{}
			}
		}
		c.ExposedPorts = ports
	}
	if len(c.Env) == 0 {
		c.Env = slices.Clone(img.Env)
	} else {
		c.Env = slices.Clone(c.Env)
		for _, ie := range img.Env {
			k, _, _ := strings.Cut(ie, "=")
			if !slices.ContainsFunc(c.Env, func(e string) bool { ek, _, _ := strings.Cut(e, "="); return ek == k }) {
				c.Env = append(c.Env, ie)
			}
		}
	}
	labels := map[string]string{}
	maps.Copy(labels, img.Labels)
	maps.Copy(labels, c.Labels)
	c.Labels = labels
	if len(c.Entrypoint) == 0 {
		if len(c.Cmd) == 0 {
			c.Cmd = img.Cmd
		}
		if c.Entrypoint == nil {
			c.Entrypoint = img.Entrypoint
		}
	}
	if img.Healthcheck != nil {
		// The image's check, with the request's fields over it.
		var ih container.HealthConfig
		b, _ := json.Marshal(img.Healthcheck)
		json.Unmarshal(b, &ih)
		if c.Healthcheck != nil {
			h := *c.Healthcheck
			if len(h.Test) == 0 {
				h.Test = ih.Test
			}
			if h.Interval == 0 {
				h.Interval = ih.Interval
			}
			if h.Timeout == 0 {
				h.Timeout = ih.Timeout
			}
			if h.StartPeriod == 0 {
				h.StartPeriod = ih.StartPeriod
			}
			if h.Retries == 0 {
				h.Retries = ih.Retries
			}
			ih = h
		}
		c.Healthcheck = &ih
	}
	if c.WorkingDir == "" {
		c.WorkingDir = img.WorkingDir
	}
	if len(img.Volumes) > 0 {
		vols := map[string]struct{}{}
		maps.Copy(vols, c.Volumes)
		maps.Copy(vols, img.Volumes)
		c.Volumes = vols
	}
	if c.StopSignal == "" {
		c.StopSignal = img.StopSignal
	}
	if len(c.Entrypoint) == 1 && c.Entrypoint[0] == "" {
		c.Entrypoint = nil
	}
	return &c
}

func mergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { e, _, _ = strings.Cut(e, "="); return e == k })
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

var (
	nameLeft  = []string{"admiring", "brave", "calm", "dazzling", "eager", "focused", "gallant", "happy", "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "vibrant"}
	nameRight = []string{"archimedes", "babbage", "curie", "dijkstra", "euler", "fermat", "gauss", "hopper", "knuth", "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak"}
)

// generateName makes a name in Docker's adjective_scientist style.
func generateName(id string) string {
	b, _ := hex.DecodeString(id[:4])
	return nameLeft[int(b[0])%len(nameLeft)] + "_" + nameRight[int(b[1])%len(nameRight)]
}

func (d *Daemon) containerDir(id string) string { return filepath.Join(d.cfg.Root, "containers", id) }
func (d *Daemon) bundleDir(id string) string    { return filepath.Join(d.cfg.ExecRoot, "containers", id) }
func (d *Daemon) logPath(id string) string      { return filepath.Join(d.containerDir(id), id+"-json.log") }

// noLog says the container logs nothing (--log-driver none).
func noLog(r *record) bool { return r.HostConfig != nil && r.HostConfig.LogConfig.Type == "none" }

// runtimeLogPath is where the shim writes the container's output: its
// json-file log, or nowhere with --log-driver none (attached clients
// still get it).
func (d *Daemon) runtimeLogPath(r *record) string {
	if noLog(r) {
		return os.DevNull
	}
	if r.CRILog != "" {
		return r.CRILog
	}
	return d.logPath(r.ID)
}

var (
	defaultPathsOnce               sync.Once
	defaultMasked, defaultReadonly []string
)

// defaultProfilePaths are the masked and read-only paths of the default
// profile (runtime.DefaultSpec) on this host; none on Windows.
func defaultProfilePaths() (masked, readonly []string) {
	defaultPathsOnce.Do(func() {
		s, err := runtime.DefaultSpec(runtime.SpecOptions{})
		if err == nil && s.Linux != nil {
			defaultMasked, defaultReadonly = s.Linux.MaskedPaths, s.Linux.ReadonlyPaths
		}
	})
	return slices.Clone(defaultMasked), slices.Clone(defaultReadonly)
}
