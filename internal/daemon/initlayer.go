package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
)

// Docker's init layer (dockerd's daemon/initlayer): a read-only layer
// between a container's image and its scratch layer that holds the mount
// points the runtime needs and /.dockerenv, which programs read to know
// they run in a container. docker export shows it, the container's
// changes and commit do not (they read the scratch layer alone).
//
// Its content is the same for every container, so hull makes one per
// image top layer, named from that layer (initLayerID), when the first
// container of the image is created, and keeps it while that layer is
// there: a disposable layer of the layer store (isInitLayer), it goes along
// with the image's top layer, which nothing else stands on then. Made
// again for every docker run --rm of an image, it cost 4-9 ms of each.

// isInitLayer tells an init layer: named from its parent.
func isInitLayer(in layer.Info) bool { return in.ID == initLayerID(in.Parent) }

// imageChain is a scratch layer's chain without its init layer: the image's
// layers.
func imageChain(chain []string) []string {
	if len(chain) == 0 {
		return nil
	}
	top := ""
	if len(chain) > 1 {
		top = filepath.Base(chain[1])
	}
	if filepath.Base(chain[0]) == initLayerID(top) {
		return chain[1:]
	}
	return chain // made before init layers
}

// initLayerEntries are the init layer's files in the order of its tar:
// folders and empty files of mode 0755 owned by root, and /etc/mtab a link
// to /proc/mounts, as dockerd makes them.
var initLayerEntries = []struct {
	name string
	typ  byte
	link string
}{
	{".dockerenv", tar.TypeReg, ""},
	{"dev/", tar.TypeDir, ""},
	{"dev/console", tar.TypeReg, ""},
	{"dev/pts/", tar.TypeDir, ""},
	{"dev/shm/", tar.TypeDir, ""},
	{"etc/", tar.TypeDir, ""},
	{"etc/hostname", tar.TypeReg, ""},
	{"etc/hosts", tar.TypeReg, ""},
	{"etc/mtab", tar.TypeSymlink, "/proc/mounts"},
	{"etc/resolv.conf", tar.TypeReg, ""},
	{"proc/", tar.TypeDir, ""},
	{"sys/", tar.TypeDir, ""},
}

// initLayerTar is the init layer as a tar diff, its times t.
func initLayerTar(t time.Time) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range initLayerEntries {
		mode := int64(0o755)
		if e.typ == tar.TypeSymlink {
			mode = 0o777
		}
		// Errors cannot happen writing these headers to a buffer.
		_ = tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: mode,
			ModTime: t, Format: tar.FormatPAX})
	}
	_ = tw.Close()
	return b.Bytes()
}

// initLayerID names the init layer over read-only layer parent ("" for an
// image without layers).
func initLayerID(parent string) string {
	sum := sha256.Sum256([]byte("hull init layer v1\n" + parent))
	return hex.EncodeToString(sum[:])
}

// initLayer returns the init layer over parent, made if it is not there.
func (d *Daemon) initLayer(ctx context.Context, parent string) (string, error) {
	id := initLayerID(parent)
	if _, err := d.layers.Get(ctx, id); err == nil {
		return id, nil
	}
	_, err := d.layers.Create(ctx, id, parent, bytes.NewReader(initLayerTar(time.Now().UTC())), layer.ApplyOptions{})
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return "", fmt.Errorf("init layer over %s: %w", parent, err)
	}
	return id, nil
}

// createScratchOverInit makes the scratch layer of container id over the
// init layer of the image's top layer parent. A remove of the init
// layer's last other container may take it away between the two steps:
// then it is made again.
func (d *Daemon) createScratchOverInit(ctx context.Context, id, parent string) error {
	var err error
	for range 3 {
		var init string
		if init, err = d.initLayer(ctx, parent); err != nil {
			return err
		}
		_, err = d.layers.CreateScratch(ctx, id, init)
		if err == nil {
			return nil
		}
		if !errdefs.IsNotFound(err) {
			d.removeInitLayer(context.WithoutCancel(ctx), init)
			return err
		}
	}
	return err
}

// removeInitLayer removes the init layer parent when it is one and no
// other container's scratch layer stands on it any more.
func (d *Daemon) removeInitLayer(ctx context.Context, parent string) {
	if parent == "" {
		return
	}
	in, err := d.layers.Get(ctx, parent)
	if err != nil || in.Meta.Scratch || initLayerID(in.Parent) != parent {
		return // an image's own layer (a container made before init layers)
	}
	err = d.layers.Discard(ctx, parent, false)
	if err != nil && !errdefs.IsConflict(err) && !errors.Is(err, errdefs.ErrNotFound) {
		slog.Warn("remove an init layer", "layer", parent, "error", err)
	}
}
