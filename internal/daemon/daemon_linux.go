package daemon

import (
	"bufio"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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
