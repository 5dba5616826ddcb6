package daemon

// What the Kubernetes CRI server (internal/cri) needs of the engine beyond
// the Docker API's operations: pods are containers of this daemon (an infra
// container per pod, the pod's containers joining its namespaces), so that
// their records, logs, live-restore and restore after a restart stay the
// daemon's one implementation.

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// podState is what the daemon keeps in memory for the CRI.
type podState struct {
	mu sync.Mutex
	// infraImage is the infra image's reference, once made or found.
	infraImage string
}

// criLogFormat is the runtime's log format for the container: "cri" for
// a container of the CRI, json-file ("") for others.
func criLogFormat(r *record) string {
	if r.CRILog != "" && !noLog(r) {
		return "cri"
	}
	return ""
}

// applyAnnotations gives the container's annotations (HostConfig's, API
// 1.43) to its OCI spec, as dockerd does; the CRI's pods are found by them
// in the runtime's state (hull diag list).
func applyAnnotations(s *specs.Spec, h *container.HostConfig) {
	if len(h.Annotations) == 0 {
		return
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	for k, v := range h.Annotations {
		s.Annotations[k] = v
	}
}

// applyCgroupParent puts the container's cgroup under HostConfig's
// CgroupParent (a CRI pod's cgroup parent, docker's --cgroup-parent), at
// <parent>/<id> as dockerd's cgroupfs driver does; without one the
// runtime's default stands.
func applyCgroupParent(s *specs.Spec, h *container.HostConfig, id string) {
	if h.CgroupParent == "" || s.Linux == nil {
		return
	}
	s.Linux.CgroupsPath = path.Join("/", h.CgroupParent, id)
}

// SetPodContainer makes a created container one of a CRI pod: it joins
// the UTS namespace of the container whose network it shares (the pod's
// infra container), and, when path is not empty, its log is the file at
// path (absolute) in the CRI's log format, in place of its json-file log
// (the folder is made if missing). Preconditions: the container has not
// started.
func (d *Daemon) SetPodContainer(ctx context.Context, id, path string) error {
	if path != "" && !filepath.IsAbs(path) {
		return fmt.Errorf("container log path %q is not absolute: %w", path, errdefs.ErrInvalidArgument)
	}
	c, err := d.lookup(id)
	if err != nil {
		return err
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("container log folder: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.State.Status != container.StateCreated {
		return fmt.Errorf("container %s has started: its log cannot move: %w", id, errdefs.ErrConflict)
	}
	c.rec.CRILog, c.rec.PodUTS = path, true
	return d.save(&c.rec)
}

// ReopenContainerLog has a running container's shim reopen its log (the
// CRI's ReopenContainerLog, after kubelet moved the file away); it returns
// once the new file exists.
func (d *Daemon) ReopenContainerLog(ctx context.Context, id string) error {
	c, err := d.lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	st := c.rec.State.Status
	c.mu.Unlock()
	if st != container.StateRunning && st != container.StatePaused {
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
	}
	return d.rt.ReopenLog(ctx, c.rec.ID)
}

// ExecKill kills an exec's process (SIGKILL): the CRI's ExecSync past its
// timeout.
func (d *Daemon) ExecKill(execID string) error {
	e, err := d.exec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	pid, running := e.pid, e.running
	e.mu.Unlock()
	if running {
		killPid(pid)
	}
	return nil
}

// ImageFilesystem is where the image store keeps its layers: the mount
// point of the file system that holds them, and the bytes and inodes the
// layers use there (the CRI's ImageFsInfo).
func (d *Daemon) ImageFilesystem(ctx context.Context) (mountpoint string, used, inodes uint64, err error) {
	dir := d.layers.LayersDir()
	if mountpoint, err = mountPointOf(dir); err != nil {
		return "", 0, 0, err
	}
	err = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return nil // a layer removed during the walk
		}
		inodes++
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			used += uint64(diskUsage(fi))
		}
		return nil
	})
	return mountpoint, used, inodes, err
}
