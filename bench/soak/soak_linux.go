// Package soak runs hundreds of containers through run, exec, logs, stats
// and rm against a private hull daemon at N-way concurrency, restarts the
// daemon in between (live-restore on, containers running, paused, exiting
// and created across each restart; by SIGINT or by SIGKILL), and then
// counts what the daemon left: mounts, cgroups, network namespaces, links,
// nftables rules, processes and files, before and after, and the daemon's
// RSS idle, at its peak and after a settle period. bench/soak.sh and the
// test TestSoak drive it.
package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Config says what to soak.
type Config struct {
	// Hull is the hull binary; hull-shim and hull-monitor are beside it.
	Hull string
	// Dir is an empty folder of the soak's own: the daemon's roots, socket
	// and log go there.
	Dir string
	// Image is a tar of a busybox root file system (sh, echo, sleep, cat).
	Image []byte
	// Count containers go through the workload, Concurrency at a time.
	Count, Concurrency int
	// Restarts are the daemon restarts between equal parts of the
	// workload, in order: "stop" (SIGINT, a clean stop) or "kill" (SIGKILL).
	Restarts []string
	// Settle is how long the daemon is left idle before its RSS is read.
	Settle time.Duration
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// Report is what a soak found.
type Report struct {
	Before, After Counts
	// IdleRSS before the workload; PeakRSS the highest seen (every 200 ms,
	// over every daemon of the run); StreamsRSS after Settle with a stats
	// and an events stream still open; SettledRSS after Settle once they
	// are closed. Bytes.
	IdleRSS, PeakRSS, StreamsRSS, SettledRSS int64
	// Ops counts each operation that succeeded.
	Ops map[string]int
	// Errors are the operations that failed, and containers the daemon
	// still listed at the end.
	Errors []string
	// Cut are the operations a kill -9 of the daemon cut short (restart
	// kill-busy): not failures.
	Cut     []string
	Elapsed time.Duration
	// Dir is the soak's folder (Config.Dir, absolute).
	Dir string
}

const (
	imageRef = "soak/busybox:1"
	netName  = "soak-net"
	anchor   = "soak-anchor"
	// loop runs until SIGTERM, which it answers with exit 0.
	loop = "trap 'exit 0' TERM; echo start-$N; sleep 600 & wait"
)

type soak struct {
	cfg    Config
	sock   string
	sc     scope
	cli    *client.Client
	cmd    *exec.Cmd
	exited chan struct{}
	pid    atomic.Int64
	peak   atomic.Int64

	closeStreams func()
	// crashes counts the kill -9s in the middle of the workload.
	crashes atomic.Int64

	mu    sync.Mutex
	cut   []string
	ops   map[string]int
	errs  []string
	nerrs int
}

// Run runs the soak. It removes what it made from the daemon before it
// returns and stops the daemon; the caller removes cfg.Dir.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 10 * time.Second
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &soak{cfg: cfg, sock: filepath.Join(dir, "hull.sock"), ops: map[string]int{},
		sc: scope{dir: dir, root: filepath.Join(dir, "root"), run: filepath.Join(dir, "run"), ids: map[string]bool{}}}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o644); err != nil {
		return nil, err
	}
	if s.cli, err = client.New(client.WithHost("unix://"+s.sock), client.WithAPIVersionNegotiation()); err != nil {
		return nil, err
	}
	defer s.cli.Close()
	began := time.Now()
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	defer s.teardown()
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go s.sample(sampling)

	rep := &Report{Dir: dir}
	imp, err := s.cli.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(cfg.Image), SourceName: "-"}, imageRef,
		client.ImageImportOptions{Changes: []string{`CMD ["/bin/sh"]`}})
	if err != nil {
		return nil, fmt.Errorf("import the image: %w", err)
	}
	io.Copy(io.Discard, imp)
	imp.Close()
	if id, err := os.ReadFile(filepath.Join(s.sc.root, "engine-id")); err == nil {
		s.sc.engineID = strings.TrimSpace(string(id))
	}
	// A container made and removed first: the init layer the daemon keeps
	// over the image's layers for the next container is there before the
	// soak as after it.
	warm, err := s.create(ctx, "soak-warm", 0, "none", false, "true")
	if err != nil {
		return nil, fmt.Errorf("the first container: %w", err)
	}
	if _, err := s.cli.ContainerRemove(ctx, warm, client.ContainerRemoveOptions{Force: true}); err != nil {
		return nil, fmt.Errorf("remove the first container: %w", err)
	}
	s.settle(ctx)
	rep.IdleRSS = rss(int(s.pid.Load()))
	s.peak.Store(rep.IdleRSS)
	rep.Before = s.take()
	cfg.Logf("idle: RSS %s; %d layers, %d files under the roots", mib(rep.IdleRSS), rep.Before.get("layer dirs").N, rep.Before.get("files under the roots").N)

	if _, err := s.cli.NetworkCreate(ctx, netName, client.NetworkCreateOptions{Driver: "bridge"}); err != nil {
		return nil, fmt.Errorf("create network %s: %w", netName, err)
	}
	if _, err := s.run(ctx, anchor, 0, "bridge", false, false); err != nil {
		return nil, fmt.Errorf("the anchor container: %w", err)
	}
	s.closeStreams = s.streams(ctx)

	parts := len(cfg.Restarts) + 1
	next := 1
	for p := 0; p < parts && ctx.Err() == nil; p++ {
		busy := false
		if p > 0 {
			switch how := cfg.Restarts[p-1]; how {
			case "kill-busy":
				busy = true
			case "stop", "kill":
				carried := s.carry(ctx, p-1)
				s.closeStreams()
				cfg.Logf("restart %d: %s, with %d containers running, paused, exiting and created", p, how, len(carried))
				if err := s.stop(how == "kill"); err != nil {
					return nil, err
				}
				if err := s.start(ctx); err != nil {
					return nil, err
				}
				s.closeStreams = s.streams(ctx)
				s.checkCarried(ctx, carried)
			default:
				return nil, fmt.Errorf("restart %q: want stop, kill or kill-busy", how)
			}
		}
		n := cfg.Count / parts
		if p < cfg.Count%parts {
			n++
		}
		if err := s.workload(ctx, next, n, busy); err != nil {
			return nil, err
		}
		next += n
		cfg.Logf("part %d/%d: %d containers done (%d errors so far), peak RSS %s", p+1, parts, next-1, s.errCount(), mib(s.peak.Load()))
	}

	// Nothing but the anchor may be left, but for containers a kill -9
	// cut short: those must be removable.
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		s.fail("list containers: %v", err)
	}
	for _, c := range list.Items {
		if slices.Contains(c.Names, "/"+anchor) {
			continue
		}
		s.remember(c.ID) // a create cut short may have left one the soak never heard of
		if s.crashes.Load() == 0 {
			s.fail("container %s (%v, %s) is still listed after the workload", c.ID[:12], c.Names, c.State)
		}
		if _, err := s.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			s.fail("remove container %s (%v, %s) left by a kill -9: %v", c.ID[:12], c.Names, c.State, err)
		} else if s.crashes.Load() > 0 {
			cfg.Logf("removed %s (%v, %s), left by a kill -9", c.ID[:12], c.Names, c.State)
			s.did("rm after kill -9")
		}
	}
	s.settle(ctx)
	rep.StreamsRSS = rss(int(s.pid.Load()))
	s.closeStreams()
	if _, err := s.cli.ContainerRemove(ctx, anchor, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		s.fail("remove %s: %v", anchor, err)
	}
	if _, err := s.cli.NetworkRemove(ctx, netName, client.NetworkRemoveOptions{}); err != nil {
		s.fail("remove network %s: %v", netName, err)
	}
	if vols, err := s.cli.VolumeList(ctx, client.VolumeListOptions{}); err == nil {
		for _, v := range vols.Items {
			s.fail("volume %s is still listed after the workload", v.Name)
		}
	}
	// A ping is a request: the idle timer starts after it.
	s.cli.Ping(ctx, client.PingOptions{})
	s.settle(ctx)
	rep.SettledRSS = rss(int(s.pid.Load()))
	rep.After = s.take()
	rep.PeakRSS = s.peak.Load()
	rep.Elapsed = time.Since(began)
	s.mu.Lock()
	rep.Ops, rep.Errors, rep.Cut = s.ops, s.errs, s.cut
	if s.nerrs > len(s.errs) {
		rep.Errors = append(rep.Errors, fmt.Sprintf("... and %d more", s.nerrs-len(s.errs)))
	}
	s.mu.Unlock()
	return rep, ctx.Err()
}

// take counts what the daemon holds, once the client's idle connections
// to it are closed (they would count as its fds).
func (s *soak) take() Counts {
	s.cli.Close()
	time.Sleep(300 * time.Millisecond)
	cs := s.sc.count()
	// The daemon's own count (docker info), the request that asks counted.
	g := Count{Kind: "daemon goroutines"}
	if info, err := s.cli.Info(context.Background(), client.InfoOptions{}); err == nil {
		g.N = info.Info.NGoroutines
	} else {
		s.fail("info: %v", err)
	}
	s.cli.Close()
	return append(cs, g)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (s *soak) settle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(s.cfg.Settle):
	}
}

func (s *soak) did(op string) {
	s.mu.Lock()
	s.ops[op]++
	s.mu.Unlock()
}

func (s *soak) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nerrs++
	if len(s.errs) < 40 {
		s.errs = append(s.errs, msg)
	}
	s.cfg.Logf("error: %s", msg)
}

func (s *soak) errCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nerrs
}

func (s *soak) remember(id string) {
	s.mu.Lock()
	s.sc.ids[id] = true
	s.mu.Unlock()
}

// start starts a daemon on the soak's roots with live-restore and waits
// until it answers.
func (s *soak) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(s.sc.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.cfg.Hull, "daemon", "-H", "unix://"+s.sock, "--data-root", s.sc.root, "--exec-root", s.sc.run,
		"--config-file", filepath.Join(s.sc.dir, "daemon.json"), "--live-restore")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C of the bench reaches the bench,
	// which stops the daemon after removing what it made.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.pid.Store(int64(cmd.Process.Pid))
	s.sc.daemon = cmd.Process.Pid
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := s.cli.Ping(pctx, client.PingOptions{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the daemon exited at start (%v); see %s", cmd.ProcessState, filepath.Join(s.sc.dir, "daemon.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon did not answer in 30 s; see %s", filepath.Join(s.sc.dir, "daemon.log"))
		}
	}
}

// stop stops the daemon: SIGINT and a wait, or SIGKILL.
func (s *soak) stop(kill bool) error {
	if s.cmd == nil {
		return nil
	}
	sig := os.Interrupt
	if kill {
		sig = os.Kill
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
		return errors.New("the daemon did not stop within 30 s of SIGINT")
	}
	s.cmd = nil
	s.sc.daemon = 0
	return nil
}

// teardown removes whatever containers and networks are left and stops
// the daemon; then its bridge and nftables table.
func (s *soak) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if s.cmd != nil {
		if list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true}); err == nil {
			for _, c := range list.Items {
				s.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
		s.cli.NetworkRemove(ctx, netName, client.NetworkRemoveOptions{})
		s.cli.VolumePrune(ctx, client.VolumePruneOptions{All: true})
	}
	s.stop(false)
	removeNetwork(s.sc.run)
}

// sample records the daemon's highest RSS.
func (s *soak) sample(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r := rss(int(s.pid.Load())); r > s.peak.Load() {
			s.peak.Store(r)
		}
	}
}

// streams opens what a monitoring client keeps open: a stats stream of the
// anchor and an events stream. They are read and dropped until the
// returned function closes them (or the daemon stops).
func (s *soak) streams(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if st, err := s.cli.ContainerStats(ctx, anchor, client.ContainerStatsOptions{Stream: true}); err != nil {
		s.fail("stats stream of %s: %v", anchor, err)
	} else {
		wg.Go(func() { io.Copy(io.Discard, st.Body); st.Body.Close() })
	}
	ev := s.cli.Events(ctx, client.EventsListOptions{})
	wg.Go(func() {
		for {
			select {
			case <-ev.Messages:
			case <-ev.Err:
				return
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// workload runs containers first..first+n-1 through the workload,
// Concurrency at a time. busy: halfway, the daemon is killed (SIGKILL)
// while Concurrency containers are in flight, and started again; what
// fails then is cut short, not a failure.
func (s *soak) workload(ctx context.Context, first, n int, busy bool) error {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	for range s.cfg.Concurrency {
		wg.Go(func() {
			for i := range jobs {
				octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				epoch := s.crashes.Load()
				inFlight.Add(1)
				err := s.one(octx, i)
				inFlight.Add(-1)
				if err != nil {
					if s.crashes.Load() != epoch {
						s.mu.Lock()
						s.cut = append(s.cut, fmt.Sprintf("container %d: %v", i, err))
						s.mu.Unlock()
					} else {
						s.fail("container %d: %v", i, err)
					}
				}
				cancel()
			}
		})
	}
	var err error
	for i := first; i < first+n && ctx.Err() == nil; i++ {
		if busy && i == first+n/2 {
			// Every worker is in the middle of a container by now; some
			// time more, so that the kill falls on varied steps.
			time.Sleep(time.Duration(200+rand.IntN(1000)) * time.Millisecond)
			s.crashes.Add(1)
			s.cfg.Logf("kill -9 of the daemon with %d containers in flight", inFlight.Load())
			s.closeStreams()
			if err = s.stop(true); err == nil {
				err = s.start(ctx)
			}
			if err != nil {
				break
			}
			s.closeStreams = s.streams(ctx)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return err
}

// create creates container soak-N: on the default bridge, the soak's
// network or none (by N), some with a published port, an anonymous volume
// or the host's pid namespace, running cmd with $N set.
func (s *soak) create(ctx context.Context, name string, n int, net string, autoRemove bool, cmd string) (string, error) {
	cfg := &container.Config{Image: imageRef, Cmd: []string{"sh", "-c", cmd}, Env: []string{fmt.Sprintf("N=%d", n)}}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(net), AutoRemove: autoRemove}
	if net != "none" && n%5 == 0 {
		p := network.MustParsePort("80/tcp")
		cfg.ExposedPorts = network.PortSet{p: {}}
		hc.PortBindings = network.PortMap{p: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
	}
	if n%4 == 1 {
		cfg.Volumes = map[string]struct{}{"/data": {}}
	}
	if n%7 == 6 {
		// The host's pid namespace: the orphans of its execs go to the
		// monitor, which must reap them (monitorZombies).
		hc.PidMode = "host"
	}
	c, err := s.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: hc})
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	s.remember(c.ID)
	s.did("create")
	return c.ID, nil
}

// run creates and starts a looping container and waits for its first
// line in the logs.
func (s *soak) run(ctx context.Context, name string, n int, net string, autoRemove, paused bool) (string, error) {
	id, err := s.create(ctx, name, n, net, autoRemove, loop)
	if err != nil {
		return "", err
	}
	if _, err := s.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return id, fmt.Errorf("start: %w", err)
	}
	s.did("start")
	return id, s.waitLog(ctx, id, fmt.Sprintf("start-%d\n", n))
}

func (s *soak) logs(ctx context.Context, id string) (string, string, error) {
	r, err := s.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", "", fmt.Errorf("logs: %w", err)
	}
	defer r.Close()
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, r); err != nil {
		return "", "", fmt.Errorf("logs: %w", err)
	}
	s.did("logs")
	return out.String(), errb.String(), nil
}

func (s *soak) waitLog(ctx context.Context, id, want string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, err := s.logs(ctx, id)
		if err != nil {
			return err
		}
		if strings.Contains(out, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("logs: no %q in 20 s: %q", want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exec runs a command in container id and checks its output and exit
// code; the command leaves an orphan (true &).
func (s *soak) exec(ctx context.Context, id string, n int) error {
	ex, err := s.cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"sh", "-c", "true & echo exec-$N; echo e >&2; exit 7"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("exec create: %w", err)
	}
	att, err := s.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec start: %w", err)
	}
	var out, errb bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &errb, att.Reader)
	att.Close()
	if err != nil {
		return fmt.Errorf("exec output: %w", err)
	}
	if want := fmt.Sprintf("exec-%d\n", n); out.String() != want || errb.String() != "e\n" {
		return fmt.Errorf("exec: output %q, %q; want %q, %q", out.String(), errb.String(), want, "e\n")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := s.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return fmt.Errorf("exec inspect: %w", err)
		}
		if !in.Running {
			if in.ExitCode != 7 {
				return fmt.Errorf("exec: exit code %d, want 7", in.ExitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			return errors.New("exec: still running 10 s after its output ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.did("exec")
	return nil
}

func (s *soak) stats(ctx context.Context, id string) error {
	st, err := s.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	b, err := io.ReadAll(st.Body)
	st.Body.Close()
	if err != nil || !bytes.Contains(b, []byte(`"pids_stats"`)) {
		return fmt.Errorf("stats: %v: %.200q", err, b)
	}
	s.did("stats")
	return nil
}

func (s *soak) remove(ctx context.Context, id string, force bool) error {
	if _, err := s.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: force, RemoveVolumes: true}); err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	s.did("rm")
	return nil
}

// wait waits for container id to reach condition and checks the exit code.
func (s *soak) wait(ctx context.Context, w client.ContainerWaitResult, want int64) error {
	select {
	case r := <-w.Result:
		if r.StatusCode != want {
			return fmt.Errorf("wait: exit code %d, want %d", r.StatusCode, want)
		}
	case err := <-w.Error:
		return fmt.Errorf("wait: %w", err)
	}
	s.did("wait")
	return nil
}

// one runs container n through the workload: create, start, logs, exec,
// stats, and one of five endings — stop and rm; rm -f while it runs; kill,
// wait and rm; stop of an auto-removed one; or a container that exits by
// itself (3), waited for and removed (every other one of those as `docker
// run --rm` in the foreground: attached, auto-removed).
func (s *soak) one(ctx context.Context, n int) error {
	name := fmt.Sprintf("soak-%d", n)
	net := []string{"bridge", netName, "none"}[n%3]
	ending := n % 5
	if ending == 4 && n%10 == 9 {
		return s.foreground(ctx, name, n, net)
	}
	if ending == 4 {
		id, err := s.create(ctx, name, n, net, false, "echo out-$N; echo err-$N >&2; exit 3")
		if err != nil {
			return err
		}
		w := s.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
		if _, err := s.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		s.did("start")
		if err := s.wait(ctx, w, 3); err != nil {
			return err
		}
		out, errOut, err := s.logs(ctx, id)
		if err != nil {
			return err
		}
		if out != fmt.Sprintf("out-%d\n", n) || errOut != fmt.Sprintf("err-%d\n", n) {
			return fmt.Errorf("logs: %q, %q", out, errOut)
		}
		return s.remove(ctx, id, false)
	}
	id, err := s.run(ctx, name, n, net, ending == 3, false)
	if err != nil {
		if id != "" {
			s.remove(ctx, id, true)
		}
		return err
	}
	if err := s.exec(ctx, id, n); err != nil {
		s.remove(ctx, id, true)
		return err
	}
	if err := s.stats(ctx, id); err != nil {
		s.remove(ctx, id, true)
		return err
	}
	if z := monitorZombies(id); len(z) > 0 {
		s.fail("container %d: zombies under its monitor after an exec: %v", n, z)
	}
	switch ending {
	case 0:
		timeout := 10
		if _, err := s.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		s.did("stop")
		in, err := s.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		if in.Container.State.Running || in.Container.State.ExitCode != 0 {
			return fmt.Errorf("after stop: running %v, exit code %d", in.Container.State.Running, in.Container.State.ExitCode)
		}
		return s.remove(ctx, id, false)
	case 1:
		return s.remove(ctx, id, true)
	case 2:
		w := s.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		if _, err := s.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		s.did("kill")
		if err := s.wait(ctx, w, 137); err != nil {
			return err
		}
		return s.remove(ctx, id, false)
	default: // auto-removed
		w := s.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		timeout := 10
		if _, err := s.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		s.did("stop")
		if err := s.wait(ctx, w, 0); err != nil {
			return err
		}
		if _, err := s.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil {
			return errors.New("an auto-removed container is still there after its wait for removal")
		}
		s.did("autoremove")
		return nil
	}
}

// foreground runs container n as `docker run --rm` in the foreground
// does: create (auto-removed), attach, wait for removal, start; the
// output comes through the attach, the exit code (3) through the wait,
// and then the container is gone.
func (s *soak) foreground(ctx context.Context, name string, n int, net string) error {
	id, err := s.create(ctx, name, n, net, true, "echo out-$N; echo err-$N >&2; exit 3")
	if err != nil {
		return err
	}
	att, err := s.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		s.remove(ctx, id, true)
		return fmt.Errorf("attach: %w", err)
	}
	defer att.Close()
	w := s.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
	if _, err := s.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		s.remove(ctx, id, true)
		return fmt.Errorf("start: %w", err)
	}
	s.did("start")
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	s.did("attach")
	if out.String() != fmt.Sprintf("out-%d\n", n) || errOut.String() != fmt.Sprintf("err-%d\n", n) {
		return fmt.Errorf("attach: %q, %q", out.String(), errOut.String())
	}
	if err := s.wait(ctx, w, 3); err != nil {
		return err
	}
	if _, err := s.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil {
		return errors.New("an auto-removed container is still there after its wait for removal")
	}
	s.did("autoremove")
	return nil
}

// carried is a container that lives across a restart, with what it should
// be after it.
type carried struct {
	id, state string
	n         int
}

// carry makes the containers that live across restart p: Concurrency/2
// (at least 2) running, one paused, one that exits (5) while the daemon
// is away, one created and never started.
func (s *soak) carry(ctx context.Context, p int) []carried {
	var out []carried
	var mu sync.Mutex
	var wg sync.WaitGroup
	running := max(2, s.cfg.Concurrency/2)
	base := 100000 * (p + 1)
	for k := range running + 1 {
		wg.Go(func() {
			n := base + k
			id, err := s.run(ctx, fmt.Sprintf("soak-carry-%d", n), n, []string{"bridge", netName, "none"}[k%3], false, false)
			if err != nil {
				s.fail("carried container %d: %v", n, err)
				if id != "" {
					s.remove(ctx, id, true)
				}
				return
			}
			state := "running"
			if k == running {
				if _, err := s.cli.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
					s.fail("pause %d: %v", n, err)
					s.remove(ctx, id, true)
					return
				}
				s.did("pause")
				state = "paused"
			}
			mu.Lock()
			out = append(out, carried{id, state, n})
			mu.Unlock()
		})
	}
	wg.Wait()
	n := base + running + 1
	if id, err := s.create(ctx, fmt.Sprintf("soak-carry-%d", n), n, "bridge", false, "sleep 1; exit 5"); err != nil {
		s.fail("carried container %d: %v", n, err)
	} else if _, err := s.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		s.fail("start %d: %v", n, err)
		s.remove(ctx, id, true)
	} else {
		s.did("start")
		out = append(out, carried{id, "exits", n})
	}
	n++
	if id, err := s.create(ctx, fmt.Sprintf("soak-carry-%d", n), n, netName, false, loop); err != nil {
		s.fail("carried container %d: %v", n, err)
	} else {
		out = append(out, carried{id, "created", n})
	}
	return out
}

// checkCarried checks the containers that lived across a restart and
// removes them: the running ones still run (exec, logs, stats), the
// paused one is paused and resumes, the one that exited shows its exit
// code, the created one starts.
func (s *soak) checkCarried(ctx context.Context, cs []carried) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.Concurrency)
	for _, c := range cs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := s.checkOne(ctx, c); err != nil {
				s.fail("carried container %d (%s): %v", c.n, c.state, err)
				s.remove(ctx, c.id, true)
			}
		})
	}
	wg.Wait()
}

func (s *soak) checkOne(ctx context.Context, c carried) error {
	in, err := s.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	st := in.Container.State
	switch c.state {
	case "exits":
		if st.Running {
			w := s.cli.ContainerWait(ctx, c.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			if err := s.wait(ctx, w, 5); err != nil {
				return err
			}
		} else if st.ExitCode != 5 {
			return fmt.Errorf("exited while the daemon was away: status %s, exit code %d, want 5", st.Status, st.ExitCode)
		}
		return s.remove(ctx, c.id, false)
	case "created":
		if st.Status != container.StateCreated {
			return fmt.Errorf("status %s, want created", st.Status)
		}
		if _, err := s.cli.ContainerStart(ctx, c.id, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		s.did("start")
		if err := s.waitLog(ctx, c.id, fmt.Sprintf("start-%d\n", c.n)); err != nil {
			return err
		}
	case "paused":
		if st.Status != container.StatePaused {
			return fmt.Errorf("status %s, want paused", st.Status)
		}
		if _, err := s.cli.ContainerUnpause(ctx, c.id, client.ContainerUnpauseOptions{}); err != nil {
			return fmt.Errorf("unpause: %w", err)
		}
		s.did("unpause")
	default:
		if st.Status != container.StateRunning {
			return fmt.Errorf("status %s, want running", st.Status)
		}
	}
	if err := s.exec(ctx, c.id, c.n); err != nil {
		return err
	}
	if err := s.stats(ctx, c.id); err != nil {
		return err
	}
	if err := s.waitLog(ctx, c.id, fmt.Sprintf("start-%d\n", c.n)); err != nil {
		return err
	}
	if z := monitorZombies(c.id); len(z) > 0 {
		return fmt.Errorf("zombies under its monitor after a restart and an exec: %v", z)
	}
	if c.n%2 == 0 {
		timeout := 10
		if _, err := s.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		s.did("stop")
		return s.remove(ctx, c.id, false)
	}
	return s.remove(ctx, c.id, true)
}

// Leaks lists what the daemon held after the soak beyond what it held
// before: one line per kind, with the new items. What is kept on purpose
// counts neither before nor after.
func (r *Report) Leaks() []string {
	var out []string
	for _, a := range r.After {
		b := r.Before.get(a.Kind)
		var extra []string
		for _, it := range a.Items {
			if !r.keptOnPurpose(it) && !slices.Contains(b.Items, it) {
				extra = append(extra, strings.TrimPrefix(it, r.Dir+"/"))
			}
		}
		if r.held(a) <= r.held(b) {
			continue
		}
		if len(extra) > 8 {
			extra = append(extra[:8], fmt.Sprintf("... %d more", len(extra)-8))
		}
		out = append(out, fmt.Sprintf("%s: %d before, %d after: %s", a.Kind, b.N, a.N, strings.Join(extra, "; ")))
	}
	return out
}

// held counts what c holds that is not kept on purpose (a count without
// items, the goroutines, counts whole).
func (r *Report) held(c Count) int {
	n := c.N
	for _, it := range c.Items {
		if r.keptOnPurpose(it) {
			n--
		}
	}
	return n
}

func (r *Report) keptOnPurpose(item string) bool {
	return keptOnPurpose(strings.TrimPrefix(item, r.Dir+"/"))
}

// keptOnPurpose says whether something the first container made is meant
// to stay, bounded, for the daemon's life: the compiled seccomp filters
// (one file per distinct profile, under the runtime's root) and the
// daemon's one sealed copy of hull-init that every shim starts containers
// from; and the handles a library opens once and keeps (fds).
func keptOnPurpose(item string) bool {
	return strings.HasPrefix(item, "run/runtime/seccomp/") || item == "run/runtime/seccomp" ||
		(strings.Contains(item, "/memfd:") && strings.HasSuffix(item, "/hull-init (deleted)")) ||
		strings.HasSuffix(item, libraryHandle)
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-38s %8s %8s\n", "kind", "before", "after")
	for _, a := range r.After {
		b := r.Before.get(a.Kind)
		mark := ""
		if r.held(a) > r.held(b) {
			mark = "  LEAK"
		}
		fmt.Fprintf(w, "%-38s %8d %8d%s\n", a.Kind, b.N, a.N, mark)
	}
	fmt.Fprintf(w, "\ndaemon RSS: idle %s, peak %s, settled with 2 streams open %s, settled %s\n",
		mib(r.IdleRSS), mib(r.PeakRSS), mib(r.StreamsRSS), mib(r.SettledRSS))
	var ops []string
	for k, v := range r.Ops {
		ops = append(ops, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(ops)
	fmt.Fprintf(w, "operations: %s\n", strings.Join(ops, ", "))
	if len(r.Cut) > 0 {
		fmt.Fprintf(w, "cut short by a kill -9 of the daemon (not failures): %d\n", len(r.Cut))
		for _, c := range r.Cut {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	fmt.Fprintf(w, "errors: %d; elapsed %s\n", len(r.Errors), r.Elapsed.Round(time.Second))
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

// CheckRSS says whether the daemon's RSS came back near idle after the
// settle period, with the streams open and after they closed: within 50 %
// or 8 MiB of idle, whichever is more.
func (r *Report) CheckRSS() error {
	limit := max(r.IdleRSS*3/2, r.IdleRSS+8<<20)
	var bad []string
	if r.StreamsRSS > limit {
		bad = append(bad, fmt.Sprintf("with 2 streams open %s", mib(r.StreamsRSS)))
	}
	if r.SettledRSS > limit {
		bad = append(bad, fmt.Sprintf("settled %s", mib(r.SettledRSS)))
	}
	if len(bad) > 0 {
		return fmt.Errorf("the daemon's RSS did not come back near idle (%s, limit %s): %s", mib(r.IdleRSS), mib(limit), strings.Join(bad, ", "))
	}
	return nil
}
