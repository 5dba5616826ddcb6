package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// TestDiskFullSuite is the rest of the disk-full suite (TestDiskFull has
// load and commit), on a small tmpfs and on a small ext4 loop file system.
// With the daemon's data root filled to the last byte, pull, import, load,
// commit, create, start, cp into a container, a volume write from inside one, tag
// and volume create each fail with "no space left on device", as dockerd's
// do, and leave nothing behind (no layer, blob, ingest or temporary file,
// container or volume folder, half record, mount); a container writing all
// the while loses lines, whole, and the daemon says how many; the daemon
// keeps serving, and once there is room each works again without a
// restart. An image force-removed while a stopped container uses it gives
// its space back when the container goes. hull.db checks clean after, and
// a restarted daemon has what was made.
func TestDiskFullSuite(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	reg := distributionRegistry(t)
	t.Run("tmpfs", func(t *testing.T) { diskFullSuite(t, reg, smallTmpfs(t)) })
	t.Run("ext4", func(t *testing.T) { diskFullSuite(t, reg, smallExt4(t)) })
}

// smallTmpfs mounts an 8 MB tmpfs for the test and returns its folder.
func smallTmpfs(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("/var/tmp", "hfull2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "hfull2", root).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs: %v %s", err, out)
	}
	// Registered before the daemon's cleanup, so run after it.
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	return root
}

// smallExt4 mounts a 12 MB ext4 file system on a loop device (no journal,
// no blocks reserved for root, which the daemon would use) for the test
// and returns its folder; it skips where there are no loop devices.
func smallExt4(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 is not installed (e2fsprogs)")
	}
	root, err := os.MkdirTemp("/var/tmp", "hfull2")
	if err != nil {
		t.Fatal(err)
	}
	img := root + ".img"
	t.Cleanup(func() { os.RemoveAll(root); os.Remove(img) })
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 12<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-b", "4096", "-N", "4096", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, root).CombinedOutput(); err != nil {
		t.Skipf("mount a loop file system: %v %s", err, out)
	}
	// Registered before the daemon's cleanup, so run after it; the loop
	// device goes with the mount (autoclear).
	t.Cleanup(func() { unix.Unmount(root, 0) })
	return root
}

// diskFullSuite runs the suite on a daemon whose data root is root, a
// small file system of its own; reg is a registry on loopback.
func diskFullSuite(t *testing.T, reg, root string) {
	env, dir := hullDaemon(t, "--data-root", root)
	loadBusybox(t, env, dir)

	// An image of 1.5 MB that does not compress, in the registry.
	blob := make([]byte, 1500<<10)
	rand.Read(blob)
	big := reg + "/e2e/big-" + filepath.Base(t.Name()) + ":1"
	if _, e, code := dockerRun(t, env, string(tarOf(t, map[string]string{"blob": string(blob)})), "import", "-", big); code != 0 {
		t.Fatalf("import: %s", e)
	}
	docker(t, env, "push", big)
	docker(t, env, "rmi", big)

	docker(t, env, "volume", "create", "v1")
	docker(t, env, "run", "-d", "--name", "c1", "--network", "none", "-v", "v1:/v", "e2e/busybox:1", "sleep", "300")
	// A container that writes lines until told to stop, then their number.
	lg := docker(t, env, "run", "-d", "--name", "lg", "--network", "none", "e2e/busybox:1", "sh", "-c",
		lineWriter)

	docker(t, env, "create", "--name", "s1", "--network", "none", "e2e/busybox:1", "echo", "started")
	imported := filepath.Join(dir, "imp.tar")
	os.WriteFile(imported, busyboxTar(t), 0o644)
	// An archive of an image the daemon does not have, for load.
	pre := filepath.Join(dir, "pre2")
	run(t, 0, tarOf(t, map[string]string{"blob": string(blob[:500<<10])}), hullBin, "--root", pre, "image", "import", "-", "e2e/loaded:1")
	saved := filepath.Join(dir, "loaded.tar")
	hull(t, "--root", pre, "image", "save", "-o", saved, "e2e/loaded:1")

	fill := func(leave int64) { t.Helper(); fillDisk(t, root, leave) }
	unfill := func() { t.Helper(); unfillDisk(t, root) }
	// What a failed operation must not leave: the entries of the store's
	// folders (ingest and tmp must stay empty).
	state := func() []string {
		t.Helper()
		var out []string
		for _, d := range []string{"layers", "content/blobs/sha256", "content/ingest", "tmp", "containers", "volumes"} {
			ents, _ := os.ReadDir(filepath.Join(root, d))
			for _, e := range ents {
				out = append(out, d+"/"+e.Name())
			}
		}
		return out
	}
	clean := func(what string, before []string) {
		t.Helper()
		if after := state(); !slices.Equal(before, after) {
			t.Errorf("%s left the store changed:\nbefore %v\nafter  %v", what, before, after)
		}
	}
	failsFull := func(what string, args ...string) {
		t.Helper()
		before := state()
		_, e, code := dockerRun(t, env, "", args...)
		if code == 0 || !strings.Contains(e, "no space left on device") {
			t.Errorf("%s on a full disk: exit %d, %q; want a failure with \"no space left on device\"", what, code, e)
		}
		clean(what, before)
	}
	fill(0)
	waitFor(t, func() bool { return logLostOf(t, dir, lg) > 0 }, "the log of the container that writes to lose lines",
		func() string { return diagList(t, dir) })

	failsFull("pull", "pull", big)
	failsFull("import", "import", imported, "e2e/imported:1")
	failsFull("load", "load", "-i", saved)
	failsFull("commit", "commit", "c1", "e2e/committed:1")
	failsFull("create", "create", "--network", "none", "e2e/busybox:1", "true")
	// The API answer: 500 with the cause, as dockerd 20.10's ("write
	// …/overlay2/<id>-init/link: no space left on device").
	before := state()
	code, b := apiCall(t, filepath.Join(dir, "hull.sock"), "POST", "/v1.41/containers/create",
		map[string]any{"Image": "e2e/busybox:1", "Cmd": []string{"true"}})
	var msg struct{ Message string }
	json.Unmarshal(b, &msg)
	if code != 500 || !strings.HasSuffix(msg.Message, ": no space left on device") {
		t.Errorf("POST /containers/create on a full disk: %d %s", code, b)
	}
	clean("create through the API", before)
	if out := docker(t, env, "ps", "-a", "--format", "{{.Names}}"); out != "s1\nlg\nc1" {
		t.Errorf("containers after the failed create: %q", out)
	}
	mounts := len(mountsUnder(t, root))
	failsFull("start", "start", "s1")
	if n := len(mountsUnder(t, root)); n != mounts {
		t.Errorf("the failed start left %d mounts under the data root, %d before", n, mounts)
	}
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("hello\n"), 0o644)
	failsFull("cp", "cp", small, "c1:/small")
	if _, _, code := dockerRun(t, env, "", "exec", "c1", "sh", "-c", "test -e /small"); code != 1 {
		t.Error("the failed cp left /small in the container")
	}
	// A write into a volume from inside fails there; the daemon goes on.
	if _, e, code := dockerRun(t, env, "", "exec", "c1", "sh", "-c", "busybox dd if=/dev/zero of=/v/x bs=64k count=4"); code == 0 || !strings.Contains(e, "No space left on device") {
		t.Errorf("a volume write on a full disk: exit %d, %q", code, e)
	}
	// The record store may have free pages left: tags and volumes are
	// made until it has none.
	tagged, failed := 0, false
	for i := 0; i < 300 && !failed; i++ {
		before := state()
		ref := fmt.Sprintf("e2e/tag:%d", i)
		_, e, code := dockerRun(t, env, "", "tag", "e2e/busybox:1", ref)
		if code == 0 {
			tagged++
			continue
		}
		failed = true
		if !strings.Contains(e, "no space left on device") {
			t.Errorf("tag on a full disk: %q", e)
		}
		clean("tag", before)
		if _, _, code := dockerRun(t, env, "", "image", "inspect", ref); code == 0 {
			t.Errorf("the failed tag made %s", ref)
		}
	}
	if !failed {
		t.Error("300 tags on a full disk all worked")
	}
	vols, failed := 0, false
	for i := 0; i < 300 && !failed; i++ {
		before := state()
		name := fmt.Sprintf("vol%d", i)
		_, e, code := dockerRun(t, env, "", "volume", "create", name)
		if code == 0 {
			vols++
			continue
		}
		failed = true
		// dockerd: create NAME: write …/metadata.db: no space left on device
		if !strings.Contains(e, "create "+name+": ") || !strings.Contains(e, "no space left on device") {
			t.Errorf("volume create on a full disk: %q", e)
		}
		clean("volume create", before)
		if _, _, code := dockerRun(t, env, "", "volume", "inspect", name); code == 0 {
			t.Errorf("the failed volume create made %s", name)
		}
	}
	if !failed {
		t.Error("300 volume creates on a full disk all worked")
	}
	t.Logf("on the full disk: %d tags and %d volumes fitted in the record store's free pages", tagged, vols)
	// Short of room rather than out of it: the pull fails part way.
	unfill()
	fill(1 << 20)
	failsFull("pull with 1 MB free", "pull", big)
	if _, _, code := dockerRun(t, env, "", "image", "inspect", big); code == 0 {
		t.Error("a failed pull made the image")
	}

	// Room again: everything works, no restart.
	unfill()
	docker(t, env, "pull", big)
	if out := docker(t, env, "run", "--rm", "--network", "none", "e2e/busybox:1", "echo", "after"); out != "after" {
		t.Errorf("run after the disk was full: %q", out)
	}
	docker(t, env, "cp", small, "c1:/small")
	if out := docker(t, env, "exec", "c1", "cat", "/small"); out != "hello" {
		t.Errorf("cp after the disk was full: %q", out)
	}
	docker(t, env, "exec", "c1", "sh", "-c", "echo kept > /v/x")
	docker(t, env, "tag", "e2e/busybox:1", "e2e/tag:after")
	docker(t, env, "volume", "create", "vol-after")
	if out := docker(t, env, "start", "-a", "s1"); out != "started" {
		t.Errorf("start after the disk was full: %q", out)
	}
	docker(t, env, "import", imported, "e2e/imported:1")
	docker(t, env, "load", "-i", saved)
	docker(t, env, "commit", "c1", "e2e/committed:1")

	// The log lost lines whole; the daemon names how many when the
	// container stops.
	stopLineWriter(t, env, "lg")
	docker(t, env, "wait", "lg")
	checkLostLines(t, env, dir, root, lg)

	// An image force-removed while a container uses it: untagged and
	// gone at once as dockerd answers; its layer goes with the container.
	layersBefore, _ := os.ReadDir(filepath.Join(root, "layers"))
	bigID := docker(t, env, "image", "inspect", "-f", "{{.Id}}", big)
	docker(t, env, "create", "--name", "cb", "--network", "none", big, "/blob")
	docker(t, env, "rmi", "-f", big)
	if out := docker(t, env, "images", "-aq", "--no-trunc"); strings.Contains(out, bigID) {
		t.Errorf("images after rmi -f: %q", out)
	}
	used := func() int64 {
		var st unix.Statfs_t
		unix.Statfs(root, &st)
		return int64(st.Blocks-st.Bfree) * st.Bsize
	}
	held := used()
	docker(t, env, "rm", "cb")
	if freed := held - used(); freed < 1<<20 {
		t.Errorf("removing the last container of a force-removed image freed %d bytes, want its 1.5 MB layer", freed)
	}
	if now, _ := os.ReadDir(filepath.Join(root, "layers")); len(now) != len(layersBefore)-1 {
		t.Errorf("layers: %d with the image, %d after it and its container went, want one fewer", len(layersBefore), len(now))
	}

	// Used by a running container, a force-removed image stays, untagged
	// and visible, and prune takes it once the container has gone, as
	// dockerd does.
	docker(t, env, "run", "-d", "--name", "r1", "--network", "none", "e2e/imported:1", "sleep", "300")
	impID := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "e2e/imported:1")
	docker(t, env, "rmi", "-f", "e2e/imported:1")
	if out := docker(t, env, "images", "-q", "--no-trunc", "-f", "dangling=true"); out != impID {
		t.Errorf("dangling images after rmi -f of a running container's image: %q, want %s", out, impID)
	}
	docker(t, env, "rm", "-f", "r1")
	if out := docker(t, env, "image", "prune", "-f"); !strings.Contains(out, impID) {
		t.Errorf("prune after the container went: %q", out)
	}

	// hull.db checks clean; a restarted daemon has what was made.
	removeAllContainers(t, filepath.Join(dir, "hull.sock"))
	stopDaemonIn(t, dir)
	db, err := bolt.Open(filepath.Join(root, "hull.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("hull.db: %v", err)
		}
		return nil
	})
	db.Close()
	restartDaemonOn(t, dir, root)
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")
	if out := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "e2e/tag:after"); !strings.HasPrefix(out, "sha256:") {
		t.Errorf("the tag made after the disk was full, after a restart: %q", out)
	}
	if out := volumeNames(t, env); !strings.Contains(out, "vol-after") || !strings.Contains(out, "v1") {
		t.Errorf("volumes after the restart: %q", out)
	}
	if out := docker(t, env, "ps", "-aq"); out != "" {
		t.Errorf("containers after the restart: %q", out)
	}
}

// stopDaemonIn stops the hull daemon that serves dir's socket with SIGINT
// and waits for it to go.
func stopDaemonIn(t *testing.T, dir string) {
	t.Helper()
	out, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-INT", pid).Run()
	}
	waitFor(t, func() bool { o, _ := exec.Command("pgrep", "-f", "daemon -H unix://"+dir).Output(); return len(o) == 0 }, "the daemon to stop")
}

// restartDaemonOn starts a hull daemon again on dir's socket and on data
// root root, logging to dir's daemon.log; it stops when the test ends.
func restartDaemonOn(t *testing.T, dir, root string) {
	t.Helper()
	cmd := exec.Command(hullBin, "daemon", "-H", "unix://"+filepath.Join(dir, "hull.sock"), "--data-root", root,
		"--exec-root", filepath.Join(dir, "run"), "--config-file", filepath.Join(dir, "daemon.json"))
	logf, _ := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_APPEND|os.O_WRONLY, 0)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		removeAllContainers(t, filepath.Join(dir, "hull.sock"))
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
}

// stopLineWriter tells a lineWriter container to stop. The exec that
// makes the file may lose the race with the container's own exit, which
// kills what is left in its pid namespace: 137, as with dockerd.
func stopLineWriter(t *testing.T, env []string, name string) {
	t.Helper()
	if _, e, code := dockerRun(t, env, "", "exec", name, "sh", "-c", ": > /tmp/stop"); code != 0 && code != 137 {
		t.Fatalf("docker exec %s (stop the writer): exit %d: %s", name, code, e)
	}
}

// lineWriter is a container's command that writes numbered lines until
// /tmp/stop exists, then their number.
const lineWriter = `i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); echo line $i; sleep 0.002; done; echo total $i`

// fillDisk fills the file system of root until leave bytes are free (or
// none: then to the last byte).
func fillDisk(t *testing.T, root string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(root, "fill"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4<<10)
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(root, &st); err != nil {
			t.Fatal(err)
		}
		if int64(st.Bavail)*st.Bsize <= leave {
			return
		}
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// unfillDisk gives back what fillDisk took.
func unfillDisk(t *testing.T, root string) {
	t.Helper()
	if err := os.Remove(filepath.Join(root, "fill")); err != nil {
		t.Fatal(err)
	}
}

// diagList is hull diag list of the daemon of dir's runtime.
func diagList(t *testing.T, dir string) string {
	return run(t, 0, nil, hullBin, "diag", "--runtime-root", filepath.Join(dir, "run", "runtime"), "list")
}

// logLostOf is the LOG LOST column of hull diag list for container id, -1
// when it is not listed.
func logLostOf(t *testing.T, dir, id string) int {
	for _, l := range strings.Split(diagList(t, dir), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[0] == id {
			n, _ := strconv.Atoi(f[5]) // ID STATUS PID SHIM-PID EXIT LOST
			return n
		}
	}
	return -1
}

// checkLostLines checks what container id, a lineWriter that has stopped,
// left: its log holds whole lines only, and the lines missing are the
// number the daemon's warning gives.
func checkLostLines(t *testing.T, env []string, dir, root, id string) {
	t.Helper()
	out, _, _ := dockerRun(t, env, "", "logs", id)
	total, seen := -1, 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "total "):
			total, _ = strconv.Atoi(strings.TrimPrefix(l, "total "))
		case regexp.MustCompile(`^line [0-9]+$`).MatchString(l):
			seen++
		default:
			t.Errorf("a log line not written whole: %q", l)
		}
	}
	var lost int
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		m := regexp.MustCompile(`container log lines lost.* container=` + id + ` lines=([0-9]+)`).FindSubmatch(b)
		if m != nil {
			lost, _ = strconv.Atoi(string(m[1]))
		}
		return m != nil
	}, "the daemon's warning of the lines lost")
	if total <= 0 || lost == 0 || seen+lost != total {
		t.Errorf("the log has %d of %d lines, the daemon says %d were lost", seen, total, lost)
	}
	t.Logf("log: %d lines written, %d lost while the disk was full", seen, lost)
	b, err := os.ReadFile(filepath.Join(root, "containers", id, id+"-json.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var e struct{ Log, Stream, Time string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Stream == "" {
			t.Errorf("json-file line %q: %v", l, err)
		}
	}
}

// TestDiskFullLogWhileAway: the lines a container loses to a full disk
// while the daemon is down are counted too — the daemon that comes back
// finds the container exited and says how many.
func TestDiskFullLogWhileAway(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	root := smallTmpfs(t)
	env, dir := hullDaemon(t, "--data-root", root)
	loadBusybox(t, env, dir)
	lg := docker(t, env, "run", "-d", "--name", "lg", "--network", "none", "e2e/busybox:1", "sh", "-c", lineWriter)
	stopDaemonIn(t, dir) // live restore: the container goes on
	fillDisk(t, root, 0)
	waitFor(t, func() bool { return logLostOf(t, dir, lg) > 0 }, "the log to lose lines", func() string { return diagList(t, dir) })
	unfillDisk(t, root)
	// Stopped from the host, through its root file system's mount.
	if err := os.WriteFile(filepath.Join(root, "layers", lg, "merged", "tmp", "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return regexp.MustCompile(`(?m)^` + lg + ` +stopped `).MatchString(diagList(t, dir)) }, "the container to stop",
		func() string { return diagList(t, dir) })
	restartDaemonOn(t, dir, root)
	waitFor(t, func() bool { _, _, code := dockerRun(t, env, "", "version"); return code == 0 }, "the daemon")
	checkLostLines(t, env, dir, root, lg)
}
