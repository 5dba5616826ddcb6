package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitLayerAsDockerd: a container stands on Docker's init layer —
// /.dockerenv and the mount points are in its file system and in docker
// export, not in docker diff; the init layer is shared by the containers of
// an image and goes with the last of them, so that the image can then be
// removed with all its layers.
func TestInitLayerAsDockerd(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	layers := func() int {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, "root", "layers"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		return n
	}

	out := docker(t, env, "run", "--rm", "--network", "none", "e2e/busybox:1", "sh", "-c",
		"stat -c '%n %a %s %u' /.dockerenv; readlink /etc/mtab; test -d /proc/1 && echo proc")
	if want := "/.dockerenv 755 0 0\n/proc/mounts\nproc"; out != want {
		t.Errorf("inside the container:\n%s\nwant\n%s", out, want)
	}
	if n := layers(); n != 2 {
		t.Errorf("layers after run --rm: %d, want 2 (the image's, and the init layer kept for the next container)", n)
	}

	docker(t, env, "create", "--name", "il1", "--network", "none", "e2e/busybox:1", "sh", "-c", ":")
	docker(t, env, "create", "--name", "il2", "--network", "none", "e2e/busybox:1", "sh", "-c", ":")
	if n := layers(); n != 4 {
		t.Errorf("layers with two containers: %d, want 4 (the image's, one init layer, two scratch layers)", n)
	}
	docker(t, env, "start", "-a", "il1")
	if out := docker(t, env, "diff", "il1"); out != "" {
		t.Errorf("docker diff of a container that changed nothing: %q", out)
	}

	cmd := exec.Command("docker", "export", "il1")
	cmd.Env = env
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(pipe)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".dockerenv", "dev/console", "etc/hostname", "etc/hosts", "etc/resolv.conf"} {
		h := got[name]
		if h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o777 != 0o755 || h.Size != 0 {
			t.Errorf("export: %s = %+v, want an empty 0755 file", name, h)
		}
	}
	for _, name := range []string{"dev/", "dev/pts/", "dev/shm/", "proc/", "sys/"} {
		if h := got[name]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("export: %s = %+v, want a folder", name, h)
		}
	}
	if h := got["etc/mtab"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/proc/mounts" {
		t.Errorf("export: etc/mtab = %+v, want a link to /proc/mounts", h)
	}
	if got["bin/busybox"] == nil {
		t.Errorf("export lacks the image's files")
	}

	docker(t, env, "rm", "il1")
	if n := layers(); n != 3 {
		t.Errorf("layers after the first rm: %d, want 3 (the init layer stays for il2)", n)
	}
	docker(t, env, "rm", "il2")
	if n := layers(); n != 2 {
		t.Errorf("layers after the last rm: %d, want 2 (the image's, and its init layer)", n)
	}
	docker(t, env, "rmi", "e2e/busybox:1")
	if n := layers(); n != 0 {
		t.Errorf("layers after rmi: %d, want none (the init layer goes with the image's layer)", n)
	}
}
