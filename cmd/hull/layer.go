package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/layer"
)

// newLayerCommand is hull's wclayer: it works on layer folders named on
// the command line, parents given nearest first with --layer, as wclayer
// takes them.
func newLayerCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "layer",
		Short: "Work with layer folders (the wclayer of hull)",
	}
	var parents []string
	parentFlag := func(c *cobra.Command) {
		c.Flags().StringArrayVarP(&parents, "layer", "l", nil, "a parent layer folder; repeat it, nearest parent first")
	}
	var maxBytes int64
	imp := &cobra.Command{
		Use:   "import [--layer PARENT]... DIR < diff.tar",
		Short: "Make the read-only layer DIR from a tar diff on standard input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := layer.Import(cmd.Context(), args[0], parents, bufio.NewReaderSize(os.Stdin, 1<<20), layer.ApplyOptions{MaxBytes: maxBytes})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d bytes\n", m.DiffID, m.Size)
			return nil
		},
	}
	parentFlag(imp)
	imp.Flags().Int64Var(&maxBytes, "max-bytes", 0, "refuse a tar whose files hold more bytes than this (0: the default of 64 GiB)")

	exp := &cobra.Command{
		Use:   "export [--layer PARENT]... DIR > diff.tar",
		Short: "Write the layer DIR as a tar diff to standard output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
			if err := layer.Export(cmd.Context(), args[0], parents, w); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	parentFlag(exp)

	create := &cobra.Command{
		Use:   "create [--layer PARENT]... DIR",
		Short: "Make the scratch (read-write) layer DIR on top of the parents",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return layer.CreateScratch(cmd.Context(), args[0], parents)
		},
	}
	parentFlag(create)

	mount := &cobra.Command{
		Use:   "mount DIR",
		Short: "Mount the layer DIR over its chain and print where",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := layer.Mount(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			return nil
		},
	}
	unmount := &cobra.Command{
		Use:   "unmount DIR",
		Short: "Undo one mount of the layer DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return layer.Unmount(cmd.Context(), args[0])
		},
	}
	var force bool
	remove := &cobra.Command{
		Use:   "remove DIR",
		Short: "Delete the layer DIR (refused while mounted unless --force)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return layer.Remove(cmd.Context(), args[0], force)
		},
	}
	remove.Flags().BoolVarP(&force, "force", "f", false, "unmount first if mounted")
	chain := &cobra.Command{
		Use:   "chain DIR",
		Short: "Print the parents of the layer DIR, nearest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := layer.ReadChain(args[0])
			if err != nil {
				return err
			}
			for _, p := range c {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	diff := &cobra.Command{
		Use:   "changes DIR",
		Short: "List what the layer DIR adds (A), changes (C) and deletes (D), as docker diff does",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := layer.Changes(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, c := range cs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", c.Kind, c.Path)
			}
			return nil
		},
	}
	cmd.AddCommand(imp, exp, create, mount, unmount, remove, chain, diff)
	return cmd
}
