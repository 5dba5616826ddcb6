package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
)

// newImageCommand works on the image store under --root directly, for
// local use until the daemon exists; it refuses to run beside a daemon
// that holds the store.
func newImageCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Work with the image store under --root"}
	// with opens the store, runs fn and closes it.
	with := func(cmd *cobra.Command, fn func(s *image.Store) error) error {
		s, closeFn, err := image.Open(cmd.Context(), g.root)
		if err != nil {
			return err
		}
		err = fn(s)
		if cerr := closeFn(); err == nil {
			err = cerr
		}
		return err
	}
	progress := func(w io.Writer) func(image.Progress) {
		return func(p image.Progress) {
			switch {
			case p.ID != "" && p.Total > 0:
				fmt.Fprintf(w, "%s: %s %d/%d\n", p.ID, p.Status, p.Current, p.Total)
			case p.ID != "":
				fmt.Fprintf(w, "%s: %s\n", p.ID, p.Status)
			default:
				fmt.Fprintln(w, p.Status)
			}
		}
	}

	var input string
	var quiet bool
	load := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from a docker save tarball or an OCI layout tarball",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = os.Stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
				}
				defer f.Close()
				r = f
			}
			return with(cmd, func(s *image.Store) error {
				var pf func(image.Progress)
				if !quiet {
					pf = progress(cmd.ErrOrStderr())
				}
				loaded, err := s.Load(cmd.Context(), r, pf)
				for _, l := range loaded {
					for _, t := range l.Tags {
						fmt.Fprintf(cmd.OutOrStdout(), "Loaded image: %s\n", t)
					}
					if len(l.Tags) == 0 {
						fmt.Fprintf(cmd.OutOrStdout(), "Loaded image ID: %s\n", l.ID)
					}
				}
				return err
			})
		},
	}
	load.Flags().StringVarP(&input, "input", "i", "", "read from this file instead of standard input")
	load.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress")

	var output, format string
	save := &cobra.Command{
		Use:   "save [-o FILE] IMAGE...",
		Short: "Save images as a docker save tarball (or --format oci for an OCI layout)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				if output == "" {
					w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
					if err := s.Save(cmd.Context(), args, w, format); err != nil {
						return err
					}
					return w.Flush()
				}
				return saveFile(cmd, s, args, output, format)
			})
		},
	}
	save.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	save.Flags().StringVar(&format, "format", "docker", "docker or oci")

	var changes []string
	imp := &cobra.Command{
		Use:   "import FILE|- [REPOSITORY[:TAG]]",
		Short: "Make a single-layer image from a root file system tar",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
				}
				defer f.Close()
				r = bufio.NewReaderSize(f, 1<<20)
			}
			tag := ""
			if len(args) == 2 {
				tag = args[1]
			}
			return with(cmd, func(s *image.Store) error {
				id, err := s.Import(cmd.Context(), r, image.ImportOptions{Repo: tag, Changes: changes})
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), id)
				return nil
			})
		},
	}
	imp.Flags().StringArrayVarP(&changes, "change", "c", nil, "a Dockerfile instruction for the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR)")

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				list, err := s.List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
				for _, im := range list {
					id := strings.TrimPrefix(im.ID, "sha256:")[:12]
					created := im.Created.UTC().Format(time.RFC3339)
					if len(im.RepoTags) == 0 {
						fmt.Fprintf(tw, "<none>\t<none>\t%s\t%s\t%s\n", id, created, humanSize(im.Size))
					}
					for _, rt := range im.RepoTags {
						i := strings.LastIndex(rt, ":")
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rt[:i], rt[i+1:], id, created, humanSize(im.Size))
					}
				}
				return tw.Flush()
			})
		},
	}

	var tmpl string
	inspect := &cobra.Command{
		Use:   "inspect [--format TEMPLATE] IMAGE...",
		Short: "Show images as docker image inspect does",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				var all []any
				for _, a := range args {
					d, err := s.Inspect(cmd.Context(), a)
					if err != nil {
						return err
					}
					all = append(all, d)
				}
				return printInspect(cmd.OutOrStdout(), all, tmpl)
			})
		},
	}
	inspect.Flags().StringVarP(&tmpl, "format", "f", "", "a Go template applied to each image")

	history := &cobra.Command{
		Use:   "history IMAGE",
		Short: "Show the steps that made an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				items, err := s.History(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
				for _, h := range items {
					id := h.ID
					if strings.HasPrefix(id, "sha256:") {
						id = strings.TrimPrefix(id, "sha256:")[:12]
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, h.Created.UTC().Format(time.RFC3339), h.CreatedBy, humanSize(h.Size), h.Comment)
				}
				return tw.Flush()
			})
		},
	}

	tag := &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error { return s.Tag(cmd.Context(), args[0], args[1]) })
		},
	}

	var force, noPrune bool
	rm := &cobra.Command{
		Use:   "rm IMAGE...",
		Short: "Remove images; layers shared with other images stay",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				for _, a := range args {
					ds, err := s.Remove(cmd.Context(), a, force, !noPrune)
					for _, d := range ds {
						if d.Untagged != "" {
							fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s\n", d.Untagged)
						}
						if d.Deleted != "" {
							fmt.Fprintf(cmd.OutOrStdout(), "Deleted: %s\n", d.Deleted)
						}
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "remove an image with several names, or one in use")
	rm.Flags().BoolVar(&noPrune, "no-prune", false, "do not delete untagged parents")

	var reg image.RegistryOptions
	var platform string
	registryFlags := func(c *cobra.Command) {
		c.Flags().StringVarP(&reg.Username, "username", "u", "", "registry user name")
		c.Flags().StringVarP(&reg.Password, "password", "p", "", "registry password")
		c.Flags().BoolVar(&reg.Insecure, "insecure", false, "speak plain HTTP to the registry (always so on loopback)")
	}
	pull := &cobra.Command{
		Use:   "pull NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				_, err := s.Pull(cmd.Context(), args[0], image.PullOptions{RegistryOptions: reg, Platform: platform, Progress: progress(cmd.OutOrStdout())})
				return err
			})
		},
	}
	registryFlags(pull)
	pull.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] of a multi-platform image")
	push := &cobra.Command{
		Use:   "push NAME[:TAG]",
		Short: "Push an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, func(s *image.Store) error {
				_, err := s.Push(cmd.Context(), args[0], image.PushOptions{RegistryOptions: reg, Progress: progress(cmd.OutOrStdout())})
				return err
			})
		},
	}
	registryFlags(push)

	cmd.AddCommand(load, save, imp, ls, inspect, history, tag, rm, pull, push)
	return cmd
}

// saveFile writes the images to a temporary file beside path and renames
// it, so that a failed save leaves no half-written tarball.
func saveFile(cmd *cobra.Command, s *image.Store, refs []string, path, format string) error {
	f, err := os.CreateTemp(dirOf(path), ".hull-save-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	err = s.Save(cmd.Context(), refs, w, format)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return "."
}

func printInspect(w io.Writer, objs []any, tmpl string) error {
	if tmpl == "" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "    ")
		return enc.Encode(objs)
	}
	t, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
	}).Parse(tmpl)
	if err != nil {
		return fmt.Errorf("template %q: %v: %w", tmpl, err, errdefs.ErrInvalidArgument)
	}
	for _, o := range objs {
		// Templates see the JSON document, as docker inspect's do, so
		// fields go by their API names ({{.Id}}, {{.GraphDriver.Data.dir}}).
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		if err := t.Execute(w, doc); err != nil {
			return fmt.Errorf("template %q: %v: %w", tmpl, err, errdefs.ErrInvalidArgument)
		}
		fmt.Fprintln(w)
	}
	return nil
}

func humanSize(n int64) string {
	const unit = 1000.0
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if f < unit {
			if u == "B" {
				return fmt.Sprintf("%dB", n)
			}
			return fmt.Sprintf("%.3g%s", f, u)
		}
		f /= unit
	}
	return fmt.Sprintf("%.3gTB", f)
}
