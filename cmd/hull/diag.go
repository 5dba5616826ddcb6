package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/runtime"
)

// newDiagCommand is hull's hcsdiag: it looks at what the runtime holds,
// whether or not a daemon knows of it.
func newDiagCommand(g *globals) *cobra.Command {
	var runtimeRoot string
	cmd := &cobra.Command{
		Use:   "diag",
		Short: "Diagnostics: every container the runtime knows, a shell inside one, compartments, interfaces, routes (the hcsdiag of hull)",
	}
	cmd.PersistentFlags().StringVar(&runtimeRoot, "runtime-root", runtime.DefaultRoot, "folder of the runtime's state")

	list := &cobra.Command{
		Use:   "list",
		Short: "List every container under the runtime's root, with its shim",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := runtime.New(runtimeRoot).List(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSTATUS\tPID\tSHIM PID\tEXIT\tLOG LOST\tCREATED\tBUNDLE\tPOD")
			for _, st := range all {
				exit, shim := "-", "-"
				if st.ExitStatus != nil {
					exit = fmt.Sprint(*st.ExitStatus)
				}
				if st.ShimPID != 0 {
					shim = fmt.Sprint(st.ShimPID)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", st.ID, st.Status, st.Pid, shim, exit, st.LogDropped, st.Created.Format(time.RFC3339), st.Bundle, podColumn(st.Annotations))
			}
			return w.Flush()
		},
	}

	var shell string
	con := &cobra.Command{
		Use:   "console ID",
		Short: "An interactive shell with a terminal inside a running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt := runtime.New(runtimeRoot)
			proc, err := bundleProcess(cmd.Context(), rt, args[0])
			if err != nil {
				return err
			}
			proc.Args, proc.Terminal, proc.ConsoleSize = []string{shell}, true, nil
			if !hasEnv(proc.Env, "TERM") {
				proc.Env = append(proc.Env, "TERM=xterm")
			}
			code, err := execProcess(cmd.Context(), rt, args[0], proc, "", false)
			if err != nil {
				return err
			}
			if code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
	con.Flags().StringVar(&shell, "shell", "/bin/sh", "the shell to run")

	var host string
	trace := &cobra.Command{
		Use:   "trace ID",
		Short: "Print a container's creation trace: every step of its create and start, with its duration (from the daemon)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printTrace(cmd.Context(), cmd.OutOrStdout(), host, args[0])
		},
	}
	trace.Flags().StringVarP(&host, "host", "H", defaultDaemonHost(), "the daemon's address (unix:///path)")
	cmd.AddCommand(trace, list, con)
	cmd.AddCommand(newDiagNetworkCommands()...)
	return cmd
}

// newDiagNetworkCommands are Get-NetCompartment, Get-NetIPInterface and
// Get-NetRoute of hull: read from the kernel, daemon or not.
func newDiagNetworkCommands() []*cobra.Command {
	var netnsDir string
	comps := &cobra.Command{
		Use:   "compartments",
		Short: "List the containers' network compartments (namespaces) with their interfaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := network.Compartments(netnsDir)
			if compartmentsHNS != nil {
				all, _, err = compartmentsHNS()
			}
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tDESCRIPTION\tCONTAINER\tINTERFACES")
			for _, c := range all {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.ID, c.Description, c.Container, strings.Join(c.Interfaces, ","))
			}
			return w.Flush()
		},
	}
	var compartment string
	ifaces := &cobra.Command{
		Use:   "interfaces [--compartment ID]",
		Short: "List the container NICs of one compartment, or of all: addresses, MAC, MTU",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if compartmentsHNS != nil {
				return printHNS(cmd.OutOrStdout(), compartment, false)
			}
			var paths []string
			if compartment != "" {
				p, err := network.FindCompartment(netnsDir, compartment)
				if err != nil {
					return err
				}
				paths = append(paths, p)
			} else {
				all, err := network.Compartments(netnsDir)
				if err != nil {
					return err
				}
				for _, c := range all {
					paths = append(paths, c.Path)
				}
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "COMPARTMENT\tINDEX\tNAME\tSTATE\tMAC\tMTU\tADDRESSES\tALIAS")
			for _, p := range paths {
				ifs, err := network.CompartmentInterfaces(p)
				if err != nil {
					return err
				}
				for _, it := range ifs {
					state := "down"
					if it.Up {
						state = "up"
					}
					id := filepath.Base(p)
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", id[:min(12, len(id))], it.Index, it.Name, state, it.MAC, it.MTU, strings.Join(it.Addresses, ","), it.Alias)
				}
			}
			return w.Flush()
		},
	}
	ifaces.Flags().StringVar(&compartment, "compartment", "", "a compartment: its container's id or a unique prefix")
	var rcompartment string
	routes := &cobra.Command{
		Use:   "routes --compartment ID",
		Short: "List the routes of a compartment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rcompartment == "" {
				return fmt.Errorf("routes: --compartment is required: %w", errdefs.ErrInvalidArgument)
			}
			if compartmentsHNS != nil {
				return printHNS(cmd.OutOrStdout(), rcompartment, true)
			}
			p, err := network.FindCompartment(netnsDir, rcompartment)
			if err != nil {
				return err
			}
			rs, err := network.CompartmentRoutes(p)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "DESTINATION\tNEXT HOP\tINTERFACE\tSCOPE")
			for _, r := range rs {
				nh := r.NextHop
				if nh == "" {
					nh = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Destination, nh, r.Interface, r.Scope)
			}
			return w.Flush()
		},
	}
	routes.Flags().StringVar(&rcompartment, "compartment", "", "a compartment: its container's id or a unique prefix")
	for _, c := range []*cobra.Command{comps, ifaces, routes} {
		c.Flags().StringVar(&netnsDir, "netns-dir", "/run/hull/netns", "where the daemon keeps compartments (<exec-root>/netns)")
	}
	return []*cobra.Command{comps, ifaces, routes}
}

// compartmentsHNS reads the compartments from HNS (set on Windows).
var compartmentsHNS func() ([]network.Compartment, map[string][]network.HNSEndpoint, error)

// printHNS prints the endpoints (container NICs) of one compartment, or all,
// from HNS, or with routes their routes.
func printHNS(out io.Writer, compartment string, routes bool) error {
	comps, eps, err := compartmentsHNS()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	if routes {
		fmt.Fprintln(w, "COMPARTMENT\tDESTINATION\tNEXT HOP\tENDPOINT")
	} else {
		fmt.Fprintln(w, "COMPARTMENT\tENDPOINT\tMAC\tADDRESSES")
	}
	found := false
	for _, c := range comps {
		if compartment != "" && c.ID != compartment && c.Container != compartment {
			continue
		}
		found = true
		for _, ep := range eps[c.ID] {
			if routes {
				for _, r := range ep.Routes {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.ID, r.DestinationPrefix, r.NextHop, ep.Name)
				}
				continue
			}
			var addrs []string
			for _, ip := range ep.IpConfigurations {
				addrs = append(addrs, fmt.Sprintf("%s/%d", ip.IpAddress, ip.PrefixLength))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.ID, ep.Name, ep.MacAddress, strings.Join(addrs, ","))
		}
	}
	if compartment != "" && !found {
		return fmt.Errorf("no compartment %q in HNS: %w", compartment, errdefs.ErrNotFound)
	}
	return w.Flush()
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if len(e) > len(key) && e[:len(key)+1] == key+"=" {
			return true
		}
	}
	return false
}

// defaultDaemonHost is $HULL_HOST, else hull's default socket.
func defaultDaemonHost() string {
	if h := os.Getenv("HULL_HOST"); h != "" {
		return h
	}
	return "unix:///run/hull/hull.sock"
}

// printTrace asks the daemon for a container's creation trace.
func printTrace(ctx context.Context, out io.Writer, host, id string) error {
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return fmt.Errorf("--host %s: only unix:// addresses: %w", host, errdefs.ErrInvalidArgument)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://hull/containers/"+url.PathEscape(id)+"/trace", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("the daemon at %s: %w", host, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var m struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s: %w", strings.TrimSuffix(m.Message, ": not found"), errdefs.ErrNotFound)
		}
		return fmt.Errorf("the daemon: %s", m.Message)
	}
	var steps []struct {
		Name       string            `json:"name"`
		At         time.Time         `json:"at"`
		DurationNs time.Duration     `json:"durationNs"`
		Attrs      map[string]string `json:"attrs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&steps); err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "STEP\tDURATION\tAT\tDETAILS")
	for _, s := range steps {
		var details []string
		for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
			details = append(details, k+"="+s.Attrs[k])
		}
		fmt.Fprintf(w, "%s\t%v\t%s\t%s\n", s.Name, s.DurationNs.Round(time.Microsecond), s.At.Format("15:04:05.000000"), strings.Join(details, " "))
	}
	return w.Flush()
}

// podColumn is diag list's POD column: for a Kubernetes pod's infra
// container "sandbox <namespace>/<name>", for a container of a pod its
// pod's id and its name, from the CRI's annotations; "-" otherwise.
func podColumn(a map[string]string) string {
	switch a["io.kubernetes.cri.container-type"] {
	case "sandbox":
		return "sandbox:" + a["io.kubernetes.cri.sandbox-namespace"] + "/" + a["io.kubernetes.cri.sandbox-name"]
	case "container":
		id := a["io.kubernetes.cri.sandbox-id"]
		return id[:min(12, len(id))] + "/" + a["io.kubernetes.cri.container-name"]
	}
	return "-"
}
