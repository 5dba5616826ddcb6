package cri

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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
