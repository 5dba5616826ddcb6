package daemon

// windowsEngine is the daemon's container flow on Windows, in Docker's
// order, over the three Windows services — the windowsfilter layer store,
// HNS and HCS — each reached through a narrow interface. It is plain Go:
// windows_engine_test.go runs it on Linux against recording fakes of those
// interfaces; on Windows the adapters onto hcsshim stand behind them. The
// API handlers do not use it yet (see README "Windows").

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/layer"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/runtime"
)

type windowsEngine struct {
	layers  *layer.WindowsFilter
	net     *network.HNSService
	compute *runtime.HCSRuntime
}

// winStart is what a start needs of the container's record.
type winStart struct {
	Network  string
	Args     []string
	Env      []string
	Cwd      string
	Hostname string
	Tty      bool
	Stdin    bool
	HyperV   bool
	Mounts   []specs.Mount
	Address  netip.Prefix
	MAC      string
	DNS      network.HNSDNS
}

// winContainer is a started container's pieces, for stop and remove.
type winContainer struct {
	ID      string
	Volume  string
	Net     *network.HNSAttachment
	Compute *runtime.HCSContainer
	// streams are its process's output and stdin, held by the daemon (HCS
	// gives them to the process that created it).
	streams *winStreams
}

// winStreams fan a Windows container's output out to its json-file log
// and to attached clients, and hold its stdin.
type winStreams struct {
	attached runtime.Fanout
	stdin    io.WriteCloser
	ended    chan struct{}
}

// pump starts copying the process's output to the log and the attached
// clients; ended is closed when it has all been read.
func (s *winStreams) pump(logPath string, out, errOut io.Reader) {
	s.attached.Log = runtime.NewJSONLog(logPath)
	var wg sync.WaitGroup
	for stream, r := range map[string]io.Reader{"stdout": out, "stderr": errOut} {
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.PumpLog(stream, r, &s.attached)
		}()
	}
	go func() {
		wg.Wait()
		// Windows refuses to remove a file held open: the log is
		// closed once the output has all been written to it.
		s.attached.Log.Close()
		close(s.ended)
	}()
}

// create is docker create's part: the scratch layer, id = container id, on
// the image's top layer.
func (e *windowsEngine) create(ctx context.Context, id, imageTopLayer string) error {
	return e.layers.CreateScratch(ctx, id, imageTopLayer)
}

// start mounts the scratch layer, attaches the container to its network
// (endpoint and compartment), and has HCS create the compute system with
// the endpoint, start it and create its process. A failure undoes the steps
// before it.
func (e *windowsEngine) start(ctx context.Context, id string, s winStart) (_ *winContainer, retErr error) {
	if s.Network == "" || s.Network == "none" {
		return nil, fmt.Errorf("container %s: a Windows container needs a network (nat by default): %w", id, errdefs.ErrInvalidArgument)
	}
	vol, err := e.layers.Mount(ctx, id)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			e.layers.Unmount(context.WithoutCancel(ctx), id)
		}
	}()
	att, err := e.net.Attach(id, s.Network, s.Address, s.MAC, s.DNS)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			e.net.Detach(att)
		}
	}()
	chain, err := e.layers.Chain(id)
	if err != nil {
		return nil, err
	}
	spec := runtime.WindowsSpec(runtime.SpecOptions{Args: s.Args, Env: s.Env, Cwd: s.Cwd, Hostname: s.Hostname, Terminal: s.Tty, RootPath: vol})
	spec.Windows.LayerFolders = append(append([]string{}, chain...), e.layers.Dir(id))
	spec.Windows.Network = &specs.WindowsNetwork{EndpointList: []string{att.Endpoint.Id}}
	if s.HyperV {
		spec.Windows.HyperV = &specs.WindowsHyperV{}
	}
	spec.Mounts = s.Mounts
	hc, err := e.compute.Run(id, spec, s.Stdin)
	if err != nil {
		return nil, err
	}
	return &winContainer{ID: id, Volume: vol, Net: att, Compute: hc}, nil
}

// stop terminates a compute system and releases its network and layer.
func (e *windowsEngine) stop(ctx context.Context, c *winContainer) error {
	var errs []error
	if c.Compute != nil && c.Compute.System != nil {
		if err := c.Compute.System.Shutdown(); err != nil {
			errs = append(errs, c.Compute.System.Terminate())
		}
		errs = append(errs, c.Compute.System.Close())
	}
	if c.Net != nil {
		errs = append(errs, e.net.Detach(c.Net))
	}
	errs = append(errs, e.layers.Unmount(ctx, c.ID))
	return errors.Join(errs...)
}

// restore reopens the compute systems a previous daemon left running.
func (e *windowsEngine) restore(pids map[string]int) ([]*runtime.HCSContainer, error) {
	return e.compute.Restore(pids)
}

// WindowsServices are the interfaces the daemon's Windows flow runs on.
type WindowsServices struct {
	Layers  layer.WCLayer
	Compute runtime.ComputeService
	HNS     network.HNS
}

// createScratch makes a container's scratch layer (id = container id).
func (d *Daemon) createScratch(ctx context.Context, id, parent string) error {
	if d.win != nil {
		return d.win.create(ctx, id, parent)
	}
	return d.createScratchOverInit(ctx, id, parent)
}

// removeScratch removes it, and the image layers below that no image
// needs any more (an image force-removed while the container used it),
// with the init layer over them: their space comes back now, as dockerd
// gives it, not at the next start. The init layer of an image that stays
// is kept for the next container (initlayer.go). The layers are taken out
// of the layer store at once, into its trash, and the reaper deletes their
// files (reap.go). keepMount: the layer goes mounted, the trash's
// emptying unmounts it (layer.Store.DiscardMounted).
func (d *Daemon) removeScratch(ctx context.Context, id string, keepMount bool) error {
	if d.win != nil {
		return d.win.layers.Remove(ctx, id)
	}
	in, ierr := d.layers.Get(ctx, id)
	var err error
	if keepMount {
		err = d.layers.DiscardMounted(ctx, id)
	} else {
		err = d.layers.Discard(ctx, id, true)
	}
	if err != nil {
		return err
	}
	defer d.emptyTrash()
	if ierr == nil {
		if err := d.images.ReleaseLayers(ctx, imageChain(in.Chain)); err != nil {
			slog.WarnContext(ctx, "release the layers of a removed image", "container", id, "error", err)
		}
	}
	return nil
}

// kill signals a container's process (all: every process); on Windows the
// compute system has no signals: SIGKILL terminates it, any other signal
// asks it to shut down.
func (d *Daemon) kill(ctx context.Context, c *ctr, sig syscall.Signal, all bool) error {
	if d.win == nil {
		return d.rt.Kill(ctx, c.rec.ID, int(sig), all)
	}
	w := c.win
	if w == nil || w.Compute == nil || w.Compute.System == nil {
		return fmt.Errorf("container %s has no compute system: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if sig == syscall.SIGKILL {
		return w.Compute.System.Terminate()
	}
	if err := w.Compute.System.Shutdown(); err != nil {
		return w.Compute.System.Terminate()
	}
	return nil
}

// startWindows starts c on the Windows services. c.mu is held.
func (d *Daemon) startWindows(ctx context.Context, c *ctr) error {
	r := c.rec
	netName := networkMode(r.HostConfig)
	if netName == "bridge" || netName == "default" {
		netName = "nat" // Windows' default network
	}
	hostname := r.Config.Hostname
	if hostname == "" {
		hostname = r.ID[:12]
	}
	wc, err := d.win.start(ctx, r.ID, winStart{
		Network: netName, Args: append([]string{r.Path}, r.Args...), Env: r.Config.Env, Cwd: r.Config.WorkingDir,
		Hostname: hostname, Tty: r.Config.Tty, Stdin: r.Config.OpenStdin, HyperV: r.HostConfig.Isolation == "hyperv",
	})
	if err != nil {
		c.rec.State.Error = err.Error()
		d.save(&c.rec)
		c.notify()
		return err
	}
	ws := &winStreams{ended: make(chan struct{})}
	wc.streams = ws
	var out, errOut io.Reader
	pid := 0
	if p := wc.Compute.Process; p != nil {
		pid = p.Pid()
		in, o, e, err := p.Stdio()
		if err == nil {
			ws.stdin = in
			if o != nil {
				out = o
			}
			if e != nil {
				errOut = e
			}
		}
	}
	c.win = wc
	c.rec.State = state{Status: container.StateRunning, Pid: pid, StartedAt: time.Now().UTC(), FinishedAt: c.rec.State.FinishedAt}
	d.save(&c.rec)
	// Clients that attached before the start join before any output is
	// read (HCS holds it in the process's pipes meanwhile).
	close(c.created)
	c.attachers.Wait()
	ws.pump(d.logPath(r.ID), out, errOut)
	if ws.stdin != nil && !r.Config.OpenStdin {
		ws.stdin.Close()
	}
	c.notify()
	d.containerEvent(c, events.ActionStart)
	go d.monitorWindows(c, wc)
	return nil
}

// monitorWindows waits for the container's process, then records its exit
// and releases the compute system, endpoint and layer.
func (d *Daemon) monitorWindows(c *ctr, wc *winContainer) {
	code := 255
	if p := wc.Compute.Process; p != nil {
		if err := p.Wait(); err == nil {
			if n, err := p.ExitCode(); err == nil {
				code = n
			}
		}
	}
	if s := wc.streams; s != nil {
		// Let the output drain into the log and to attached clients.
		select {
		case <-s.ended:
		case <-time.After(2 * time.Second):
		}
	}
	// The compute system, endpoint and layer are released there, and the
	// restart policy or auto-removal applies as on Linux.
	d.exited(c, code, nil)
}

// attachWindows attaches a client to a running Windows container's
// streams until its output ends, the client goes, or ctx ends. connected
// says the client has joined (a start waits for that); replay is then
// given the log's offset at that moment.
func (d *Daemon) attachWindows(ctx context.Context, c *ctr, stdin io.Reader, stdout, stderr io.Writer, connected func(), replay func(logOffset int64) error) error {
	wc := c.win
	if wc == nil || wc.streams == nil {
		connected()
		return fmt.Errorf("container %s has no streams to attach to (restored containers keep theirs with the previous daemon): %w", c.rec.ID, errdefs.ErrConflict)
	}
	s := wc.streams
	if c.rec.Config.Tty {
		stderr = stdout
	}
	x := runtime.NewSubscriber(stdout, stderr)
	at := s.attached.Add(x)
	defer s.attached.Remove(x)
	connected()
	if err := replay(at); err != nil {
		return err
	}
	if stdin != nil && s.stdin != nil {
		go func() {
			io.Copy(s.stdin, stdin)
			if c.rec.Config.StdinOnce {
				s.stdin.Close()
			}
		}()
	}
	select {
	case <-s.ended:
		return nil
	case <-x.Gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restoreWindows reopens the compute systems of the containers the records
// say run (their processes by the recorded pid) — never terminating one —
// and records the others as exited.
func (d *Daemon) restoreWindows() {
	d.mu.Lock()
	pids := map[string]int{}
	byID := map[string]*ctr{}
	for id, c := range d.ctrs {
		if st := c.rec.State.Status; st == container.StateRunning || st == container.StatePaused {
			pids[id] = c.rec.State.Pid
			byID[id] = c
		}
	}
	d.mu.Unlock()
	if len(byID) == 0 {
		return
	}
	found, err := d.win.restore(pids)
	if err != nil {
		slog.Warn("restore Windows containers", "error", err)
	}
	for _, hc := range found {
		c := byID[hc.ID]
		if c == nil || hc.System == nil || hc.Process == nil {
			continue
		}
		delete(byID, hc.ID)
		slog.Info("container restored: its compute system kept running while the daemon was away", "id", hc.ID)
		wc := &winContainer{ID: hc.ID, Compute: hc}
		c.mu.Lock()
		c.win = wc
		close(c.created)
		c.mu.Unlock()
		go d.monitorWindows(c, wc)
	}
	for id, c := range byID {
		slog.Warn("container lost while the daemon was away", "id", id)
		c.mu.Lock()
		c.rec.State.Status, c.rec.State.ExitCode, c.rec.State.Pid = container.StateExited, 255, 0
		d.save(&c.rec)
		c.mu.Unlock()
	}
}

// stats are a container's counters: the runtime's, or HCS's Statistics on
// Windows (CPU in 100 ns units, memory commit, storage bytes).
func (d *Daemon) stats(ctx context.Context, c *ctr, id string) (runtime.Stats, error) {
	if d.win == nil {
		return d.rt.Stats(ctx, id)
	}
	c.mu.Lock()
	wc := c.win
	c.mu.Unlock()
	if wc == nil || wc.Compute == nil || wc.Compute.System == nil {
		return runtime.Stats{}, fmt.Errorf("container %s has no compute system: %w", id, errdefs.ErrConflict)
	}
	st, err := wc.Compute.System.Statistics()
	if err != nil {
		return runtime.Stats{}, err
	}
	return runtime.Stats{CPUUsageNS: st.CPUTotal100ns * 100, MemoryUsage: st.MemoryPrivateWS, BlkioRead: st.StorageReadBytes, BlkioWrite: st.StorageWriteByte}, nil
}

// topWindows is docker top on Windows: HCS's process list, as Docker on
// Windows shows it (Name, PID).
func (d *Daemon) topWindows(c *ctr) (container.TopResponse, error) {
	c.mu.Lock()
	wc := c.win
	c.mu.Unlock()
	if wc == nil || wc.Compute == nil || wc.Compute.System == nil {
		return container.TopResponse{}, fmt.Errorf("container %s has no compute system: %w", c.rec.ID, errdefs.ErrConflict)
	}
	ps, err := wc.Compute.System.ProcessList()
	if err != nil {
		return container.TopResponse{}, err
	}
	out := container.TopResponse{Titles: []string{"Name", "PID"}}
	for _, p := range ps {
		out.Processes = append(out.Processes, []string{p.ImageName, strconv.Itoa(int(p.ProcessID))})
	}
	return out, nil
}

// execStartWindows runs an exec as one more process of the container's
// compute system (HCS CreateProcess), its pipes copied to the client.
func (d *Daemon) execStartWindows(e *execRec, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := d.lookup(e.container)
	if err != nil {
		return err
	}
	c.mu.Lock()
	wc, env, cwd := c.win, c.rec.Config.Env, c.rec.Config.WorkingDir
	c.mu.Unlock()
	if wc == nil || wc.Compute == nil || wc.Compute.System == nil {
		return fmt.Errorf("exec in %s: the container is not running: %w", e.container, errdefs.ErrConflict)
	}
	if e.workingDir != "" {
		cwd = e.workingDir
	}
	proc := &specs.Process{Args: e.cfg.Cmd, Env: replaceOrAppendEnv(env, e.cfg.Env), Cwd: cwd, Terminal: e.cfg.Tty, User: specs.User{Username: e.user}}
	p, err := wc.Compute.System.CreateProcess(runtime.HCSProcessDocument(proc, e.cfg.AttachStdin && stdin != nil))
	if err != nil {
		return fmt.Errorf("exec in %s: %w", e.container, err)
	}
	e.mu.Lock()
	e.running, e.pid = true, p.Pid()
	e.mu.Unlock()
	e.markStarted()
	in, out, errOut, _ := p.Stdio()
	var copies sync.WaitGroup
	for _, o := range []struct {
		dst io.Writer
		src io.Reader
	}{{stdout, out}, {stderr, errOut}} {
		if o.dst == nil || o.src == nil {
			continue
		}
		copies.Add(1)
		go func() { defer copies.Done(); io.Copy(o.dst, o.src) }()
	}
	if in != nil {
		if stdin != nil && e.cfg.AttachStdin {
			go func() { io.Copy(in, stdin); in.Close() }()
		} else {
			in.Close()
		}
	}
	finish := func() {
		code := 255
		if err := p.Wait(); err == nil {
			if n, err := p.ExitCode(); err == nil {
				code = n
			}
		}
		copies.Wait()
		p.Close()
		e.mu.Lock()
		e.running, e.exitCode = false, &code
		e.mu.Unlock()
		d.containerEvent(c, events.ActionExecDie, "execID", e.id, "exitCode", strconv.Itoa(code))
		close(e.done)
	}
	if stdout == nil && stderr == nil && stdin == nil {
		go finish()
		return nil
	}
	finish()
	return nil
}
