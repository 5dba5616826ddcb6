package daemon

import (
	"archive/tar"
	"path"

	"github.com/hullproject/hull/internal/errdefs"
)

// contextTree is what a build context tar makes when it is unpacked,
// enough to see an entry that cannot be: one whose directory is reached
// through a symbolic link leading to nothing in the context (out of it,
// as the unpacking, rooted at the context, sees it), or a hard link to
// no earlier file. dockerd's classic builder fails those when it unpacks
// the context, with a 500; hull refuses them before the build, as wrong
// input, in dockerd's words. Names going up ("../x") or absolute
// ("/x") land inside the context, for both.
type contextTree struct {
	kinds map[string]byte // clean absolute path -> tar.TypeDir, TypeReg or TypeSymlink
	links map[string]string
}

func newContextTree() *contextTree {
	return &contextTree{kinds: map[string]byte{"/": tar.TypeDir}, links: map[string]string{}}
}

// maxLinks bounds the links followed for one name, as the kernel's
// ELOOP (40).
const maxLinks = 40

// add records hdr, or refuses it as its unpacking would fail.
func (t *contextTree) add(hdr *tar.Header) error {
	name := path.Clean("/" + hdr.Name)
	if name == "/" {
		return nil
	}
	dir, errno := t.dir(path.Dir(name), false, 0)
	if errno != "" {
		return contextError("open %s: %s", name, errno)
	}
	p := path.Join(dir, path.Base(name))
	switch hdr.Typeflag {
	case tar.TypeDir:
		if t.kinds[p] != tar.TypeSymlink {
			t.kinds[p] = tar.TypeDir
		}
	case tar.TypeSymlink:
		t.kinds[p] = tar.TypeSymlink
		t.links[p] = hdr.Linkname
	case tar.TypeLink:
		target := path.Clean("/" + hdr.Linkname)
		if k, ok := t.kinds[target]; !ok || k == tar.TypeDir {
			return contextError("link %s %s: no such file or directory", target, name)
		}
		t.kinds[p] = tar.TypeReg
	default:
		t.kinds[p] = tar.TypeReg
	}
	return nil
}

// dir resolves the directory p as the unpacking reaches it, following
// links; a missing directory is made (as the unpacking's MkdirAll)
// unless a link names it (mustExist). When there is none, errno says
// why in the system's words.
func (t *contextTree) dir(p string, mustExist bool, links int) (_ string, errno string) {
	if p == "/" {
		return "/", ""
	}
	parent, errno := t.dir(path.Dir(p), mustExist, links)
	if errno != "" {
		return "", errno
	}
	cur := path.Join(parent, path.Base(p))
	switch t.kinds[cur] {
	case tar.TypeDir:
		return cur, ""
	case tar.TypeSymlink:
		if links >= maxLinks {
			return "", "too many levels of symbolic links"
		}
		target := t.links[cur]
		if !path.IsAbs(target) {
			target = path.Join(parent, target)
		}
		return t.dir(path.Clean("/"+target), true, links+1)
	case tar.TypeReg:
		return "", "not a directory"
	}
	if mustExist {
		return "", "no such file or directory"
	}
	t.kinds[cur] = tar.TypeDir
	return cur, ""
}

// contextError is an unpacking's failure in dockerd's words.
func contextError(format string, args ...any) error {
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Error processing tar file(exit status 1): "+format, args...)
}
