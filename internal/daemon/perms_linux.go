package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// Other users must not reach anything under the data root or the exec root.
// A container writes files as root: a setuid-root binary copied into a
// volume or into its own root file system is, on the host, a setuid-root
// file under the data root, and a host user who can reach it by its host
// path runs it with euid 0 (CVE-2021-41091, fixed in dockerd 20.10.9 by the
// modes below). So each root lets others at most search it, and every
// folder hull makes directly under a root gives others nothing; what lies
// deeper keeps the modes containers need (a layer's diff/ and merged/ and a
// volume's _data/ are 0755: they are a container's / and a mount point's
// modes as its processes see them, and they are reached on the host only
// by root).
//
// The modes are those of dockerd since 20.10.9 where it has the same
// folder (the data root and containers/ 0710; dockerd's exec root is 0700,
// hull's is 0711 because hull's default socket, /run/hull/hull.sock, lives
// in it and the socket's group must reach it). hull has no user-namespace
// remapping, so the group of the 0710 folders is root's, and volumes/ is
// 0700 where dockerd's is 0701 (its 0701 lets a remapped root reach _data).
const (
	dataRootMode = 0o710
	execRootMode = 0o711
)

// rootFolders lists hull's folders under the two roots, each with its mode;
// the roots come first.
func rootFolders(root, execRoot string) []folderMode {
	return []folderMode{
		{root, dataRootMode},
		{filepath.Join(root, "containers"), 0o710}, // <id>/ 0710: logs, hostname, hosts, resolv.conf, mounts/shm
		{filepath.Join(root, "content"), 0o700},    // image blobs
		{filepath.Join(root, "layers"), 0o700},     // <id>/ 0700: diff/, merged/, work/ (internal/layer)
		{filepath.Join(root, "tmp"), 0o700},        // the image store's unfinished writes
		{filepath.Join(root, "volumes"), 0o700},    // <name>/ 0700, <name>/_data 0755
		{execRoot, execRootMode},
		{filepath.Join(execRoot, "containers"), 0o700},       // <id>/: the OCI bundles
		{filepath.Join(execRoot, "netns"), 0o700},            // the compartments' namespace files
		{filepath.Join(execRoot, "runtime"), 0o700},          // internal/runtime's root
		{filepath.Join(execRoot, "runtime", "shims"), 0o700}, // <id>/ 0700: shim.sock, shim.json, shim.log
		{filepath.Join(execRoot, "runtime", "state"), 0o700}, // libcontainer's state
	}
}

// rootFiles are hull's files directly under the data root.
var rootFiles = []string{"hull.db", "engine-id"}

type folderMode struct {
	path string
	mode os.FileMode
}

// secureRoots makes the data root and the exec root and hull's folders in
// them with the modes above, and gives a data root made by an older hull
// (0711, volumes 0755) those modes, as dockerd does at every start.
func secureRoots(root, execRoot string) error {
	uid, gid := os.Getuid(), os.Getgid()
	for _, f := range rootFolders(root, execRoot) {
		if err := os.MkdirAll(f.path, f.mode); err != nil {
			return fmt.Errorf("daemon folders: %w", err)
		}
		if err := fixMode(f.path, f.mode, uid, gid); err != nil {
			return fmt.Errorf("daemon folders: %w", err)
		}
	}
	for _, name := range rootFiles {
		p := filepath.Join(root, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := fixMode(p, 0o600, uid, gid); err != nil {
			return fmt.Errorf("daemon folders: %w", err)
		}
	}
	// volumes/<name>/ was 0755 before; volumes/ closes it already, but
	// each volume's own folder closes it too.
	vols := filepath.Join(root, "volumes")
	ents, err := os.ReadDir(vols)
	if err != nil {
		return fmt.Errorf("daemon folders: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := fixMode(filepath.Join(vols, e.Name()), volumeDirMode, uid, gid); err != nil {
				return fmt.Errorf("daemon folders: %w", err)
			}
		}
	}
	return nil
}

// fixMode gives p (followed if a link: a root may be a link to another
// disk) the permission bits mode and the owner uid:gid, saying so when it
// changes them.
func fixMode(p string, mode os.FileMode, uid, gid int) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != mode || fi.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		slog.Info("closed to other users", "path", p, "was", fmt.Sprintf("%04o", fi.Mode().Perm()), "now", fmt.Sprintf("%04o", mode))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != uid || int(st.Gid) != gid) {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
		slog.Info("owner given back to the daemon", "path", p, "was", fmt.Sprintf("%d:%d", st.Uid, st.Gid), "now", fmt.Sprintf("%d:%d", uid, gid))
	}
	return nil
}
