package layer

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

const opaqueXattr = "trusted.overlay.opaque"

// isWhiteout reports whether fi is overlayfs's whiteout: a character
// device numbered 0/0.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

func isOpaque(p string) bool {
	buf := make([]byte, 1)
	n, err := unix.Lgetxattr(p, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// lowerLstat finds rel in the parents' files, nearest first, the way
// overlayfs would: a whiteout or an opaque folder above it hides it.
func lowerLstat(chain []string, rel string) (fs.FileInfo, bool) {
	for _, p := range chain {
		root := filesDir(p)
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err == nil {
			if isWhiteout(fi) {
				return nil, false
			}
			return fi, true
		}
		// An opaque ancestor in this layer hides everything below it.
		for d := path.Dir(rel); d != "/" && d != "."; d = path.Dir(d) {
			if isOpaque(filepath.Join(root, d)) {
				return nil, false
			}
		}
	}
	return nil, false
}

// changesImpl walks the layer's own files and names each as added,
// changed or deleted against the parents, as docker diff does: a folder
// is reported when something in it was added or deleted, or when its own
// metadata differs; a folder that exists below only because a child was
// written is not a change of its own unless it is the parent of one.
func changesImpl(ctx context.Context, dir string, chain []string) ([]Change, error) {
	root := filesDir(dir)
	var out []Change
	seen := map[string]bool{} // paths already reported
	dirs := map[string]bool{} // folders of the upper layer
	report := func(p string, k ChangeKind) {
		if !seen[p] {
			seen[p] = true
			out = append(out, Change{Path: p, Kind: k})
		}
	}
	err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		p := "/" + filepath.ToSlash(rel)
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while we walk a layer in use
		}
		if err != nil {
			return err
		}
		kind := ChangeAdd
		if isWhiteout(fi) {
			kind = ChangeDelete
		} else if lfi, ok := lowerLstat(chain, p); ok {
			if fi.IsDir() && lfi.IsDir() && fi.Mode() == lfi.Mode() &&
				fi.ModTime().Equal(lfi.ModTime()) && !isOpaque(full) {
				dirs[p] = true
				return nil
			}
			kind = ChangeModify
		}
		if kind != ChangeDelete && fi.IsDir() {
			dirs[p] = true
			if isOpaque(full) {
				if err := reportHidden(chain, root, p, report); err != nil {
					return err
				}
			}
		}
		report(p, kind)
		if kind == ChangeAdd || kind == ChangeDelete {
			if parent := path.Dir(p); parent != "/" {
				report(parent, ChangeModify)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// reportHidden reports as deleted what the parents hold in folder p that
// the upper layer's opaque folder hides and does not hold itself.
func reportHidden(chain []string, upperRoot, p string, report func(string, ChangeKind)) error {
	names := map[string]bool{}
	for _, l := range chain {
		ents, err := os.ReadDir(filepath.Join(filesDir(l), p))
		if err != nil {
			continue
		}
		for _, e := range ents {
			names[e.Name()] = true
		}
		if isOpaque(filepath.Join(filesDir(l), p)) {
			break
		}
	}
	for n := range names {
		child := path.Join(p, n)
		if _, err := os.Lstat(filepath.Join(upperRoot, child)); err == nil {
			continue
		}
		if _, ok := lowerLstat(chain, child); ok {
			report(child, ChangeDelete)
		}
	}
	return nil
}

// sizeImpl counts the bytes of the layer's regular files (each inode once)
// and symbolic links (their targets' length), as Docker sizes a layer.
func sizeImpl(ctx context.Context, dir string) (int64, error) {
	var total int64
	inodes := map[uint64]bool{}
	err := filepath.WalkDir(filesDir(dir), func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		// Files and symbolic links count, as in Docker's size of a layer
		// folder (a link by its target's length).
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if inodes[st.Ino] {
				return nil
			}
			inodes[st.Ino] = true
		}
		total += fi.Size()
		return nil
	})
	return total, err
}
