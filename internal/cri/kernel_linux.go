package cri

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// processUser is the identity the container's init process runs with, as
// the kernel has it (/proc/<pid>/status: real uid and gid, supplementary
// groups); nil when it cannot be read.
func processUser(pid int) *runtimeapi.ContainerUser {
	if pid <= 0 {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	u := &runtimeapi.LinuxContainerUser{}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		switch k {
		case "Uid", "Gid":
			if len(f) == 0 {
				return nil
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil
			}
			if k == "Uid" {
				u.Uid = n
			} else {
				u.Gid = n
			}
			found++
		case "Groups":
			for _, g := range f {
				if n, err := strconv.ParseInt(g, 10, 64); err == nil {
					u.SupplementalGroups = append(u.SupplementalGroups, n)
				}
			}
		}
	}
	if found != 2 {
		return nil
	}
	return &runtimeapi.ContainerUser{Linux: u}
}

// recursiveReadOnlyMounts says whether the kernel makes a mount read-only
// with its submounts (mount_setattr with AT_RECURSIVE, Linux 5.12), which
// a recursive read-only mount needs: asked once, of a detached copy of the
// temporary folder's mount (open_tree), which no one sees and which goes
// with its descriptor.
var recursiveReadOnlyMounts = sync.OnceValue(func() bool {
	fd, err := unix.OpenTree(unix.AT_FDCWD, os.TempDir(), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}) == nil
})
