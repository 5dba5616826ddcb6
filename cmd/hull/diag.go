package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/runtime"
)

// newDiagCommand is hull's hcsdiag: it looks at what the runtime holds,
// whether or not a daemon knows of it.
func newDiagCommand(g *globals) *cobra.Command {
	var runtimeRoot string
	cmd := &cobra.Command{
		Use:   "diag",
		Short: "Diagnostics: every container the runtime knows, a shell inside one (the hcsdiag of hull)",
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
			fmt.Fprintln(w, "ID\tSTATUS\tPID\tSHIM PID\tEXIT\tCREATED\tBUNDLE")
			for _, st := range all {
				exit, shim := "-", "-"
				if st.ExitStatus != nil {
					exit = fmt.Sprint(*st.ExitStatus)
				}
				if st.ShimPID != 0 {
					shim = fmt.Sprint(st.ShimPID)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", st.ID, st.Status, st.Pid, shim, exit, st.Created.Format(time.RFC3339), st.Bundle)
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

	cmd.AddCommand(list, con)
	return cmd
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if len(e) > len(key) && e[:len(key)+1] == key+"=" {
			return true
		}
	}
	return false
}
