package daemon

import (
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
)

// linuxResources is the cgroup section of a container's spec from its
// HostConfig resources, as dockerd builds it (getMemoryResources,
// getCPUResources, the block I/O devices, getPidsLimit). update gives what
// a running container's cgroup is set to on docker update: every value,
// so that a field set back to its default reaches the cgroup too.
func linuxResources(r container.Resources, update bool) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{}
	mem := &specs.LinuxMemory{}
	if r.Memory > 0 || update {
		mem.Limit = ptr(r.Memory)
	}
	if r.MemoryReservation > 0 || update {
		mem.Reservation = ptr(r.MemoryReservation)
	}
	if r.MemorySwap > 0 {
		mem.Swap = ptr(r.MemorySwap)
	}
	if r.MemorySwappiness != nil {
		mem.Swappiness = ptr(uint64(*r.MemorySwappiness))
	}
	if r.OomKillDisable != nil && !update {
		mem.DisableOOMKiller = ptr(*r.OomKillDisable)
	}
	if *mem != (specs.LinuxMemory{}) {
		out.Memory = mem
	}

	if r.CPUShares < 0 {
		return nil, exactError{"shares: invalid argument", errdefs.ErrInvalidArgument}
	}
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares > 0 || update {
		cpu.Shares = ptr(uint64(r.CPUShares))
	}
	if r.NanoCPUs > 0 {
		cpu.Period = ptr(uint64(100000)) // 100 ms
		cpu.Quota = ptr(r.NanoCPUs * 100000 / 1e9)
	}
	if r.CPUPeriod != 0 {
		cpu.Period = ptr(uint64(r.CPUPeriod))
	}
	if r.CPUQuota != 0 {
		cpu.Quota = ptr(r.CPUQuota)
	}
	if r.CPURealtimePeriod != 0 {
		cpu.RealtimePeriod = ptr(uint64(r.CPURealtimePeriod))
	}
	if r.CPURealtimeRuntime != 0 {
		cpu.RealtimeRuntime = ptr(r.CPURealtimeRuntime)
	}
	if cpu.Shares != nil || cpu.Period != nil || cpu.Quota != nil || cpu.Cpus != "" || cpu.Mems != "" || cpu.RealtimePeriod != nil || cpu.RealtimeRuntime != nil {
		out.CPU = cpu
	}

	blk := &specs.LinuxBlockIO{}
	if r.BlkioWeight > 0 {
		blk.Weight = ptr(r.BlkioWeight)
	}
	for _, wd := range r.BlkioWeightDevice {
		if wd == nil {
			continue
		}
		major, minor, err := deviceNumbers(wd.Path)
		if err != nil {
			return nil, err
		}
		w := specs.LinuxWeightDevice{Weight: ptr(wd.Weight)}
		w.Major, w.Minor = major, minor
		blk.WeightDevice = append(blk.WeightDevice, w)
	}
	var err error
	for _, t := range []struct {
		in  []*blkiodev.ThrottleDevice
		out *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &blk.ThrottleReadBpsDevice}, {r.BlkioDeviceWriteBps, &blk.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &blk.ThrottleReadIOPSDevice}, {r.BlkioDeviceWriteIOps, &blk.ThrottleWriteIOPSDevice},
	} {
		if *t.out, err = throttleDevices(t.in); err != nil {
			return nil, err
		}
	}
	if blk.Weight != nil || len(blk.WeightDevice)+len(blk.ThrottleReadBpsDevice)+len(blk.ThrottleWriteBpsDevice)+
		len(blk.ThrottleReadIOPSDevice)+len(blk.ThrottleWriteIOPSDevice) > 0 {
		out.BlockIO = blk
	}

	if r.PidsLimit != nil {
		limit := *r.PidsLimit
		if limit <= 0 {
			limit = -1 // unlimited, also after a limit
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return out, nil
}

func throttleDevices(devs []*blkiodev.ThrottleDevice) ([]specs.LinuxThrottleDevice, error) {
	var out []specs.LinuxThrottleDevice
	for _, d := range devs {
		if d == nil {
			continue
		}
		major, minor, err := deviceNumbers(d.Path)
		if err != nil {
			return nil, err
		}
		t := specs.LinuxThrottleDevice{Rate: d.Rate}
		t.Major, t.Minor = major, minor
		out = append(out, t)
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
