package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// CgroupSample reads the counters of the cgroup at cgroupPath (as
// HostConfig.CgroupParent names it, under each hierarchy's root: a CRI
// pod's cgroup parent, which holds its containers' cgroups), in
// ContainerSample's shape: CPU usage, memory usage, its own limit (the
// largest number when there is none) and memory.stat, the processes.
// NotFound when there is no such cgroup.
func (d *Daemon) CgroupSample(ctx context.Context, cgroupPath string) (container.StatsResponse, error) {
	out := container.StatsResponse{OSType: osType}
	p := path.Clean("/" + cgroupPath)
	if p == "/" {
		return out, fmt.Errorf("cgroup %q: not a cgroup of its own: %w", cgroupPath, errdefs.ErrInvalidArgument)
	}
	var err error
	if hostSysInfo().cgroup2 {
		err = cgroup2Sample(&out, filepath.Join("/sys/fs/cgroup", p))
	} else {
		err = cgroup1Sample(&out, p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return out, fmt.Errorf("cgroup %s: %w", p, errdefs.ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("cgroup %s: %w", p, err)
	}
	out.Read = time.Now().UTC()
	return out, nil
}

func cgroup1Sample(out *container.StatsResponse, p string) error {
	mounts := cgroup1Mounts()
	cpu, mem := mounts["cpuacct"], mounts["memory"]
	if cpu == "" || mem == "" {
		return fmt.Errorf("no cgroup v1 cpuacct or memory hierarchy: %w", errdefs.ErrNotImplemented)
	}
	var err error
	if out.CPUStats.CPUUsage.TotalUsage, err = readUint(filepath.Join(cpu, p, "cpuacct.usage")); err != nil {
		return err
	}
	if out.MemoryStats.Usage, err = readUint(filepath.Join(mem, p, "memory.usage_in_bytes")); err != nil {
		return err
	}
	if out.MemoryStats.Limit, err = readUint(filepath.Join(mem, p, "memory.limit_in_bytes")); err != nil {
		return err
	}
	if out.MemoryStats.Stats, err = readStat(filepath.Join(mem, p, "memory.stat")); err != nil {
		return err
	}
	if pids := mounts["pids"]; pids != "" {
		out.PidsStats.Current, _ = readUint(filepath.Join(pids, p, "pids.current"))
	}
	return nil
}

func cgroup2Sample(out *container.StatsResponse, dir string) error {
	cpu, err := readStat(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return err
	}
	out.CPUStats.CPUUsage.TotalUsage = cpu["usage_usec"] * 1000
	if out.MemoryStats.Usage, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
		return err
	}
	if out.MemoryStats.Limit, err = readUint(filepath.Join(dir, "memory.max")); err != nil {
		return err
	}
	if out.MemoryStats.Stats, err = readStat(filepath.Join(dir, "memory.stat")); err != nil {
		return err
	}
	out.PidsStats.Current, _ = readUint(filepath.Join(dir, "pids.current"))
	return nil
}

// readUint reads a cgroup file of one number; "max" is the largest.
func readUint(p string) (uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q: %w", p, s, errdefs.ErrDataLoss)
	}
	return v, nil
}

// readStat reads a cgroup file of "key value" lines.
func readStat(p string) (map[string]uint64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}
