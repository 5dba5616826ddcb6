package daemon

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/moby/sys/mountinfo"

	"github.com/hullproject/hull/internal/image"
	"github.com/hullproject/hull/internal/runtime"
)

// InfraRepo is the repository of the pod infra image (PodInfraImage).
const InfraRepo = "hull.internal/infra"

// PodInfraImage is the image of a pod's infra container, made in the image
// store the first time: no pause image is pulled. It holds one file,
// /hull-infra, a copy of hull-shim, whose `pause` mode waits for a signal
// and reaps the pod's orphans. Its tag is the shim binary's digest, so that
// a new shim makes a new image.
func (d *Daemon) PodInfraImage(ctx context.Context) (string, error) {
	d.pods.mu.Lock()
	defer d.pods.mu.Unlock()
	if d.pods.infraImage != "" {
		if _, err := d.images.Get(ctx, d.pods.infraImage); err == nil {
			return d.pods.infraImage, nil
		}
	}
	shim, err := runtime.ShimPath()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(shim)
	if err != nil {
		return "", fmt.Errorf("pod infra image: %w", err)
	}
	sum := sha256.Sum256(b)
	ref := InfraRepo + ":" + hex.EncodeToString(sum[:])[:16]
	if _, err := d.images.Get(ctx, ref); err == nil {
		d.pods.infraImage = ref
		return ref, nil
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "hull-infra", Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg})
		if err == nil {
			_, err = tw.Write(b)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err = d.images.Import(ctx, pr, image.ImportOptions{Repo: InfraRepo, Tag: hex.EncodeToString(sum[:])[:16],
		Changes: []string{`ENTRYPOINT ["/hull-infra", "pause"]`}, Message: "hull's pod infra process", Source: "-"})
	pr.Close()
	if err != nil {
		return "", fmt.Errorf("pod infra image: %w", err)
	}
	d.pods.infraImage = ref
	return ref, nil
}

// applyPodUTS has a pod's container join its infra container's UTS
// namespace (found beside the network namespace it joins), so that the
// pod's hostname is one namespace, as the CRI wants it.
func applyPodUTS(s *specs.Spec, r *record, j joins) {
	if !r.PodUTS || !strings.HasSuffix(j.net, "/ns/net") {
		return
	}
	uts := strings.TrimSuffix(j.net, "net") + "uts"
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UTSNamespace {
			s.Linux.Namespaces[i].Path = uts
			s.Hostname = "" // the namespace's own
			return
		}
	}
}

// mountPointOf is the mount point of the file system that holds dir.
func mountPointOf(dir string) (string, error) {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	best := ""
	for _, m := range mounts {
		if (real == m.Mountpoint || m.Mountpoint == "/" || len(real) > len(m.Mountpoint) && real[len(m.Mountpoint)] == '/' && real[:len(m.Mountpoint)] == m.Mountpoint) && len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	return best, nil
}

// diskUsage is the space a file takes on disk.
func diskUsage(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
