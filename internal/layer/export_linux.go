package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exportImpl writes the layer's own files as a tar diff, turning
// overlayfs's whiteouts and opaque folders into the .wh. entries of the
// image format. Entries come in the order of a sorted walk, so the same
// files give the same tar.
func exportImpl(ctx context.Context, dir string, chain []string, w io.Writer) error {
	root := filesDir(dir)
	tw := tar.NewWriter(w)
	links := map[uint64]string{} // inode → first name, for hard links
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if isWhiteout(fi) {
			return tw.WriteHeader(&tar.Header{
				Name:     path.Join(path.Dir(name), whiteoutPrefix+path.Base(name)),
				Typeflag: tar.TypeReg,
				Mode:     0o600,
				ModTime:  fi.ModTime(),
				Format:   tar.FormatPAX,
			})
		}
		hdr, err := exportHeader(full, name, fi)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if hdr.Typeflag == tar.TypeReg && st != nil && st.Nlink > 1 {
			if first, ok := links[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[st.Ino] = name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(full)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if fi.IsDir() && isOpaque(full) {
			return tw.WriteHeader(&tar.Header{
				Name:     name + "/" + opaqueMarker,
				Typeflag: tar.TypeReg,
				Mode:     0o600,
				ModTime:  fi.ModTime(),
				Format:   tar.FormatPAX,
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func exportHeader(full, name string, fi fs.FileInfo) (*tar.Header, error) {
	var link string
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(full); err != nil {
			return nil, err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	xattrs, err := listXattrs(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	return hdr, nil
}

// listXattrs returns the extended attributes of p that belong in an
// image, leaving out overlayfs's own.
func listXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return nil, err
	}
	names := make([]byte, size)
	if size, err = unix.Llistxattr(p, names); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range strings.Split(string(names[:size]), "\x00") {
		if n == "" || strings.HasPrefix(n, "trusted.overlay.") {
			continue
		}
		vsize, err := unix.Lgetxattr(p, n, nil)
		if err != nil {
			return nil, err
		}
		val := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(p, n, val); err != nil {
			return nil, err
		}
		out[n] = string(val[:vsize])
	}
	return out, nil
}
