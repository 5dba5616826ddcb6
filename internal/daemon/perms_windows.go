package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// secureRoots makes the data root, the exec root and containers/. On
// Windows their access is the ACL they inherit (C:\ProgramData gives
// users no access to a folder an administrator made); modes do not apply.
func secureRoots(root, execRoot string) error {
	for _, dir := range []string{root, execRoot, filepath.Join(root, "containers")} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("daemon folders: %w", err)
		}
	}
	return nil
}
