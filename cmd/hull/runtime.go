package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/containerd/console"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

// newRuntimeCommand is hull's OCI runtime, with runc's command line. It has
// its own --root (the runtime's state, default /run/hull/runtime), which
// shadows hull's --root below `hull runtime`.
func newRuntimeCommand(g *globals) *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Run containers from OCI bundles (the runc/runhcs of hull)",
	}
	cmd.PersistentFlags().StringVar(&root, "root", runtime.DefaultRoot, "folder of the runtime's state (shims, container state)")
	rt := func() *runtime.Runtime { return runtime.New(root) }

	var bundle, consoleSocket, pidFile string
	var noPivot, detach bool
	createFlags := func(c *cobra.Command) {
		c.Flags().StringVarP(&bundle, "bundle", "b", ".", "the bundle folder (config.json and the root file system)")
		c.Flags().StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master of a terminal container")
		c.Flags().StringVar(&pidFile, "pid-file", "", "file to write the container's init pid to")
		c.Flags().BoolVar(&noPivot, "no-pivot", false, "do not use pivot_root (for a rootfs on a ramdisk)")
	}
	create := &cobra.Command{
		Use:   "create [--bundle DIR] [--console-socket PATH] [--pid-file PATH] ID",
		Short: "Create a container, its init waiting for start",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := runtime.CreateOptions{ConsoleSocket: consoleSocket, PidFile: pidFile, NoPivot: noPivot}
			// As runc create does, a container without a terminal gets the
			// caller's stdio: tools that read the container's output from
			// the runtime's (the OCI validation suite, shells) rely on it.
			if !bundleTerminal(bundle) {
				opts.Stdin, opts.Stdout, opts.Stderr = os.Stdin, os.Stdout, os.Stderr
			}
			return rt().Create(cmd.Context(), args[0], bundle, opts)
		},
	}
	createFlags(create)

	start := &cobra.Command{
		Use:   "start ID",
		Short: "Run the user process of a created container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rt().Start(cmd.Context(), args[0])
		},
	}

	run := &cobra.Command{
		Use:   "run [--bundle DIR] [--detach] ID",
		Short: "Create and start a container; in the foreground, wait for it, delete it and exit with its code",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContainer(cmd.Context(), rt(), args[0], bundle, runtime.CreateOptions{ConsoleSocket: consoleSocket, PidFile: pidFile, NoPivot: noPivot}, detach)
		},
	}
	createFlags(run)
	run.Flags().BoolVarP(&detach, "detach", "d", false, "leave the container running in the background")

	state := &cobra.Command{
		Use:   "state ID",
		Short: "Print the OCI state of a container as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := rt().State(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), st)
		},
	}

	var format string
	var quiet bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the containers under --root",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := rt().List(cmd.Context())
			if err != nil {
				return err
			}
			switch {
			case quiet:
				for _, st := range all {
					fmt.Fprintln(cmd.OutOrStdout(), st.ID)
				}
				return nil
			case format == "json":
				if all == nil {
					all = []runtime.State{}
				}
				return printJSON(cmd.OutOrStdout(), all)
			case format != "table":
				return fmt.Errorf("format %q: use table or json: %w", format, errdefs.ErrInvalidArgument)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 1, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, st := range all {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle, st.Created.Format(time.RFC3339Nano), st.Owner)
			}
			return w.Flush()
		},
	}
	list.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	list.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the ids")

	var all bool
	kill := &cobra.Command{
		Use:   "kill [--all] ID [SIGNAL]",
		Short: "Send a signal (default TERM; a name or a number) to the container's init",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := int(syscall.SIGTERM)
			if len(args) == 2 {
				var err error
				if sig, err = parseSignal(args[1]); err != nil {
					return err
				}
			}
			return rt().Kill(cmd.Context(), args[0], sig, all)
		},
	}
	kill.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process of the container")

	var force bool
	del := &cobra.Command{
		Use:   "delete [--force] ID",
		Short: "Delete a stopped container (with --force, kill it first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rt().Delete(cmd.Context(), args[0], force)
		},
	}
	del.Flags().BoolVarP(&force, "force", "f", false, "kill a running container and delete it")

	ex := newExecCommand(rt)

	ps := &cobra.Command{
		Use:   "ps ID",
		Short: "List the processes of a container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := rt().Ps(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				return printJSON(cmd.OutOrStdout(), pids)
			}
			return printPs(cmd.OutOrStdout(), pids)
		},
	}
	ps.Flags().StringVarP(&format, "format", "f", "table", "table or json")

	pause := &cobra.Command{
		Use: "pause ID", Short: "Freeze every process of a container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return rt().Pause(cmd.Context(), args[0]) },
	}
	resume := &cobra.Command{
		Use: "resume ID", Short: "Thaw a paused container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return rt().Resume(cmd.Context(), args[0]) },
	}

	var resources string
	update := &cobra.Command{
		Use:   "update --resources FILE ID",
		Short: "Change a container's cgroup resources (OCI linux.resources JSON; - reads standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var b []byte
			var err error
			if resources == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(resources)
			}
			if err != nil {
				return fmt.Errorf("resources: %w", err)
			}
			var res specs.LinuxResources
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("resources %s: %v: %w", resources, err, errdefs.ErrInvalidArgument)
			}
			return rt().Update(cmd.Context(), args[0], &res)
		},
	}
	update.Flags().StringVarP(&resources, "resources", "r", "-", "file of OCI linux.resources JSON")

	var stats bool
	events := &cobra.Command{
		Use:   "events --stats ID",
		Short: "Print the container's resource counters once, as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !stats {
				return fmt.Errorf("events: only --stats is supported: %w", errdefs.ErrNotImplemented)
			}
			st, err := rt().Stats(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"type": "stats", "id": args[0], "data": st})
		},
	}
	events.Flags().BoolVar(&stats, "stats", false, "print the counters once and exit")

	var specBundle string
	var specArgs []string
	var specTerminal bool
	spec := &cobra.Command{
		Use:   "spec [--bundle DIR]",
		Short: "Write a config.json of Docker's default container profile into the bundle",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := filepath.Join(specBundle, "config.json")
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s exists; remove it first: %w", p, errdefs.ErrAlreadyExists)
			}
			s, err := runtime.DefaultSpec(runtime.SpecOptions{Args: specArgs, Terminal: specTerminal})
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, '\n'), 0o644)
		},
	}
	spec.Flags().StringVarP(&specBundle, "bundle", "b", ".", "the bundle folder")
	spec.Flags().StringArrayVar(&specArgs, "args", nil, "process.args (repeat; default sh)")
	spec.Flags().BoolVar(&specTerminal, "terminal", true, "process.terminal")

	cmd.AddCommand(create, start, run, state, list, kill, del, ex, ps, pause, resume, update, events, spec, newAttachCommand(rt))
	return cmd
}

func newExecCommand(rt func() *runtime.Runtime) *cobra.Command {
	var tty, detach bool
	var processFile, cwd, consoleSocket string
	var env []string
	ex := &cobra.Command{
		Use:   "exec [-t] [--process FILE] ID [CMD ARG...]",
		Short: "Run a process in a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			var proc *specs.Process
			if processFile != "" {
				b, err := os.ReadFile(processFile)
				if err != nil {
					return fmt.Errorf("process file: %w", err)
				}
				proc = &specs.Process{}
				if err := json.Unmarshal(b, proc); err != nil {
					return fmt.Errorf("process file %s: %v: %w", processFile, err, errdefs.ErrInvalidArgument)
				}
			} else {
				if len(args) < 2 {
					return fmt.Errorf("exec %s: name a command or --process: %w", id, errdefs.ErrInvalidArgument)
				}
				var err error
				if proc, err = bundleProcess(ctx, rt(), id); err != nil {
					return err
				}
				proc.Args, proc.Terminal = args[1:], tty
				proc.ConsoleSize = nil
			}
			proc.Env = append(proc.Env, env...)
			if cwd != "" {
				proc.Cwd = cwd
			}
			code, err := execProcess(ctx, rt(), id, proc, consoleSocket, detach)
			if err != nil {
				return err
			}
			if code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
	ex.Flags().SetInterspersed(false) // the command's own flags follow the id
	ex.Flags().BoolVarP(&tty, "tty", "t", false, "give the process a terminal")
	ex.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the process")
	ex.Flags().StringVarP(&processFile, "process", "p", "", "an OCI process JSON file")
	ex.Flags().StringVar(&cwd, "cwd", "", "the working directory in the container")
	ex.Flags().StringArrayVarP(&env, "env", "e", nil, "add an environment variable (KEY=VALUE)")
	ex.Flags().StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	return ex
}

// bundleProcess is the container's own process spec, the base of an exec
// (environment, user, capabilities), as runc does.
func bundleProcess(ctx context.Context, rt *runtime.Runtime, id string) (*specs.Process, error) {
	st, err := rt.State(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(st.Bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil || s.Process == nil {
		return nil, fmt.Errorf("exec in %s: the bundle's config.json has no process: %w", id, errdefs.ErrInvalidArgument)
	}
	return s.Process, nil
}

// execProcess runs proc in the container with this process's stdio or
// terminal and returns its exit code.
func execProcess(ctx context.Context, rt *runtime.Runtime, id string, proc *specs.Process, consoleSocket string, detach bool) (int, error) {
	opts := runtime.ExecOptions{ConsoleSocket: consoleSocket}
	if !proc.Terminal {
		opts.Stdin, opts.Stdout, opts.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	if proc.Terminal && consoleSocket == "" {
		if c, err := console.ConsoleFromFile(os.Stdin); err == nil {
			if ws, err := c.Size(); err == nil {
				proc.ConsoleSize = &specs.Box{Width: uint(ws.Width), Height: uint(ws.Height)}
			}
		}
	}
	p, err := rt.Exec(ctx, id, proc, opts)
	if err != nil {
		return -1, err
	}
	if detach {
		if p.Console != nil {
			p.Console.Close()
		}
		return 0, p.Close()
	}
	if p.Console != nil {
		return attachTerminal(ctx, p)
	}
	return p.Wait(ctx)
}

// attachTerminal joins this process's terminal to the pty master of p:
// raw mode, copies both ways, the window size followed; it returns the
// process's exit code once it exits.
func attachTerminal(ctx context.Context, p *runtime.Process) (int, error) {
	defer p.Console.Close()
	master, err := console.ConsoleFromFile(p.Console)
	if err != nil {
		return -1, fmt.Errorf("the process's terminal: %w", err)
	}
	if cur, err := console.ConsoleFromFile(os.Stdin); err == nil {
		if err := cur.SetRaw(); err == nil {
			defer cur.Reset()
		}
		stop := make(chan struct{})
		defer close(stop)
		go followSize(cur, master, stop)
	}
	go io.Copy(p.Console, os.Stdin)
	copied := make(chan struct{})
	go func() { io.Copy(os.Stdout, p.Console); close(copied) }()
	code, err := p.Wait(ctx)
	select { // the last output, then EIO once the pty's slave is gone
	case <-copied:
	case <-time.After(500 * time.Millisecond):
	}
	return code, err
}

// followSize copies the size of the caller's terminal to the pty. It polls
// (4 times a second) rather than catching SIGWINCH, which Windows lacks.
func followSize(cur, master console.Console, stop <-chan struct{}) {
	var last console.WinSize
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if ws, err := cur.Size(); err == nil && ws != last {
			master.Resize(ws)
			last = ws
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// bundleTerminal reports whether the bundle's process asks for a terminal;
// a config.json that cannot be read says no, and Create reports why.
func bundleTerminal(bundle string) bool {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false
	}
	var s specs.Spec
	return json.Unmarshal(b, &s) == nil && s.Process != nil && s.Process.Terminal
}

// runContainer is `hull runtime run`: create with this process's stdio,
// start and, unless detached, wait, delete and exit with the container's
// code.
func runContainer(ctx context.Context, rt *runtime.Runtime, id, bundle string, opts runtime.CreateOptions, detach bool) error {
	terminal := bundleTerminal(bundle)
	if !detach && (opts.ConsoleSocket == "" || !terminal) {
		opts.Stdin, opts.Stdout, opts.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	var cur console.Console
	if terminal && !detach && opts.ConsoleSocket == "" {
		if c, err := console.ConsoleFromFile(os.Stdin); err == nil && c.SetRaw() == nil {
			cur = c
			defer c.Reset()
		}
	}
	if detach {
		if err := rt.Create(ctx, id, bundle, opts); err != nil {
			return err
		}
		if err := rt.Start(ctx, id); err != nil {
			rt.Delete(context.WithoutCancel(ctx), id, true)
			return err
		}
		return nil
	}
	code, err := rt.Run(ctx, id, bundle, opts, func() {
		if cur != nil {
			if ws, err := cur.Size(); err == nil {
				rt.Resize(ctx, id, ws.Width, ws.Height)
			}
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if cur != nil {
		cur.Reset()
	}
	if code != 0 {
		os.Exit(code)
	}
	return err
}

// parseSignal takes TERM, SIGTERM or 15.
func parseSignal(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return n, nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if n, ok := signals[name]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("signal %q: not a signal name or number: %w", s, errdefs.ErrInvalidArgument)
}

// signals are the Linux signal numbers (the container's, whatever the host
// of this CLI).
var signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
	"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
	"CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
	"VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}

// printPs prints the rows of `ps -ef` for pids, as runc ps does.
func printPs(w io.Writer, pids []int) error {
	out, err := exec.Command("ps", "-ef").Output()
	if err != nil {
		return fmt.Errorf("ps -ef: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 0 {
		return nil
	}
	fmt.Fprintln(w, lines[0])
	pidCol := slices.Index(strings.Fields(lines[0]), "PID")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if pidCol < 0 || pidCol >= len(f) {
			continue
		}
		if pid, err := strconv.Atoi(f[pidCol]); err == nil && slices.Contains(pids, pid) {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newAttachCommand is `hull runtime attach` (not in runc): this terminal
// joins the streams of a container whose shim holds them (started
// detached, or with a terminal and no console socket).
func newAttachCommand(rt func() *runtime.Runtime) *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [--no-stdin] ID",
		Short: "Attach to a running container's streams (detach with Ctrl-P Ctrl-Q)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, id, r := cmd.Context(), args[0], rt()
			opts := runtime.AttachOptions{Stdout: os.Stdout, Stderr: os.Stderr}
			var inW *os.File
			if !noStdin {
				pr, pw, err := os.Pipe()
				if err != nil {
					return err
				}
				defer pw.Close()
				opts.Stdin, inW = pr, pw
			}
			a, err := r.Attach(ctx, id, opts)
			if opts.Stdin != nil {
				opts.Stdin.Close()
			}
			if err != nil {
				return err
			}
			defer a.Close()
			if cur, err := console.ConsoleFromFile(os.Stdin); err == nil && !noStdin {
				if err := cur.SetRaw(); err == nil {
					defer cur.Reset()
				}
				stop := make(chan struct{})
				defer close(stop)
				go followContainerSize(ctx, r, id, cur, stop)
			}
			detached := make(chan struct{})
			if inW != nil {
				go func() {
					if copyUntilDetach(inW, os.Stdin) {
						close(detached)
					}
					inW.Close()
				}()
			}
			waited := make(chan error, 1)
			go func() { waited <- a.Wait(ctx) }()
			select {
			case err := <-waited:
				return err
			case <-detached:
				fmt.Fprintf(os.Stderr, "\r\nhull: detached from %s\r\n", id)
				return nil
			}
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not send this terminal's input")
	return cmd
}

// copyUntilDetach copies src to dst until src ends (false) or the detach
// keys, Ctrl-P Ctrl-Q as in Docker, are typed (true).
func copyUntilDetach(dst io.Writer, src io.Reader) bool {
	const ctrlP, ctrlQ = 0x10, 0x11
	buf := make([]byte, 4096)
	pending := false // a Ctrl-P was held back
	for {
		n, err := src.Read(buf)
		out := make([]byte, 0, n+1)
		for _, b := range buf[:n] {
			switch {
			case pending && b == ctrlQ:
				dst.Write(out)
				return true
			case pending:
				out = append(out, ctrlP)
				pending = false
			}
			if b == ctrlP {
				pending = true
				continue
			}
			out = append(out, b)
		}
		if _, werr := dst.Write(out); werr != nil || err != nil {
			return false
		}
	}
}

// followContainerSize keeps the container's terminal the size of cur.
func followContainerSize(ctx context.Context, r *runtime.Runtime, id string, cur console.Console, stop <-chan struct{}) {
	var last console.WinSize
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if ws, err := cur.Size(); err == nil && ws != last {
			r.Resize(ctx, id, ws.Width, ws.Height)
			last = ws
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
