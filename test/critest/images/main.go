// Command images makes the test images critest v1.34.0 pulls — the ones it
// takes from registry.k8s.io/e2e-test-images and gcr.io/k8s-staging-cri-tools
// — locally, as real images, and serves them from a registry of its own on
// loopback (go-containerregistry's, in memory) under their repository paths
// without the registry host: registry.k8s.io/e2e-test-images/busybox:1.29-2
// is 127.0.0.1:PORT/e2e-test-images/busybox:1.29-2, so a runtime whose
// mirror of registry.k8s.io and gcr.io is that registry pulls them by their
// original names.
//
// What critest needs of each (read from cri-tools v1.34.0 pkg/validate and
// pkg/framework) is written beside it in images(). The root file system is
// a busybox one (-busybox: test/critest/run.sh gives Debian's busybox, whose
// shell runs applets through /bin as the busybox image's does, on
// hack/lib.sh make_busybox_rootfs_tar's; made like the busybox image's
// here: busyboxRoot); the programs the real images ship
// (nginx, httpd, the no-new-privileges checker, pause, and busybox's pgrep
// and ipcs) are played by one static Go program, test/critest/standin.
//
// Not made: gcr.io/k8s-staging-cri-tools/test-image-digest, which critest
// pulls by a fixed digest that no locally made image can have.
//
//	images -busybox bb.tar -standin ./standin -listen 127.0.0.1:5000 -ready FILE
//
// It pushes every image, writes the registry's address to FILE and serves
// until SIGTERM or SIGINT.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is every image's creation time and every file's: the same inputs
// make the same images.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// file is one entry of a layer made here.
type file struct {
	name string // without a leading slash
	mode int64  // permission bits with setuid etc.; a folder when dir
	dir  bool
	data []byte
}

// spec is one image: the repository path and tags it is pushed under, its
// layers on top of the base, and its configuration.
type spec struct {
	repo   string
	tags   []string
	busy   bool // on the busybox root file system
	files  []file
	config v1.Config
}

const (
	e2e      = "e2e-test-images/"       // registry.k8s.io/e2e-test-images/
	criTools = "k8s-staging-cri-tools/" // gcr.io/k8s-staging-cri-tools/
)

func images(standin []byte) []spec {
	path := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	exe := func(name string) file { return file{name: name, mode: 0o755, data: standin} }
	// passwd and group for the images that name users: www-data (33)
	// as Debian has it; default-user (1000) in group-defined-in-image
	// (50000) for the supplemental groups specs.
	passwd := file{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\n" +
		"www-data:x:33:33:www-data:/var/www:/bin/sh\n" +
		"default-user:x:1000:1000:default-user:/home/default-user:/bin/sh\n")}
	group := file{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nwww-data:x:33:\ndefault-user:x:1000:\n" +
		"group-defined-in-image:x:50000:default-user\n")}
	users := []file{{name: "etc", mode: 0o755, dir: true}, passwd, group}
	// one distinct small layer per name, for the pull and list specs
	marker := func(s string) []file {
		return []file{{name: "etc", mode: 0o755, dir: true}, {name: "etc/critest-image", mode: 0o644, data: []byte(s + "\n")}}
	}
	return []spec{
		// The default container image: sh, echo, sleep, top, pgrep,
		// ls, cat, hostname, ipcs, pidof, id, touch, mount … (busybox).
		{repo: e2e + "busybox", tags: []string{"1.29-2"}, busy: true, config: v1.Config{Env: path, Cmd: []string{"sh"}}},
		// A web server on port 80 (networking, port-forward, HostPID:
		// its pid in /var/run/nginx.pid, `pidof nginx`).
		{repo: e2e + "nginx", tags: []string{"1.14-2"}, busy: true,
			files: []file{{name: "usr", mode: 0o755, dir: true}, {name: "usr/sbin", mode: 0o755, dir: true}, exe("usr/sbin/nginx"),
				{name: "var", mode: 0o755, dir: true}, {name: "var/run", mode: 0o755, dir: true}},
			config: v1.Config{Env: path, Cmd: []string{"nginx"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}, StopSignal: "SIGQUIT"}},
		// A web server on port 80 that logs a line naming httpd
		// (multiple containers in a pod), with echo for exec.
		{repo: e2e + "httpd", tags: []string{"2.4.39-4"}, busy: true,
			files: []file{{name: "usr", mode: 0o755, dir: true}, {name: "usr/local", mode: 0o755, dir: true},
				{name: "usr/local/bin", mode: 0o755, dir: true}, exe("usr/local/bin/httpd")},
			config: v1.Config{Env: path, Cmd: []string{"httpd"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}, StopSignal: "SIGWINCH"}},
		// A set-user-ID root program printing its effective uid,
		// run as uid 1000 (NoNewPrivs).
		{repo: e2e + "nonewprivs", tags: []string{"1.3"}, busy: true,
			files: []file{{name: "usr", mode: 0o755, dir: true}, {name: "usr/local", mode: 0o755, dir: true},
				{name: "usr/local/bin", mode: 0o755, dir: true}, {name: "usr/local/bin/nnp", mode: 0o4755, data: standin}},
			config: v1.Config{Env: path, Cmd: []string{"nnp"}}},
		// The sandbox image of runtimes that run one (containerd's
		// sandbox_image); hull runs its own infra process instead.
		{repo: "pause", tags: []string{"3.6"}, files: []file{exe("pause")}, config: v1.Config{Entrypoint: []string{"/pause"}}},
		// A web server on the node's network at port 12003
		// (port-forward in host network).
		{repo: criTools + "hostnet-nginx-" + runtime.GOARCH, tags: []string{"latest"}, busy: true,
			files: []file{{name: "usr", mode: 0o755, dir: true}, {name: "usr/sbin", mode: 0o755, dir: true}, exe("usr/sbin/nginx"),
				{name: "var", mode: 0o755, dir: true}, {name: "var/run", mode: 0o755, dir: true}},
			config: v1.Config{Env: path, Cmd: []string{"nginx", "-port", "12003"}, ExposedPorts: map[string]struct{}{"12003/tcp": {}}}},
		// Pulled, inspected, listed and removed by reference only.
		{repo: criTools + "test-image-latest", tags: []string{"latest"}, files: marker("test-image-latest")},
		{repo: criTools + "test-image-tag", tags: []string{"test", "all"}, files: marker("test-image-tag")},
		// Three different images…
		{repo: criTools + "test-image-1", tags: []string{"latest"}, files: marker("test-image-1")},
		{repo: criTools + "test-image-2", tags: []string{"latest"}, files: marker("test-image-2")},
		{repo: criTools + "test-image-3", tags: []string{"latest"}, files: marker("test-image-3")},
		// … and one image under three tags.
		{repo: criTools + "test-image-tags", tags: []string{"1", "2", "3"}, files: marker("test-image-tags")},
		// The image's user, as ImageStatus answers it (uid or
		// username).
		{repo: criTools + "test-image-user-uid", tags: []string{"latest"}, files: users, config: v1.Config{User: "1002"}},
		{repo: criTools + "test-image-user-username", tags: []string{"latest"}, files: users, config: v1.Config{User: "www-data"}},
		{repo: criTools + "test-image-user-uid-group", tags: []string{"latest"}, files: users, config: v1.Config{User: "1003:www-data"}},
		{repo: criTools + "test-image-user-username-group", tags: []string{"latest"}, files: users, config: v1.Config{User: "www-data:www-data"}},
		// default-user (1000) belongs to group 50000 in /etc/group
		// (SupplementalGroupsPolicy): `id -G` runs in it.
		{repo: criTools + "test-image-predefined-group", tags: []string{"latest"}, busy: true, files: users,
			config: v1.Config{Env: path, User: "1000", Cmd: []string{"sh"}}},
	}
}

func main() {
	busybox := flag.String("busybox", "", "a busybox root file system as a tar file (test/critest/run.sh critest_busybox_tar)")
	standin := flag.String("standin", "", "the static test/critest/standin program")
	listen := flag.String("listen", "127.0.0.1:0", "the registry's address")
	ready := flag.String("ready", "", "a file the registry's address is written to once every image is pushed")
	flag.Parse()
	if err := run(*busybox, *standin, *listen, *ready); err != nil {
		log.Fatal(err)
	}
}

func run(busyboxPath, standinPath, listen, ready string) error {
	if busyboxPath == "" || standinPath == "" {
		return errors.New("-busybox and -standin are needed")
	}
	standin, err := os.ReadFile(standinPath)
	if err != nil {
		return err
	}
	bb, err := busyboxRoot(busyboxPath, standin)
	if err != nil {
		return fmt.Errorf("busybox layer: %w", err)
	}
	bbLayer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(bb)), nil })
	if err != nil {
		return fmt.Errorf("busybox layer: %w", err)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(l)
	addr := l.Addr().String()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	for _, s := range images(standin) {
		img, err := build(s, bbLayer)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.repo, err)
		}
		for _, tag := range s.tags {
			ref, err := name.NewTag(addr+"/"+s.repo+":"+tag, name.Insecure)
			if err != nil {
				return err
			}
			if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
				return fmt.Errorf("push %s: %w", ref, err)
			}
		}
		d, _ := img.Digest()
		fmt.Printf("pushed %s:%s (%s)\n", s.repo, strings.Join(s.tags, ","), d)
	}
	if ready != "" {
		if err := os.WriteFile(ready, []byte(addr+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("serving on %s\n", addr)
	<-ctx.Done()
	return srv.Close()
}

// build makes s's image: its layers (the busybox layer first when asked)
// and its configuration, for this machine's platform.
func build(s spec, busybox v1.Layer) (v1.Image, error) {
	var layers []v1.Layer
	if s.busy {
		layers = append(layers, busybox)
	}
	if len(s.files) > 0 {
		b, err := tarOf(s.files)
		if err != nil {
			return nil, err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config = s.config
	for i := range cf.History {
		cf.History[i].Created = v1.Time{Time: epoch}
	}
	return mutate.ConfigFile(img, cf)
}

// busyboxRoot is the busybox root file system of path made like the
// busybox image's: its applets are hard links to /bin/busybox, not
// symbolic links (critest masks /bin/ls; a mask over a symbolic link to
// busybox would hide every applet); /etc/passwd and /etc/group hold the
// image's users (nobody, www-data …: critest runs as nobody by name); and
// the two applets critest needs that Debian's busybox lacks, pgrep and
// ipcs, are the stand-in.
func busyboxRoot(path string, standin []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var links []*tar.Header
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h.Name = strings.TrimPrefix(h.Name, "./")
		if h.Name == "" {
			continue
		}
		switch {
		case h.Typeflag == tar.TypeSymlink && h.Linkname == "busybox":
			links = append(links, &tar.Header{Name: h.Name, Typeflag: tar.TypeLink, Linkname: "bin/busybox", Mode: 0o755, ModTime: h.ModTime})
			continue
		case h.Name == "etc/passwd" || h.Name == "etc/group":
			continue // written below
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	for _, h := range links {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	for _, x := range []file{
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\n" +
			"daemon:x:1:1:daemon:/usr/sbin:/bin/false\nbin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\n" +
			"sync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\n" +
			"www-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\n" +
			"nobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\n" +
			"disk:x:6:\nwheel:x:10:root\nmail:x:8:\nwww-data:x:33:\noperator:x:37:\nusers:x:100:\nnogroup:x:65534:\n")},
		{name: "bin/pgrep", mode: 0o755, data: standin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: x.name, Mode: x.mode, Size: int64(len(x.data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(x.data); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/ipcs", Typeflag: tar.TypeLink, Linkname: "bin/pgrep", Mode: 0o755, ModTime: epoch}); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarOf is a layer of files, owned by root.
func tarOf(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX}
		if f.dir {
			h.Name, h.Typeflag, h.Size = f.name+"/", tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
