package daemon

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// deviceNumbers are the major and minor numbers of the device at path
// (--blkio-weight-device, --device-read-bps …).
func deviceNumbers(path string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, fmt.Errorf("%s: %v: %w", path, err, errdefs.ErrInvalidArgument)
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
}
