package daemon

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

const driverName = "overlay (hull layer folders)"

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func operatingSystem() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func resizeConsole(f *os.File, height, width uint16) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
}

// copyOwner gives dst the owner of src (copy-up into a volume).
func copyOwner(src, dst string, fi os.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
}

const osType = "linux"

// systemCPUUsage is the host's CPU time in nanoseconds (/proc/stat's cpu
// line), the denominator of docker stats' CPU %.
func systemCPUUsage() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, v := range f[1:8] {
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return ticks * (1e9 / 100) // USER_HZ is 100 on Linux
}

func onlineCPUs() uint32 {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return uint32(set.Count())
	}
	return uint32(goruntime.NumCPU())
}

func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// psTable runs ps with args over the host's processes and keeps the rows
// of pids, as docker top does.
func psTable(ctx context.Context, args string, pids []int) (container.TopResponse, error) {
	if args == "" {
		args = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(args)...).Output()
	if err != nil {
		return container.TopResponse{}, fmt.Errorf("ps %s: %v: %w", args, err, errdefs.ErrInvalidArgument)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return container.TopResponse{}, fmt.Errorf("ps %s: no PID column: %w", args, errdefs.ErrInvalidArgument)
	}
	want := map[string]bool{}
	for _, p := range pids {
		want[strconv.Itoa(p)] = true
	}
	resp := container.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < len(titles) || !want[f[pidCol]] {
			continue
		}
		// The last column (the command) keeps its spaces.
		row := append(f[:len(titles)-1:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		resp.Processes = append(resp.Processes, row)
	}
	return resp, nil
}

func killPid(pid int) {
	if pid > 0 {
		unix.Kill(pid, unix.SIGKILL)
	}
}
