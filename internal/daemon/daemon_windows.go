package daemon

import "os"

const driverName = "windowsfilter"

func kernelVersion() string   { return "" }
func operatingSystem() string { return "Windows" }

func resizeConsole(f *os.File, height, width uint16) error { return nil }

func copyOwner(src, dst string, fi os.FileInfo) {}

const osType = "windows"

func systemCPUUsage() uint64 { return 0 }
func onlineCPUs() uint32     { return 0 }
func hostMemory() uint64     { return 0 }
