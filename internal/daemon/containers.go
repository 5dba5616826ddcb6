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
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
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
	// Health is the health check's state, when the container has one.
	Health *container.Health `json:"health,omitempty"`
	// NetworkingConfig holds the networks besides the network mode's, and
	// the endpoints' aliases and static addresses.
	NetworkingConfig *network.NetworkingConfig `json:"networkingConfig,omitempty"`
	// NetworkModeDetached: the container was disconnected from its network
	// mode's network; it is not attached to it at start.
	NetworkModeDetached bool `json:"networkModeDetached,omitempty"`
	// Links are its legacy links (--link) on the default bridge.
	Links []legacyLink `json:"links,omitempty"`
}

type state struct {
	Status     container.ContainerState `json:"status"`
	Pid        int                      `json:"pid,omitempty"`
	ExitCode   int                      `json:"exitCode"`
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
	// attachers counts attaches waiting for created; start lets them
	// connect before the process runs.
	attachers sync.WaitGroup
	// stopHealth ends the health check's goroutine.
	stopHealth context.CancelFunc
	// win is the container's compute system, endpoint and volume on
	// Windows.
	win *winContainer
}

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
			d.names[rec.Name] = rec.ID
			return nil
		})
	})
}

func (d *Daemon) save(rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).Put([]byte(rec.ID), b)
	})
}

// lookup finds a container by full id, unique id prefix or name.
func (d *Daemon) lookup(ref string) (*ctr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ref == "" {
		return nil, fmt.Errorf("no container named: %w", errdefs.ErrInvalidArgument)
	}
	if c, ok := d.ctrs[ref]; ok {
		return c, nil
	}
	if id, ok := d.names[strings.TrimPrefix(ref, "/")]; ok {
		return d.ctrs[id], nil
	}
	var found *ctr
	for id, c := range d.ctrs {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("multiple IDs found with provided prefix: %s: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = c
		}
	}
	if found == nil {
		if c := d.linkTargetLocked(ref); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// ContainerCreate is POST /containers/create.
func (d *Daemon) ContainerCreate(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig, netCfg *network.NetworkingConfig) (container.CreateResponse, error) {
	if cfg == nil || cfg.Image == "" {
		return container.CreateResponse{}, fmt.Errorf("no image named in the container's config: %w", errdefs.ErrInvalidArgument)
	}
	if host == nil {
		host = &container.HostConfig{}
	}
	warnings, err := checkHostConfig(host)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if err := d.checkSharing(cfg, host); err != nil {
		return container.CreateResponse{}, err
	}
	id := newID()
	tr := d.trace(id)
	img, err := d.images.Get(ctx, cfg.Image)
	if err != nil {
		d.dropTrace(id)
		return container.CreateResponse{}, err
	}
	path, args := command(cfg, img.Config.Entrypoint, img.Config.Cmd)
	if path == "" {
		d.dropTrace(id)
		return container.CreateResponse{}, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	tr.step("image resolved", "image", img.ID, "layer chain top", img.TopLayer)
	generated := name == ""
	if generated {
		name = generateName(id)
	} else if !namePattern.MatchString(name) {
		return container.CreateResponse{}, fmt.Errorf("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	name = strings.TrimPrefix(name, "/")
	d.mu.Lock()
	if _, taken := d.names[name]; taken && generated {
		name += "_" + id[:6]
	}
	if other, ok := d.names[name]; ok {
		d.mu.Unlock()
		d.dropTrace(id)
		return container.CreateResponse{}, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", name, other, errdefs.ErrConflict)
	}
	d.names[name] = id // reserved while the container is made
	d.mu.Unlock()
	release := func() {
		d.mu.Lock()
		delete(d.names, name)
		d.mu.Unlock()
		d.dropTrace(id)
	}
	merged := mergeImageConfig(cfg, img.Config)
	rec := record{ID: id, Name: name, Created: time.Now().UTC(), Image: img.ID, ImageRef: cfg.Image, Config: merged, HostConfig: host,
		State: state{Status: container.StateCreated}, Path: path, Args: args, NetworkingConfig: netCfg}
	if d.win == nil {
		if err := d.checkNetworking(&rec); err != nil {
			release()
			return container.CreateResponse{}, err
		}
	} else if len(host.Binds)+len(host.Mounts)+len(img.Config.Volumes) > 0 || len(host.PortBindings) > 0 {
		release()
		return container.CreateResponse{}, fmt.Errorf("volumes, binds and published ports of Windows containers are not supported by hull yet: %w", errdefs.ErrNotImplemented)
	}
	if err := d.createScratch(ctx, id, img.TopLayer); err != nil {
		release()
		return container.CreateResponse{}, err
	}
	tr.step("scratch layer created with the container's id", "parent", img.TopLayer)
	if rec.Mounts, err = d.resolveMounts(host, img.Config.Volumes); err != nil {
		d.removeScratch(context.WithoutCancel(ctx), id)
		release()
		return container.CreateResponse{}, err
	}
	if err := os.MkdirAll(d.containerDir(id), 0o710); err != nil {
		d.removeScratch(context.WithoutCancel(ctx), id)
		release()
		return container.CreateResponse{}, err
	}
	if err := d.save(&rec); err != nil {
		d.removeScratch(context.WithoutCancel(ctx), id)
		os.RemoveAll(d.containerDir(id))
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

// command is the container's process: Docker's rules for entrypoint and
// cmd from the request over the image's.
func command(cfg *container.Config, imgEntrypoint, imgCmd []string) (string, []string) {
	entry, cmd := imgEntrypoint, imgCmd
	if cfg.Entrypoint != nil {
		entry = cfg.Entrypoint
		if cfg.Cmd == nil {
			cmd = nil // a new entrypoint drops the image's cmd
		}
	}
	if cfg.Cmd != nil {
		cmd = cfg.Cmd
	}
	all := append(slices.Clone(entry), cmd...)
	if len(all) == 0 || all[0] == "" {
		return "", nil
	}
	return all[0], all[1:]
}

func checkHostConfig(h *container.HostConfig) ([]string, error) {
	var warnings []string
	switch h.RestartPolicy.Name {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		return nil, fmt.Errorf("invalid restart policy '%s': %w", h.RestartPolicy.Name, errdefs.ErrInvalidArgument)
	}
	if h.AutoRemove && h.RestartPolicy.Name != "" && h.RestartPolicy.Name != "no" {
		return nil, fmt.Errorf("can't create 'AutoRemove' container with restart policy: %w", errdefs.ErrInvalidArgument)
	}
	if h.Memory < 0 || h.NanoCPUs < 0 {
		return nil, fmt.Errorf("memory and CPU limits cannot be negative: %w", errdefs.ErrInvalidArgument)
	}
	if h.Memory > 0 && h.Memory < 6<<20 {
		return nil, fmt.Errorf("Minimum memory limit allowed is 6MB: %w", errdefs.ErrInvalidArgument)
	}
	return warnings, nil
}

// mergeImageConfig fills what the request leaves unset from the image, as
// docker inspect shows a container's Config.
func mergeImageConfig(cfg *container.Config, img imageConfig) *container.Config {
	c := *cfg
	if len(c.Env) == 0 {
		c.Env = slices.Clone(img.Env)
	} else {
		c.Env = mergeEnv(img.Env, c.Env)
	}
	if c.Cmd == nil && c.Entrypoint == nil {
		c.Cmd = img.Cmd
	}
	if c.Entrypoint == nil {
		c.Entrypoint = img.Entrypoint
	}
	if c.WorkingDir == "" {
		c.WorkingDir = img.WorkingDir
	}
	if c.User == "" {
		c.User = img.User
	}
	if c.StopSignal == "" {
		c.StopSignal = img.StopSignal
	}
	if img.Healthcheck != nil {
		// The image's check, with the request's fields over it.
		var ih container.HealthConfig
		b, _ := json.Marshal(img.Healthcheck)
		json.Unmarshal(b, &ih)
		if c.Healthcheck != nil {
			if len(c.Healthcheck.Test) > 0 {
				ih.Test = c.Healthcheck.Test
			}
			if c.Healthcheck.Interval != 0 {
				ih.Interval = c.Healthcheck.Interval
			}
			if c.Healthcheck.Timeout != 0 {
				ih.Timeout = c.Healthcheck.Timeout
			}
			if c.Healthcheck.StartPeriod != 0 {
				ih.StartPeriod = c.Healthcheck.StartPeriod
			}
			if c.Healthcheck.Retries != 0 {
				ih.Retries = c.Healthcheck.Retries
			}
		}
		c.Healthcheck = &ih
	}
	if len(img.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range c.Labels {
			labels[k] = v
		}
		c.Labels = labels
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
