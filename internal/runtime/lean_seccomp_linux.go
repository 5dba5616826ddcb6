package runtime

import (
	"github.com/opencontainers/runc/libcontainer/configs"

	"github.com/hullproject/hull/internal/runtime/seccompbpf"
)

// precompiledFilter is the file of the container's compiled seccomp
// filter in dir (<root>/seccomp), compiled on first use: libseccomp runs
// once per distinct profile, not in every container's init.
func precompiledFilter(dir string, c *configs.Seccomp) (string, error) {
	return seccompbpf.Cached(dir, c)
}
