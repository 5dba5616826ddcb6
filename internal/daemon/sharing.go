package daemon

// A container that shares another's namespaces: --pid, --ipc and
// --network container:X (and the host's, --pid/--ipc/--uts/--network
// host; --ipc shareable, none). The compute service joins them through the
// OCI spec's namespace paths, /proc/<pid of X>/ns/…; what dockerd refuses
// at create and at start is refused here with its words.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// containerMode is the X of a "container:X" mode, and whether the mode is
// one.
func containerMode(mode string) (string, bool) {
	return strings.CutPrefix(mode, "container:")
}

// checkSharing refuses at create what dockerd refuses there — a network
// mode container:X with the options that cannot go with it, links with
// the host's network, a PID or IPC mode naming a container that does not
// exist — and names the containers shared by id, so that a rename of X
// keeps the sharing (dockerd's inspect shows container:<id>).
func (d *Daemon) checkSharing(cfg *container.Config, h *container.HostConfig) error {
	mode := string(h.NetworkMode)
	if d.win != nil {
		for _, m := range []string{mode, string(h.PidMode), string(h.IpcMode)} {
			if _, ok := containerMode(m); ok {
				return fmt.Errorf("mode %s: sharing another container's namespaces is not supported for Windows containers: %w", m, errdefs.ErrNotImplemented)
			}
		}
	}
	if name, ok := containerMode(mode); ok || mode == "container" {
		if name == "" {
			return fmt.Errorf("Invalid network mode: invalid container format container:<name|id>: %w", errdefs.ErrInvalidArgument)
		}
		conflict := ""
		switch {
		case cfg.Hostname != "":
			conflict = "hostname and the network mode"
		case len(h.Links) > 0:
			conflict = "container type network can't be used with links. This would result in undefined behavior"
		case len(h.DNS) > 0:
			conflict = "dns and the network mode"
		case len(h.ExtraHosts) > 0:
			conflict = "custom host-to-IP mapping and the network mode"
		case len(h.PortBindings) > 0 || h.PublishAllPorts:
			conflict = "port publishing and the container type network mode"
		case len(cfg.ExposedPorts) > 0:
			conflict = "port exposing and the container type network mode"
		}
		if conflict != "" {
			return fmt.Errorf("conflicting options: %s: %w", conflict, errdefs.ErrInvalidArgument)
		}
		// dockerd looks X up at start only; it names it by id when it
		// exists already.
		if x, err := d.lookup(name); err == nil {
			h.NetworkMode = container.NetworkMode("container:" + x.rec.ID)
		}
	}
	if mode == "host" && len(h.Links) > 0 {
		return fmt.Errorf("conflicting options: host type networking can't be used with links. This would result in undefined behavior: %w", errdefs.ErrInvalidArgument)
	}
	for _, m := range []*string{(*string)(&h.PidMode), (*string)(&h.IpcMode)} {
		name, ok := containerMode(*m)
		if !ok || name == "" {
			continue
		}
		x, err := d.lookup(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return fmt.Errorf("No such container: %s: %w", name, errdefs.ErrInvalidArgument)
			}
			return err
		}
		*m = "container:" + x.rec.ID
	}
	return nil
}

// joins is what a starting container takes from the containers whose
// namespaces it joins.
type joins struct {
	// netPeer is the container whose network it shares (network mode
	// container:X), nil otherwise.
	netPeer *record
	// hostname is netPeer's.
	hostname string
	// Paths of the namespaces to join ("" for none): /proc/<pid>/ns/….
	net, pid, ipc string
	// shm is the /dev/shm of the IPC peer (or the host's), bind-mounted
	// over the container's.
	shm string
}

// resolveJoins checks, as dockerd does at start, the containers whose
// namespaces c joins: each must exist, run and not be restarting, and an
// IPC peer must be shareable. Preconditions: c.mu is held.
func (d *Daemon) resolveJoins(c *ctr) (joins, error) {
	var j joins
	h := c.rec.HostConfig
	if name, ok := containerMode(string(h.NetworkMode)); ok {
		x, err := d.peer(name)
		if err != nil {
			return j, err
		}
		if x.ID == c.rec.ID {
			return j, fmt.Errorf("cannot join own network: %w", errdefs.ErrInvalidArgument)
		}
		if !peerRunning(x) {
			return j, fmt.Errorf("cannot join network of a non running container: %s: %w", name, errdefs.ErrConflict)
		}
		if x.State.Status == container.StateRestarting {
			return j, fmt.Errorf("Container %s is restarting, wait until the container is running: %w", name, errdefs.ErrConflict)
		}
		j.netPeer = &x
		j.net = nsPath(x.State.Pid, "net")
		j.hostname = x.Config.Hostname
		if b, err := os.ReadFile(filepath.Join(d.containerDir(x.ID), "hostname")); err == nil && strings.TrimSpace(string(b)) != "" {
			j.hostname = strings.TrimSpace(string(b))
		}
	}
	if name, ok := containerMode(string(h.PidMode)); ok {
		x, err := d.peer(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return j, fmt.Errorf("cannot join PID of a non running container: %s: No such container: %s: %w", name, name, errdefs.ErrInvalidArgument)
			}
			return j, err
		}
		if !peerRunning(x) {
			return j, fmt.Errorf("container %s is not running: %w", x.ID, errdefs.ErrConflict)
		}
		if x.State.Status == container.StateRestarting {
			return j, fmt.Errorf("Container %s is restarting, wait until the container is running: %w", x.ID, errdefs.ErrConflict)
		}
		j.pid = nsPath(x.State.Pid, "pid")
	}
	switch mode := string(h.IpcMode); {
	case mode == "host":
		j.shm = "/dev/shm"
	case strings.HasPrefix(mode, "container:"):
		name, _ := containerMode(mode)
		x, err := d.peer(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return j, fmt.Errorf("can't join IPC of container %s: No such container: %s: %w", name, name, errdefs.ErrInvalidArgument)
			}
			return j, err
		}
		if !peerRunning(x) {
			return j, fmt.Errorf("can't join IPC of container %s: container %s is not running: %w", x.ID, x.ID, errdefs.ErrConflict)
		}
		if x.State.Status == container.StateRestarting {
			return j, fmt.Errorf("can't join IPC of container %s: Container %s is restarting, wait until the container is running: %w", x.ID, x.ID, errdefs.ErrConflict)
		}
		shm, ok := d.ipcShm(x, 0)
		if !ok {
			return j, fmt.Errorf("can't join IPC of container %s: non-shareable IPC (hint: use IpcMode:shareable for the donor container): %w", x.ID, errdefs.ErrInvalidArgument)
		}
		j.ipc = nsPath(x.State.Pid, "ipc")
		j.shm = shm
	case mode == "shareable":
		shm, err := d.setupShm(c.rec.ID, c.rec.HostConfig.ShmSize)
		if err != nil {
			return j, err
		}
		j.shm = shm
	case mode == "", mode == "private", mode == "none":
	default:
		return j, fmt.Errorf("Invalid IPC mode: %s: %w", mode, errdefs.ErrInvalidArgument)
	}
	return j, nil
}

// ipcShm is the /dev/shm others share when they join x's IPC namespace,
// and whether they may, as dockerd decides it: x's mode is shareable (its
// /dev/shm is a tmpfs the daemon mounted on the host) or the host's, or x
// joins one that is.
func (d *Daemon) ipcShm(x record, depth int) (string, bool) {
	switch mode := string(x.HostConfig.IpcMode); {
	case mode == "shareable":
		p := d.shmPath(x.ID)
		fi, err := os.Stat(p)
		return p, err == nil && fi.IsDir()
	case mode == "host":
		return "/dev/shm", true
	case strings.HasPrefix(mode, "container:") && depth < 8:
		name, _ := containerMode(mode)
		if y, err := d.peer(name); err == nil {
			return d.ipcShm(y, depth+1)
		}
	}
	return "", false
}

// shmPath is where a shareable container's /dev/shm is mounted on the
// host, as dockerd's containers/<id>/mounts/shm.
func (d *Daemon) shmPath(id string) string {
	return filepath.Join(d.containerDir(id), "mounts", "shm")
}

func peerRunning(x record) bool {
	return (x.State.Status == container.StateRunning || x.State.Status == container.StatePaused || x.State.Status == container.StateRestarting) && x.State.Pid > 0
}

func nsPath(pid int, ns string) string {
	return filepath.Join("/proc", strconv.Itoa(pid), "ns", ns)
}

// peerWait bounds how long a container's start waits for the daemon's
// lock or another container's; glanceWait how long an exit or a start
// waits for another container's when it only looks around (netSharers,
// updateParentHosts), with an answer that is safe when it gives up.
const (
	peerWait   = 10 * time.Second
	glanceWait = time.Second
)

// peer is a copy of the record of the container ref names, for code that
// holds a container's mu (a start, an exit): the lock order is d.mu before
// one container's mu, so here d.mu and the peer's mu are only tried, for
// peerWait, never waited on — two containers starting that join each other
// cannot deadlock.
func (d *Daemon) peer(ref string) (record, error) {
	if !tryLock(&d.mu, peerWait) {
		return record{}, fmt.Errorf("container %s: the daemon is busy: %w", ref, errdefs.ErrUnavailable)
	}
	x, err := d.lookupLocked(ref)
	d.mu.Unlock()
	if err != nil {
		return record{}, err
	}
	if !tryLock(&x.mu, peerWait) {
		return record{}, fmt.Errorf("container %s is busy: %w", ref, errdefs.ErrUnavailable)
	}
	defer x.mu.Unlock()
	r := x.rec
	if x.removed {
		r.State.Status = container.StateRemoving
	}
	return r, nil
}

// lookupLocked is lookup with d.mu held.
func (d *Daemon) lookupLocked(ref string) (*ctr, error) {
	if c, ok := d.ctrs[ref]; ok {
		return c, nil
	}
	if id, ok := d.names[strings.TrimPrefix(ref, "/")]; ok {
		return d.ctrs[id], nil
	}
	var found *ctr
	for id, c := range d.ctrs {
		if ref != "" && strings.HasPrefix(id, ref) {
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

// tryLock takes mu if it comes free within wait.
func tryLock(mu *sync.Mutex, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for !mu.TryLock() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// netSharers says whether a running container other than id shares id's
// network namespace (network mode container:<id>): its compartment's NICs
// must then be taken out one by one, the namespace outliving id. When it
// cannot tell (a lock stays taken), it says yes, which is always safe.
// Preconditions: the mu of id's container may be held.
func (d *Daemon) netSharers(id string) bool {
	if !tryLock(&d.mu, glanceWait) {
		return true
	}
	cs := make([]*ctr, 0, len(d.ctrs))
	for _, c := range d.ctrs {
		if c.rec.ID != id {
			cs = append(cs, c)
		}
	}
	d.mu.Unlock()
	for _, c := range cs {
		if !tryLock(&c.mu, glanceWait) {
			return true
		}
		mode := ""
		if c.rec.HostConfig != nil {
			mode = string(c.rec.HostConfig.NetworkMode)
		}
		shares := mode == "container:"+id && peerRunning(c.rec)
		c.mu.Unlock()
		if shares {
			return true
		}
	}
	return false
}

// peerFiles gives a container sharing j.netPeer's network that container's
// /etc/hostname, /etc/hosts and /etc/resolv.conf, and its host name in
// Config, as dockerd does. Preconditions: c.mu is held.
func (d *Daemon) peerFiles(c *ctr, s *specs.Spec, j joins) {
	dir := d.containerDir(j.netPeer.ID)
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: filepath.Join(dir, name), Options: []string{"rbind", "rprivate"}})
	}
	cfg := *c.rec.Config
	cfg.Hostname = j.hostname
	if j.netPeer.Config != nil {
		cfg.Domainname = j.netPeer.Config.Domainname
	}
	c.rec.Config = &cfg
}

// filesDir is where a container's hostname, hosts and resolv.conf are: its
// own folder, or, sharing X's network (container:X), X's, as dockerd's
// inspect shows them.
func (d *Daemon) filesDir(r *record) string {
	if x, ok := containerMode(string(r.HostConfig.NetworkMode)); ok && len(x) == 64 {
		return d.containerDir(x)
	}
	return d.containerDir(r.ID)
}
