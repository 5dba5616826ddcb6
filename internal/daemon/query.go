package daemon

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// ContainerList is GET /containers/json.
func (d *Daemon) ContainerList(ctx context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error) {
	return d.containerList(ctx, all, limit, f, false)
}

// ContainerListSize is ContainerList with each container's sizes (ps -s).
func (d *Daemon) ContainerListSize(ctx context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error) {
	return d.containerList(ctx, all, limit, f, true)
}

// containerList lists the containers newest first (by creation time, to
// the nanosecond) as dockerd does: before skips the containers down to
// the one it names, since stops at the one it names, stopped containers
// are shown with all or a limit, and the limit counts the containers
// that pass the filters that come before it in dockerd's order.
func (d *Daemon) containerList(ctx context.Context, all bool, limit int, f filters.Args, size bool) ([]container.Summary, error) {
	recs := d.records()
	slices.SortFunc(recs, func(a, b record) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID))
	})
	lf, err := d.listFilter(ctx, recs, f)
	if err != nil {
		return nil, err
	}
	if lf.all {
		all = true
	}
	out := []container.Summary{}
	linkNames := d.linkNames()
	for i := range recs {
		r := &recs[i]
		if lf.before != "" {
			if r.ID == lf.before {
				lf.before = ""
			}
			continue
		}
		if r.ID == lf.since {
			break
		}
		running := isRunning(r.State.Status)
		if !running && !all && limit <= 0 {
			continue
		}
		if !f.Match("name", "/"+r.Name) && !f.Match("name", r.Name) || !lf.idMatch(r.ID) {
			continue
		}
		if f.Contains("is-task") && lf.isTask {
			continue // hull runs no swarm tasks
		}
		if !f.MatchKVList("label", r.Config.Labels) || excludedByIsolation(f, r.HostConfig) {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		s := d.summary(r)
		s.Names = append(s.Names, linkNames[r.ID]...)
		if !lf.matches(r, &s) {
			continue
		}
		out = append(out, s)
	}
	if size {
		d.containerSizes(ctx, out)
	}
	return out, nil
}

func isRunning(s container.ContainerState) bool {
	return s == container.StateRunning || s == container.StatePaused || s == container.StateRestarting
}

// summary is the container as GET /containers/json shows it.
func (d *Daemon) summary(r *record) container.Summary {
	running := isRunning(r.State.Status)
	s := container.Summary{
		ID: r.ID, Names: []string{"/" + r.Name}, Image: r.ImageRef, ImageID: r.Image,
		Command: summaryCommand(r.Path, r.Args), Created: r.Created.Unix(),
		Labels: r.Config.Labels, State: r.State.Status, Status: statusText(r.State),
		Mounts: mountPointsAPI(r.Mounts),
	}
	ns := d.networkSettings(r)
	// dockerd lists the ports of a container's endpoints: none before it
	// starts or once it stops (its port map is set at start, dropped at
	// stop), whatever it exposes or publishes.
	s.Ports = []container.PortSummary{}
	if ns.SandboxID != "" {
		s.Ports = portSummary(ns)
	}
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: summaryEndpoints(ns.Networks)}
	s.HostConfig.NetworkMode = networkMode(r.HostConfig)
	if r.Health != nil {
		s.Health = &container.HealthSummary{Status: r.Health.Status, FailingStreak: r.Health.FailingStreak}
		if running {
			s.Status += " (" + string(r.Health.Status) + ")"
			if r.Health.Status == container.Starting {
				s.Status = strings.Replace(s.Status, "(starting)", "(health: starting)", 1)
			}
		}
	}
	return s
}

// summaryCommand is docker ps's COMMAND: the path and the arguments, an
// argument with a space in single quotes (dockerd's words: no escaping).
func summaryCommand(path string, args []string) string {
	if len(args) == 0 {
		return path
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if strings.Contains(a, " ") {
			quoted[i] = "'" + a + "'"
		}
	}
	return path + " " + strings.Join(quoted, " ")
}

// statusText is docker ps's STATUS column.
func statusText(s state) string {
	switch s.Status {
	case container.StateRunning:
		return "Up " + humanDuration(time.Since(s.StartedAt))
	case container.StatePaused:
		return "Up " + humanDuration(time.Since(s.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, humanDuration(time.Since(s.FinishedAt)))
	case container.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(time.Since(s.FinishedAt)))
	case container.StateCreated:
		return "Created"
	case container.StateDead:
		return "Dead"
	}
	return string(s.Status)
}

func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case d.Minutes() < 2:
		return "About a minute"
	case d.Minutes() < 60:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d.Hours() < 2:
		return "About an hour"
	case d.Hours() < 48:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func networkMode(h *container.HostConfig) string {
	if h == nil || h.NetworkMode == "" || h.NetworkMode == "default" {
		return "bridge"
	}
	return string(h.NetworkMode)
}

// ContainerInspect is GET /containers/{id}/json, in dockerd's shape: the
// files of /etc and the log are named once the container has started, the
// daemon's default ulimits are merged into HostConfig.Ulimits, ExecIDs are
// the execs not yet exited, GraphDriver names the layer folders as
// overlay2's (hull's scratch layer is an overlayfs upper over its image's
// layer folders).
func (d *Daemon) ContainerInspect(ctx context.Context, ref string) (container.InspectResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	c.mu.Lock()
	r := c.rec
	host := *r.HostConfig
	c.mu.Unlock()
	st := &container.State{
		Status: r.State.Status, Running: r.State.Status == container.StateRunning || r.State.Status == container.StatePaused,
		Paused: r.State.Status == container.StatePaused, Restarting: r.State.Status == container.StateRestarting,
		Dead: r.State.Status == container.StateDead,
		Pid:  r.State.Pid, ExitCode: r.State.ExitCode, Error: r.State.Error, OOMKilled: r.State.OOMKilled,
		StartedAt: zeroTime(r.State.StartedAt), FinishedAt: zeroTime(r.State.FinishedAt),
		Health: healthAPI(r.Health),
	}
	host = *d.hostConfigView(&r)
	host.Ulimits = mergedUlimits(d.cfg.DefaultUlimits, host.Ulimits)
	out := container.InspectResponse{
		ID: r.ID, Created: r.Created.Format(time.RFC3339Nano), Path: r.Path, Args: nonNil(r.Args), State: st,
		Image: r.Image, Name: "/" + r.Name, RestartCount: r.RestartCount, Platform: osType,
		HostConfig: &host, Config: r.Config, Mounts: mountPointsAPI(r.Mounts),
		ExecIDs:         d.execIDs(r.ID),
		NetworkSettings: d.networkSettings(&r),
	}
	if !r.State.StartedAt.IsZero() {
		dir := d.filesDir(&r)
		out.ResolvConfPath, out.HostnamePath, out.HostsPath = dir+"/resolv.conf", dir+"/hostname", dir+"/hosts"
		if !noLog(&r) {
			out.LogPath = d.logPath(r.ID)
		}
	}
	out.Driver, out.GraphDriver = d.graphDriver(ctx, r.ID)
	return out, nil
}

// ContainerInspectSize is ContainerInspect with SizeRw and SizeRootFs
// (GET /containers/{id}/json?size=1).
func (d *Daemon) ContainerInspectSize(ctx context.Context, ref string) (container.InspectResponse, error) {
	out, err := d.ContainerInspect(ctx, ref)
	if err != nil {
		return out, err
	}
	list := []container.Summary{{ID: out.ID, ImageID: out.Image}}
	d.containerSizes(ctx, list)
	out.SizeRw, out.SizeRootFs = &list[0].SizeRw, &list[0].SizeRootFs
	return out, nil
}

// graphDriver is a container's storage as inspect shows it. On Linux the
// scratch layer is an overlayfs upper (diff/, work/, merged/) over its
// image's layer folders, overlay2's shape.
func (d *Daemon) graphDriver(ctx context.Context, id string) (string, *storage.DriverData) {
	if d.win != nil {
		return "windowsfilter", &storage.DriverData{Name: "windowsfilter", Data: map[string]string{"dir": d.layers.Dir(id)}}
	}
	dir := d.layers.Dir(id)
	data := map[string]string{"UpperDir": dir + "/diff", "WorkDir": dir + "/work", "MergedDir": dir + "/merged"}
	if info, err := d.layers.Get(ctx, id); err == nil && len(info.Chain) > 0 {
		lower := make([]string, len(info.Chain))
		for i, p := range info.Chain {
			lower[i] = p + "/diff"
		}
		data["LowerDir"] = strings.Join(lower, ":")
	}
	return "overlay2", &storage.DriverData{Name: "overlay2", Data: data}
}

// healthAPI is a health state as inspect shows it: Log an array, never null.
func healthAPI(h *container.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := *h
	if out.Log == nil {
		out.Log = []*container.HealthcheckResult{}
	}
	return &out
}

// mergedUlimits are the container's ulimits with the daemon's defaults for
// the limits it does not name, as dockerd's mergeUlimits.
func mergedUlimits(defaults map[string]*container.Ulimit, own []*container.Ulimit) []*container.Ulimit {
	out := slices.Clone(own)
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		if u := defaults[name]; u != nil && !slices.ContainsFunc(own, func(o *container.Ulimit) bool { return o != nil && o.Name == name }) {
			out = append(out, &container.Ulimit{Name: name, Soft: u.Soft, Hard: u.Hard})
		}
	}
	return out
}

// execIDs are the container's execs created and not started, or running
// (null when none, as dockerd): one that exited or failed to start is not.
func (d *Daemon) execIDs(id string) []string {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	var out []string
	for _, e := range d.execs {
		e.mu.Lock()
		if e.container == id && e.exitCode == nil {
			out = append(out, e.id)
		}
		e.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

func zeroTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

// logEntry is one line of a container's log.
type logEntry struct {
	Stream string
	Line   []byte
	Time   time.Time
}

// ContainerLogs is GET /containers/{id}/logs: it calls emit for each line
// of the json-file log that opts select, and with Follow waits for more
// until the container stops or ctx is done. tty says the container has a
// terminal (no stream framing); it is known before the first emit.
//
// tail is the number of lines from the end, < 0 for all; zero times are
// no bound. As dockerd's json-file reader, tail counts the log's last lines
// of both streams, and since, until and the streams choose among them.
func (d *Daemon) ContainerLogs(ctx context.Context, ref string, stdout, stderr, follow bool, tail int, since, until time.Time, started func(tty bool), emitLine func(stream string, line []byte, t time.Time) error) error {
	emit := func(e logEntry) error { return emitLine(e.Stream, e.Line, e.Time) }
	opts := struct {
		Stdout, Stderr, Follow bool
		Tail                   int
		Since, Until           time.Time
	}{stdout, stderr, follow, tail, since, until}
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		return fmt.Errorf("you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	c.mu.Lock()
	none := noLog(&c.rec)
	c.mu.Unlock()
	if none {
		return fmt.Errorf("configured logging driver does not support reading: %w", errdefs.ErrNotImplemented)
	}
	c.mu.Lock()
	tty := c.rec.Config.Tty
	c.mu.Unlock()
	started(tty)
	f, err := os.Open(d.logPath(c.rec.ID))
	if os.IsNotExist(err) {
		if !opts.Follow {
			return nil
		}
		// Not started yet: follow from when the log appears.
		for f == nil {
			if !running(c) {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			f, _ = os.Open(d.logPath(c.rec.ID))
		}
	} else if err != nil {
		return err
	}
	defer f.Close()
	want := func(e logEntry) bool {
		if e.Stream == "stdout" && !opts.Stdout || e.Stream == "stderr" && !opts.Stderr {
			return false
		}
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			return false
		}
		return opts.Until.IsZero() || !e.Time.After(opts.Until)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var pending []logEntry
	readAll := func(tail bool) error {
		for {
			b, err := br.ReadBytes('\n')
			if len(b) > 0 && b[len(b)-1] == '\n' {
				if e, ok := decodeLogLine(b); ok {
					if tail {
						pending = append(pending, e)
						if opts.Tail >= 0 && len(pending) > opts.Tail {
							pending = pending[1:]
						}
					} else if want(e) {
						if err := emit(e); err != nil {
							return err
						}
					}
				}
			} else if len(b) > 0 {
				// A line still being written: read it again later.
				f.Seek(-int64(len(b)), io.SeekCurrent)
				br.Reset(f)
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	if err := readAll(true); err != nil {
		return err
	}
	for _, e := range pending {
		if !want(e) {
			continue
		}
		if err := emit(e); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	for {
		stillRunning := running(c)
		if err := readAll(false); err != nil {
			return err
		}
		if !stillRunning {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func running(c *ctr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.rec.State.Status
	return s == container.StateRunning || s == container.StatePaused || s == container.StateRestarting || s == container.StateCreated && !c.removed
}
