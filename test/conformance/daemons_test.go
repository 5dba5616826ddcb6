package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// The bridge the harness makes for dockerd's default network: dockerd runs
// with --bridge=confBridge so that runs on the default network work on both
// daemons (hull makes a bridge of its own). Its name and subnet, and the
// host ports the cases publish ({port0}…{port3}), are the run's own (from
// the test binary's pid), so that runs of the harness side by side (in
// other checkouts) leave each other alone.
var (
	confBridge     = fmt.Sprintf("hconf%d", os.Getpid()%100000)
	confBridgeAddr = fmt.Sprintf("10.203.%d.1/24", os.Getpid()%250+1)
	confPortBase   = 27180 + 4*(os.Getpid()%1000)
)

// daemon is one of the two daemons under test.
type daemon struct {
	name               string // "dockerd" or "hull"
	sock               string
	base               string // everything of this daemon lives under base
	dataRoot, execRoot string
	logPath            string
	cmd                *exec.Cmd
	exited             chan error
	stopSig            os.Signal
	// fixed holds values that differ between the daemons by construction
	// (the default bridge's name and subnet): they are normalised to the
	// placeholder named by the key.
	fixed map[string]string

	clients map[string]*client.Client // by API version
	http    *http.Client
}

// moduleRoot is the folder of hull's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// buildHull builds hull, hull-shim, hull-monitor and hull-buildkit into
// dir, as hack/lib.sh's build_hull does: hull finds hull-shim and
// hull-buildkit (its builder, for POST /build) beside itself, and
// hull-shim finds hull-monitor beside itself.
func buildHull(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	builds := []struct {
		out, pkg string
		env      []string
		args     []string
	}{
		{"hull", "./cmd/hull", nil, nil},
		{"hull-shim", "./cmd/hull-shim", nil, []string{"-tags", "seccomp,netgo,osusergo", "-ldflags=-extldflags=-static"}},
		{"hull-monitor", "./cmd/hull-monitor", []string{"CGO_ENABLED=0"}, nil},
		{"hull-init", "./cmd/hull-init", []string{"CGO_ENABLED=0"}, []string{"-ldflags=-s -w"}},
		{"hull-buildkit", "./cmd/hull-buildkit", nil, nil},
	}
	for _, b := range builds {
		args := append(append([]string{"build"}, b.args...), "-o", filepath.Join(dir, b.out), b.pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return filepath.Join(dir, "hull"), nil
}

func newDaemon(name, base string) *daemon {
	d := &daemon{name: name, base: base, sock: filepath.Join(base, "api.sock"),
		dataRoot: filepath.Join(base, "data"), execRoot: filepath.Join(base, "exec"),
		logPath: filepath.Join(base, "daemon.log"), fixed: map[string]string{}, clients: map[string]*client.Client{}}
	d.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.sock)
	}}, Timeout: 2 * time.Minute}
	return d
}

// pluginDirs are the folders where dockerd and hull look for legacy
// plugins. They are host-wide, and other tests put plugins there; each
// daemon of the harness runs in a mount namespace of its own where these
// folders are empty (a tmpfs over each), so that it answers as a daemon
// with no plugins.
var pluginDirs = []string{"/run/docker/plugins", "/run/hull/plugins", "/etc/docker/plugins", "/usr/lib/docker/plugins", "/etc/hull/plugins"}

// makeDockerPluginDir makes /run/docker/plugins when the host has none
// (the volume plugin case puts its socket there, in the daemons' tmpfs) and
// removes what it made when the run ends, so that the machine is left as
// it was. The other folders are mounted over only where they exist: a
// folder made for the run would be a change others see (a hull test skips
// when /run/hull exists).
func makeDockerPluginDir(t *testing.T) {
	var made []string
	for d := "/run/docker/plugins"; d != "/run"; d = filepath.Dir(d) {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			made = append(made, d)
		}
	}
	if err := os.MkdirAll("/run/docker/plugins", 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range made { // deepest first; only if empty
			os.Remove(d)
		}
	})
}

// isolated wraps a daemon's command line: unshare(1) gives it a private
// mount namespace, and a shell mounts an empty tmpfs over each plugin
// folder there before it execs the daemon (same process, so signals and
// the exit reach the daemon itself).
func isolated(args []string) []string {
	script := `for d in "$@"; do
  case "$d" in --) shift; break;; esac
  shift
  case "$d" in /run/docker/plugins) mkdir -p "$d";; esac
  [ -d "$d" ] && mount -t tmpfs -o size=1m,mode=0755 conf-plugins "$d"
done
exec "$@"`
	out := []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"}
	out = append(out, pluginDirs...)
	out = append(out, "--")
	return append(out, args...)
}

func (d *daemon) start(args []string, stop os.Signal) error {
	if err := os.MkdirAll(d.base, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(d.logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	args = isolated(args)
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	dieWithTest(d.cmd)
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			d.cmd = nil
			return fmt.Errorf("%s exited at start: %v\n%s", d.name, err, d.logTail())
		default:
		}
		if resp, err := d.http.Get("http://d/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d.exited = exited
				d.stopSig = stop
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer /_ping within a minute\n%s", d.name, d.logTail())
}

func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop removes the daemon's containers (hull keeps them running past its
// exit: live-restore), stops the daemon and waits for it.
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	d.removeAll(ctx, nil)
	cancel()
	d.cmd.Process.Signal(d.stopSig)
	select {
	case <-d.exited:
	case <-time.After(45 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
}

// client is the Go SDK's client for this daemon at version.
func (d *daemon) client(version string) (*client.Client, error) {
	if c, ok := d.clients[version]; ok {
		return c, nil
	}
	c, err := client.New(client.WithHost("unix://"+d.sock), client.WithAPIVersion(version))
	if err != nil {
		return nil, err
	}
	d.clients[version] = c
	return c, nil
}

// api is one plain request for the harness's own needs (seeding,
// cleaning), not a compared step.
func (d *daemon) api(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://d/v1.41"+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", d.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s %s: %d %s", d.name, method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// seedSet is what a daemon holds after seeding: what cleaning keeps.
type seedSet struct {
	ids  map[string]bool   // image ids
	tags map[string]string // tag → the id it names
}

// load posts the seed archive to the daemon and checks that the seed
// images are there.
func (d *daemon) load(ctx context.Context, archive []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://d/v1.41/images/load?quiet=1", bytes.NewReader(archive))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: load the seed images: %w", d.name, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("%s: load the seed images: %d %s", d.name, resp.StatusCode, b)
	}
	return nil
}

type imageSummary struct {
	Id       string
	RepoTags []string
}

func (d *daemon) images(ctx context.Context) ([]imageSummary, error) {
	var list []imageSummary
	err := d.api(ctx, "GET", "/images/json?all=1", nil, "", &list)
	return list, err
}

// removeStrayContainers removes every container (force, with anonymous
// volumes) and says how many there were.
func (d *daemon) removeStrayContainers(ctx context.Context) int {
	var containers []struct{ Id string }
	if err := d.api(ctx, "GET", "/containers/json?all=1", nil, "", &containers); err != nil {
		return 0
	}
	for _, c := range containers {
		d.api(ctx, "DELETE", "/containers/"+c.Id+"?force=1&v=1", nil, "", nil)
	}
	return len(containers)
}

// removeAll brings the daemon back to its seeded state: it removes every
// container (with its anonymous volumes), every network but the predefined
// ones, every volume, and every image and tag that is not a seed one; a
// seed image or tag a case removed is loaded again. With seed nil it only
// removes containers and networks (before stopping).
func (d *daemon) removeAll(ctx context.Context, seed *seedSet) []error {
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var containers []struct{ Id, State string }
	note(d.api(ctx, "GET", "/containers/json?all=1", nil, "", &containers))
	for _, c := range containers {
		if c.State == "paused" {
			// Unpaused first, as a person would: the cases time a forced
			// removal of a paused container themselves.
			note(d.api(ctx, "POST", "/containers/"+c.Id+"/unpause", nil, "", nil))
		}
		note(d.api(ctx, "DELETE", "/containers/"+c.Id+"?force=1&v=1", nil, "", nil))
	}
	var networks []struct{ Id, Name string }
	note(d.api(ctx, "GET", "/networks", nil, "", &networks))
	for _, n := range networks {
		if n.Name != "bridge" && n.Name != "host" && n.Name != "none" {
			note(d.api(ctx, "DELETE", "/networks/"+n.Id, nil, "", nil))
		}
	}
	if seed == nil {
		return errs
	}
	var volumes struct{ Volumes []struct{ Name string } }
	note(d.api(ctx, "GET", "/volumes", nil, "", &volumes))
	for _, v := range volumes.Volumes {
		note(d.api(ctx, "DELETE", "/volumes/"+url.PathEscape(v.Name)+"?force=1", nil, "", nil))
	}
	list, err := d.images(ctx)
	note(err)
	have := map[string]bool{}
	for _, im := range list {
		if !seed.ids[im.Id] {
			note(d.api(ctx, "DELETE", "/images/"+im.Id+"?force=1", nil, "", nil))
			continue
		}
		for _, tag := range im.RepoTags {
			if seed.tags[tag] != im.Id {
				// A new tag, or a seed tag a case moved to another image.
				note(d.api(ctx, "DELETE", "/images/"+tag, nil, "", nil))
				continue
			}
			have[tag] = true
		}
	}
	for tag := range seed.tags {
		if !have[tag] {
			return append(errs, errSeedGone)
		}
	}
	return errs
}

var errSeedGone = fmt.Errorf("a seed image is gone")

// startDockerd starts a private dockerd under base with the harness's
// bridge (which the caller made).
func startDockerd(base string) (*daemon, error) {
	d := newDaemon("dockerd", base)
	args := []string{"dockerd", "--data-root", d.dataRoot, "--exec-root", d.execRoot, "-H", "unix://" + d.sock,
		"--pidfile", filepath.Join(base, "dockerd.pid"), "--bridge=" + confBridge, "--iptables=false", "--ip-masq=false",
		"--storage-driver", "overlay2"}
	d.fixed["bridge"] = confBridge
	return d, d.start(args, os.Interrupt)
}

// startHull starts a private hull daemon under base.
func startHull(bin, base string) (*daemon, error) {
	d := newDaemon("hull", base)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(base, "daemon.json")
	if err := os.WriteFile(conf, []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	args := []string{bin, "daemon", "-H", "unix://" + d.sock, "--data-root", d.dataRoot, "--exec-root", d.execRoot,
		"--config-file", conf}
	d.fixed["bridge"] = hullBridgeName(d.execRoot)
	return d, d.start(args, os.Interrupt)
}

// defaultBridgeAddrs records the default network's subnet and gateway as
// fixed values: they differ by construction (each daemon has its bridge).
func (d *daemon) defaultBridgeAddrs(ctx context.Context) error {
	var n struct {
		IPAM struct {
			Config []struct{ Subnet, Gateway string }
		}
	}
	if err := d.api(ctx, "GET", "/networks/bridge", nil, "", &n); err != nil {
		return err
	}
	for _, c := range n.IPAM.Config {
		if c.Subnet != "" {
			d.fixed["bridge-subnet"] = c.Subnet
		}
		if c.Gateway != "" {
			d.fixed["bridge-gateway"] = c.Gateway
		}
	}
	return nil
}

// mountsUnder lists the mount points under dir, deepest first. The
// daemons' own mounts live in their mount namespaces and go with them;
// this finds what a container's namespace might have propagated back.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// removeTree unmounts what is left under dir and removes it.
func removeTree(t *testing.T, dir string) {
	for _, m := range mountsUnder(dir) {
		if out, err := exec.Command("umount", "-l", m).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", m, err, out)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Logf("remove %s: %v", dir, err)
	}
}
