package daemon

import (
	"context"
	"fmt"
	"os"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

const driverName = "windowsfilter"

func kernelVersion() string   { return "" }
func operatingSystem() string { return "Windows" }

func resizeConsole(f *os.File, height, width uint16) error { return nil }

func copyOwner(src, dst string, fi os.FileInfo) {}

const osType = "windows"

func systemCPUUsage() uint64 { return 0 }
func onlineCPUs() uint32     { return 0 }
func hostMemory() uint64     { return 0 }

func psTable(ctx context.Context, args string, pids []int) (container.TopResponse, error) {
	return container.TopResponse{}, fmt.Errorf("top: the HCS process list arrives with issue 7: %w", errdefs.ErrNotImplemented)
}

func killPid(pid int) {}
