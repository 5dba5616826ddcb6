package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/console"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hullproject/hull/internal/errdefs"
)

// createFlags are docker create's (and run's) flags that hull honours.
type createFlags struct {
	name, workdir, user, hostname, network, restart, memory, stopSignal           string
	entrypoint                                                                    *string
	env, labels, volumes, mounts, capAdd, capDrop, addHosts, securityOpt, ulimits []string
	tty, interactive, rm, readOnly, privileged                                    bool
	cpus                                                                          float64
	pidsLimit                                                                     int64
	stopTimeout                                                                   int
}

func (f *createFlags) register(fs *pflag.FlagSet) {
	fs.Bool("help", false, "help for this command") // -h is --hostname, as in docker
	fs.StringVar(&f.name, "name", "", "the container's name")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "user (name|uid[:group|gid])")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "the container's hostname")
	fs.StringVar(&f.network, "network", "", "network mode: none or host (user networks arrive with the network service)")
	fs.StringVar(&f.restart, "restart", "", "restart policy: no, always, unless-stopped, on-failure[:N]")
	fs.StringVarP(&f.memory, "memory", "m", "", "memory limit (e.g. 64m)")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "seconds to wait before killing the container")
	fs.Func("entrypoint", "overwrite the image's entrypoint", func(s string) error { f.entrypoint = &s; return nil })
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "set a label (key=value)")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind a volume or host path (src:dst[:ro])")
	fs.StringArrayVar(&f.mounts, "mount", nil, "attach a mount (type=bind|volume|tmpfs,source=…,target=…[,readonly])")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "add a capability")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop a capability")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "add a host to /etc/hosts (name:ip)")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "security options")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "a ulimit (nofile=1024:2048)")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a terminal")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep stdin open")
	fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the root file system read-only")
	fs.BoolVar(&f.privileged, "privileged", false, "give extended privileges")
	fs.Float64Var(&f.cpus, "cpus", 0, "number of CPUs")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "process limit")
}

func (f *createFlags) options(args []string) (client.ContainerCreateOptions, error) {
	cfg := &container.Config{
		Image: args[0], Env: f.env, WorkingDir: f.workdir, User: f.user, Hostname: f.hostname,
		Tty: f.tty, OpenStdin: f.interactive, StdinOnce: f.interactive, AttachStdin: f.interactive,
		AttachStdout: true, AttachStderr: true, StopSignal: f.stopSignal,
	}
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if f.entrypoint != nil {
		cfg.Entrypoint = []string{}
		if *f.entrypoint != "" {
			cfg.Entrypoint = []string{*f.entrypoint}
		}
	}
	if f.stopTimeout >= 0 {
		cfg.StopTimeout = &f.stopTimeout
	}
	if len(f.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, l := range f.labels {
			k, v, _ := strings.Cut(l, "=")
			cfg.Labels[k] = v
		}
	}
	host := &container.HostConfig{
		Binds: f.volumes, AutoRemove: f.rm, ReadonlyRootfs: f.readOnly, Privileged: f.privileged,
		CapAdd: f.capAdd, CapDrop: f.capDrop, ExtraHosts: f.addHosts, SecurityOpt: f.securityOpt,
		NetworkMode: container.NetworkMode(f.network),
	}
	if f.restart != "" {
		name, max, _ := strings.Cut(f.restart, ":")
		host.RestartPolicy.Name = container.RestartPolicyMode(name)
		if max != "" {
			n, err := strconv.Atoi(max)
			if err != nil {
				return client.ContainerCreateOptions{}, fmt.Errorf("--restart %s: %w", f.restart, errdefs.ErrInvalidArgument)
			}
			host.RestartPolicy.MaximumRetryCount = n
		}
	}
	if f.memory != "" {
		n, err := units.RAMInBytes(f.memory)
		if err != nil {
			return client.ContainerCreateOptions{}, fmt.Errorf("--memory %s: %v: %w", f.memory, err, errdefs.ErrInvalidArgument)
		}
		host.Memory = n
	}
	if f.cpus > 0 {
		host.NanoCPUs = int64(f.cpus * 1e9)
	}
	if f.pidsLimit != 0 {
		host.PidsLimit = &f.pidsLimit
	}
	for _, s := range f.ulimits {
		u, err := units.ParseUlimit(s)
		if err != nil {
			return client.ContainerCreateOptions{}, fmt.Errorf("--ulimit %s: %v: %w", s, err, errdefs.ErrInvalidArgument)
		}
		host.Ulimits = append(host.Ulimits, u)
	}
	for _, m := range f.mounts {
		mm, err := parseMount(m)
		if err != nil {
			return client.ContainerCreateOptions{}, err
		}
		host.Mounts = append(host.Mounts, mm)
	}
	return client.ContainerCreateOptions{Name: f.name, Config: cfg, HostConfig: host}, nil
}

// parseMount reads --mount's CSV: type=…,source=…,target=…,readonly.
func parseMount(s string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	for _, field := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(field, "=")
		switch strings.ToLower(k) {
		case "type":
			m.Type = mount.Type(v)
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			m.ReadOnly = v == "" || v == "true" || v == "1"
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return m, fmt.Errorf("--mount %s: %v: %w", s, err, errdefs.ErrInvalidArgument)
			}
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: n}
		default:
			return m, fmt.Errorf("--mount %s: unknown key %q: %w", s, k, errdefs.ErrInvalidArgument)
		}
	}
	return m, nil
}

func (e *env) createCommand() *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			opts, err := f.options(args)
			if err != nil {
				return err
			}
			res, err := c.ContainerCreate(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Println(res.ID)
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	f.register(cmd.Flags())
	return cmd
}

func (e *env) runCommand() *cobra.Command {
	f := &createFlags{}
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			opts, err := f.options(args)
			if err != nil {
				return err
			}
			if detach {
				opts.Config.AttachStdin, opts.Config.AttachStdout, opts.Config.AttachStderr = false, false, false
				opts.Config.StdinOnce = false
			}
			res, err := c.ContainerCreate(ctx, opts)
			if err != nil {
				return err
			}
			if detach {
				if _, err := c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
					return err
				}
				fmt.Println(res.ID)
				return nil
			}
			return runAttached(ctx, c, res.ID, f.interactive, f.tty, f.rm, true)
		},
	}
	cmd.Flags().SetInterspersed(false)
	f.register(cmd.Flags())
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background and print the container's id")
	return cmd
}

// runAttached attaches this process's stdio to container id, starts it
// when start is set, and returns its exit status as a statusError.
func runAttached(ctx context.Context, c *client.Client, id string, stdin, tty, removed, start bool) error {
	att, err := c.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: stdin, Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	defer att.Close()
	cond := container.WaitConditionNextExit
	if removed {
		cond = container.WaitConditionRemoved
	}
	wait := c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	var cur console.Console
	if tty && stdin {
		if con, err := console.ConsoleFromFile(os.Stdin); err == nil && con.SetRaw() == nil {
			cur = con
			defer con.Reset()
		}
	}
	if start {
		if _, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return err
		}
	}
	if cur != nil {
		stop := followSize(ctx, cur, func(h, w uint) { c.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w}) })
		defer stop()
	}
	pumpStreams(att.HijackedResponse, stdin, tty)
	select {
	case res := <-wait.Result:
		if cur != nil {
			cur.Reset()
		}
		if res.StatusCode != 0 {
			return statusError{int(res.StatusCode)}
		}
		return nil
	case err := <-wait.Error:
		return err
	}
}

// followSize keeps the container's terminal the size of cur until stop.
func followSize(ctx context.Context, cur console.Console, resize func(h, w uint)) (stop func()) {
	done := make(chan struct{})
	go func() {
		var last console.WinSize
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if ws, err := cur.Size(); err == nil && ws != last {
				resize(uint(ws.Height), uint(ws.Width))
				last = ws
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}

// each runs fn on every id and reports the ones that failed, as docker.
func (e *env) each(ctx context.Context, ids []string, fn func(c *client.Client, id string) error) error {
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	var failed []string
	for _, id := range ids {
		if err := fn(c, id); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = append(failed, id)
			continue
		}
		fmt.Println(id)
	}
	if len(failed) > 0 {
		return statusError{1}
	}
	return nil
}

func (e *env) startCommand() *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use: "start [-a] [-i] CONTAINER...", Short: "Start stopped containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if attach || interactive {
				c, err := e.client(ctx)
				if err != nil {
					return err
				}
				info, err := c.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
				if err != nil {
					return err
				}
				return runAttached(ctx, c, info.Container.ID, interactive, info.Container.Config.Tty, false, true)
			}
			return e.each(ctx, args, func(c *client.Client, id string) error {
				_, err := c.ContainerStart(ctx, id, client.ContainerStartOptions{})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "attach its output")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach its stdin")
	return cmd
}

func timeoutFlag(cmd *cobra.Command, t *int) {
	cmd.Flags().IntVarP(t, "time", "t", -1, "seconds to wait before killing the container")
}

func (e *env) stopCommand() *cobra.Command {
	var t int
	var sig string
	cmd := &cobra.Command{
		Use: "stop [-t SECONDS] CONTAINER...", Short: "Stop running containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerStopOptions{Signal: sig}
			if t >= 0 {
				opts.Timeout = &t
			}
			return e.each(cmd.Context(), args, func(c *client.Client, id string) error {
				_, err := c.ContainerStop(cmd.Context(), id, opts)
				return err
			})
		},
	}
	timeoutFlag(cmd, &t)
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "signal to send")
	return cmd
}

func (e *env) restartCommand() *cobra.Command {
	var t int
	cmd := &cobra.Command{
		Use: "restart [-t SECONDS] CONTAINER...", Short: "Restart containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerRestartOptions{}
			if t >= 0 {
				opts.Timeout = &t
			}
			return e.each(cmd.Context(), args, func(c *client.Client, id string) error {
				_, err := c.ContainerRestart(cmd.Context(), id, opts)
				return err
			})
		},
	}
	timeoutFlag(cmd, &t)
	return cmd
}

func (e *env) killCommand() *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use: "kill [-s SIGNAL] CONTAINER...", Short: "Kill running containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.each(cmd.Context(), args, func(c *client.Client, id string) error {
				_, err := c.ContainerKill(cmd.Context(), id, client.ContainerKillOptions{Signal: sig})
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send")
	return cmd
}

func (e *env) rmCommand() *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use: "rm [-f] [-v] CONTAINER...", Short: "Remove containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.each(cmd.Context(), args, func(c *client.Client, id string) error {
				_, err := c.ContainerRemove(cmd.Context(), id, client.ContainerRemoveOptions{Force: force, RemoveVolumes: volumes})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container and remove it")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove its anonymous volumes")
	return cmd
}

func (e *env) psCommand() *cobra.Command {
	var all, quiet bool
	var filters []string
	var last int
	cmd := &cobra.Command{
		Use: "ps [-a] [-q] [--filter K=V]", Short: "List containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, kv := range filters {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--filter %s: want KEY=VALUE: %w", kv, errdefs.ErrInvalidArgument)
				}
				if f[k] == nil {
					f[k] = map[string]bool{}
				}
				f[k][v] = true
			}
			res, err := c.ContainerList(cmd.Context(), client.ContainerListOptions{All: all, Filters: f, Limit: last})
			if err != nil {
				return err
			}
			if quiet {
				for _, s := range res.Items {
					fmt.Println(s.ID[:12])
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAMES")
			for _, s := range res.Items {
				command := s.Command
				if len(command) > 20 {
					command = command[:19] + "…"
				}
				names := strings.TrimPrefix(strings.Join(s.Names, ","), "/")
				fmt.Fprintf(w, "%s\t%s\t%q\t%s ago\t%s\t%s\n", s.ID[:12], s.Image, command, units.HumanDuration(time.Since(time.Unix(s.Created, 0))), s.Status, names)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show stopped containers too")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only ids")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter (id, name, status, label, ancestor, exited)")
	cmd.Flags().IntVarP(&last, "last", "n", -1, "the n last created containers")
	return cmd
}

func (e *env) logsCommand() *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	cmd := &cobra.Command{
		Use: "logs [-f] [--tail N] CONTAINER", Short: "Show a container's output", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			info, err := c.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			rc, err := c.ContainerLogs(ctx, args[0], client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow,
				Timestamps: timestamps, Tail: tail, Since: unixTime(since), Until: unixTime(until)})
			if err != nil {
				return err
			}
			defer rc.Close()
			if info.Container.Config.Tty {
				_, err = io.Copy(os.Stdout, rc)
			} else {
				_, err = stdcopy.StdCopy(os.Stdout, os.Stderr, rc)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "lines from the end")
	cmd.Flags().StringVar(&since, "since", "", "since a time (RFC 3339, Unix seconds, or a duration like 10m)")
	cmd.Flags().StringVar(&until, "until", "", "until a time (RFC 3339, Unix seconds, or a duration)")
	return cmd
}

// unixTime turns docker's --since/--until forms into Unix seconds.
func unixTime(s string) string {
	if s == "" {
		return ""
	}
	if d, err := time.ParseDuration(s); err == nil {
		return strconv.FormatInt(time.Now().Add(-d).Unix(), 10)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return s
}

func (e *env) execCommand() *cobra.Command {
	var interactive, tty, detach bool
	var user, workdir string
	var envs []string
	cmd := &cobra.Command{
		Use: "exec [-it] CONTAINER COMMAND [ARG...]", Short: "Run a command in a running container", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			ex, err := c.ExecCreate(ctx, args[0], client.ExecCreateOptions{Cmd: args[1:], User: user, WorkingDir: workdir, Env: envs,
				TTY: tty, AttachStdin: interactive, AttachStdout: !detach, AttachStderr: !detach})
			if err != nil {
				return err
			}
			if detach {
				_, err := c.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true})
				return err
			}
			var cur console.Console
			if tty && interactive {
				if con, err := console.ConsoleFromFile(os.Stdin); err == nil && con.SetRaw() == nil {
					cur = con
					defer con.Reset()
				}
			}
			att, err := c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: tty})
			if err != nil {
				return err
			}
			defer att.Close()
			if cur != nil {
				stop := followSize(ctx, cur, func(h, w uint) { c.ExecResize(ctx, ex.ID, client.ExecResizeOptions{Height: h, Width: w}) })
				defer stop()
			}
			pumpStreams(att.HijackedResponse, interactive, tty)
			if cur != nil {
				cur.Reset()
			}
			res, err := c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
			if err != nil {
				return err
			}
			if res.ExitCode != 0 {
				return statusError{res.ExitCode}
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "allocate a terminal")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background")
	cmd.Flags().StringVarP(&user, "user", "u", "", "user")
	cmd.Flags().StringVarP(&workdir, "workdir", "w", "", "working directory")
	cmd.Flags().StringArrayVarP(&envs, "env", "e", nil, "environment variables")
	return cmd
}

func (e *env) attachCommand() *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use: "attach [--no-stdin] CONTAINER", Short: "Attach to a running container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			info, err := c.ContainerInspect(ctx, args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			stdin := !noStdin && info.Container.Config.OpenStdin
			return runAttached(ctx, c, info.Container.ID, stdin, info.Container.Config.Tty, false, false)
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach stdin")
	return cmd
}

func (e *env) waitCommand() *cobra.Command {
	return &cobra.Command{
		Use: "wait CONTAINER...", Short: "Wait for containers to stop and print their exit codes", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			for _, id := range args {
				w := c.ContainerWait(cmd.Context(), id, client.ContainerWaitOptions{})
				select {
				case res := <-w.Result:
					fmt.Println(res.StatusCode)
				case err := <-w.Error:
					return err
				}
			}
			return nil
		},
	}
}

func (e *env) inspectCommand() *cobra.Command {
	return &cobra.Command{
		Use: "inspect NAME...", Short: "Show containers or images as JSON", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			var out []json.RawMessage
			for _, name := range args {
				if res, err := c.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil {
					out = append(out, res.Raw)
					continue
				}
				res, err := c.ImageInspect(ctx, name)
				if err != nil {
					return fmt.Errorf("no such object: %s: %w", name, errdefs.ErrNotFound)
				}
				b, _ := json.Marshal(res.InspectResponse)
				out = append(out, b)
			}
			b, _ := json.MarshalIndent(out, "", "    ")
			fmt.Println(string(b))
			return nil
		},
	}
}

// pumpStreams copies this process's stdin to a hijacked stream (then
// half-closes it) when stdin is set, and the stream's output to stdout and
// stderr (demultiplexed unless tty) until it ends.
func pumpStreams(h client.HijackedResponse, stdin, tty bool) {
	if stdin {
		go func() {
			io.Copy(h.Conn, os.Stdin)
			if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	if tty {
		io.Copy(os.Stdout, h.Reader)
	} else {
		stdcopy.StdCopy(os.Stdout, os.Stderr, h.Reader)
	}
}
