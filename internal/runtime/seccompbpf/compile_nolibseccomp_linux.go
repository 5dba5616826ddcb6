//go:build linux && cgo && !seccomp

package seccompbpf

import (
	"fmt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime/seccompprog"
	"github.com/opencontainers/runc/libcontainer/configs"
)

// Without the seccomp build tag there is no libseccomp, as in
// libcontainer's own build: nothing can be compiled, and the caller falls
// back to libcontainer, which refuses a seccomp profile the same way.

// ErrNotify is returned for a profile with SCMP_ACT_NOTIFY.
var ErrNotify = fmt.Errorf("seccomp profile with SCMP_ACT_NOTIFY: %w", errdefs.ErrNotImplemented)

var errNoLibseccomp = fmt.Errorf("compile seccomp profile: built without the seccomp tag (libseccomp): %w", errdefs.ErrNotImplemented)

// Compile needs libseccomp; this build has none.
func Compile(c *configs.Seccomp) (*seccompprog.Program, error) { return nil, errNoLibseccomp }

// CacheKey needs libseccomp's version; this build has none.
func CacheKey(c *configs.Seccomp) (string, error) { return "", errNoLibseccomp }

// Cached needs libseccomp; this build has none.
func Cached(dir string, c *configs.Seccomp) (string, error) { return "", errNoLibseccomp }
