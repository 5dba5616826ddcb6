package conformance

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The seed images, loaded from the same bytes into both daemons so that
// their ids, layers and configs are equal and can be compared as values.
const (
	imgBusybox = "conf/busybox:latest"
	imgAlias   = "conf/busybox:alias" // a second tag of the same image
	imgRich    = "conf/rich:latest"
)

// seedTime is every seed image's and file's creation time, so that the
// archive (and so the image ids) is the same from run to run.
var seedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

type tarEntry struct {
	name, link string
	mode       int64
	typ        byte
	body       []byte
}

func layerTar(entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Mode: e.mode, Typeflag: e.typ, Size: int64(len(e.body)),
			ModTime: seedTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// busyboxLayer is the root file system hack/lib.sh's make_busybox_rootfs_tar
// makes: Debian's static busybox, one symbolic link per applet, /etc/passwd,
// /etc/group and /tmp (1777).
func busyboxLayer() ([]byte, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox is not installed (Debian's busybox-static gives it): %w", err)
	}
	body, err := os.ReadFile(bb)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	entries := []tarEntry{
		{name: "bin/", mode: 0o755, typ: tar.TypeDir},
		{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, body: body},
	}
	for _, a := range applets {
		if a != "busybox" {
			entries = append(entries, tarEntry{name: "bin/" + a, link: "busybox", mode: 0o777, typ: tar.TypeSymlink})
		}
	}
	entries = append(entries,
		tarEntry{name: "etc/", mode: 0o755, typ: tar.TypeDir},
		tarEntry{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		tarEntry{name: "etc/group", mode: 0o644, typ: tar.TypeReg, body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		tarEntry{name: "root/", mode: 0o700, typ: tar.TypeDir},
		tarEntry{name: "tmp/", mode: 0o1777, typ: tar.TypeDir},
	)
	return layerTar(entries), nil
}

// richLayer is the second layer of conf/rich: an entry point, a file in
// the image's volume and a working folder.
func richLayer() []byte {
	return layerTar([]tarEntry{
		{name: "app/", mode: 0o755, typ: tar.TypeDir},
		{name: "app/run.sh", mode: 0o755, typ: tar.TypeReg, body: []byte("#!/bin/sh\necho rich \"$@\"\n")},
		{name: "app/hello.txt", mode: 0o644, typ: tar.TypeReg, body: []byte("hello from the rich image\n")},
		{name: "data/", mode: 0o755, typ: tar.TypeDir},
		{name: "data/seed.txt", mode: 0o644, typ: tar.TypeReg, body: []byte("seeded\n")},
		{name: "etc/", mode: 0o755, typ: tar.TypeDir},
		{name: "etc/motd", mode: 0o644, typ: tar.TypeReg, body: []byte("hello from the second layer\n")},
	})
}

func layerOf(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func imageOf(layers []v1.Layer, history []v1.History, cfg v1.Config) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	var diffIDs []v1.Hash
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		diffIDs = append(diffIDs, d)
	}
	return mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: goruntime.GOARCH, OS: "linux", Created: v1.Time{Time: seedTime},
		Author: "hull conformance", Config: cfg, History: history,
		RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
}

// seedArchive is a docker-archive (docker save's format) of the seed
// images: conf/busybox (one layer; also tagged conf/busybox:alias) and
// conf/rich (two layers, with an entry point, a working folder, a health
// check, exposed ports and a volume in its config).
func seedArchive() ([]byte, error) {
	bbTar, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	l1, err := layerOf(bbTar)
	if err != nil {
		return nil, err
	}
	l2, err := layerOf(richLayer())
	if err != nil {
		return nil, err
	}
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	h1 := v1.History{Created: v1.Time{Time: seedTime}, CreatedBy: "busybox-static root file system"}
	busybox, err := imageOf([]v1.Layer{l1}, []v1.History{h1}, v1.Config{
		Cmd: []string{"/bin/sh"}, Env: []string{path},
		Labels: map[string]string{"org.conf.base": "busybox", "org.conf.seed": "1"},
	})
	if err != nil {
		return nil, err
	}
	rich, err := imageOf([]v1.Layer{l1, l2}, []v1.History{h1,
		{Created: v1.Time{Time: seedTime}, CreatedBy: "add /app, /data and /etc/motd"},
		{Created: v1.Time{Time: seedTime}, CreatedBy: "config only", EmptyLayer: true},
	}, v1.Config{
		Entrypoint: []string{"/app/run.sh"}, Cmd: []string{"default"}, WorkingDir: "/app",
		Env:          []string{path, "RICH=1"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
		Healthcheck:  &v1.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3},
		StopSignal:   "SIGTERM",
		Labels:       map[string]string{"org.conf.base": "busybox", "org.conf.image": "rich"},
	})
	if err != nil {
		return nil, err
	}
	refs := map[name.Reference]v1.Image{}
	for ref, img := range map[string]v1.Image{imgBusybox: busybox, imgAlias: busybox, imgRich: rich} {
		tag, err := name.NewTag(ref)
		if err != nil {
			return nil, err
		}
		refs[tag] = img
	}
	var buf bytes.Buffer
	if err := tarball.MultiRefWrite(refs, &buf); err != nil {
		return nil, fmt.Errorf("write the seed archive: %w", err)
	}
	return buf.Bytes(), nil
}
