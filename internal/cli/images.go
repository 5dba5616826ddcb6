package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/hullproject/hull/internal/errdefs"
)

// printMessages prints a JSON-message stream (pull, push, load, import)
// one line per message, and returns its in-band error.
func printMessages(r io.Reader, quiet bool) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return fmt.Errorf("%s", m.Error.Message)
		}
		if quiet {
			continue
		}
		switch {
		case m.Stream != "":
			fmt.Print(m.Stream)
		case m.Progress != nil && m.Progress.Total > 0:
			// One line per completed step is enough without a terminal.
		case m.ID != "":
			fmt.Printf("%s: %s\n", m.ID, m.Status)
		case m.Status != "":
			fmt.Println(m.Status)
		}
	}
}

func (e *env) imagesCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use: "images [-q]", Short: "List images", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.ImageList(cmd.Context(), client.ImageListOptions{})
			if err != nil {
				return err
			}
			if quiet {
				for _, im := range res.Items {
					fmt.Println(strings.TrimPrefix(im.ID, "sha256:")[:12])
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			for _, im := range res.Items {
				tags := im.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					i := strings.LastIndex(t, ":")
					fmt.Fprintf(w, "%s\t%s\t%s\t%s ago\t%s\n", t[:i], t[i+1:], strings.TrimPrefix(im.ID, "sha256:")[:12],
						units.HumanDuration(time.Since(time.Unix(im.Created, 0))), units.HumanSizeWithPrecision(float64(im.Size), 3))
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only ids")
	return cmd
}

func (e *env) pullCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use: "pull IMAGE", Short: "Pull an image from a registry", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := c.ImagePull(cmd.Context(), args[0], client.ImagePullOptions{})
			if err != nil {
				return err
			}
			defer rc.Close()
			return printMessages(rc, quiet)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress")
	return cmd
}

func (e *env) pushCommand() *cobra.Command {
	return &cobra.Command{
		Use: "push IMAGE", Short: "Push an image to a registry", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			// The Engine API wants an X-Registry-Auth header, even an empty one.
			rc, err := c.ImagePush(cmd.Context(), args[0], client.ImagePushOptions{RegistryAuth: "e30="})
			if err != nil {
				return err
			}
			defer rc.Close()
			return printMessages(rc, false)
		},
	}
}

func (e *env) loadCommand() *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use: "load [-i FILE]", Short: "Load images from a tar archive (docker save or OCI layout)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			var in io.Reader = os.Stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			rc, err := c.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return err
			}
			defer rc.Close()
			return printMessages(rc, false)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from a file instead of stdin")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress")
	return cmd
}

func (e *env) saveCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "save [-o FILE] IMAGE...", Short: "Save images to a tar archive", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			var out io.Writer = os.Stdout
			if output == "" {
				if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
					return fmt.Errorf("refusing to write a tar to a terminal: use -o or a redirect: %w", errdefs.ErrInvalidArgument)
				}
			} else {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			rc, err := c.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(out, rc)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of stdout")
	return cmd
}

func (e *env) importCommand() *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use: "import [--change INSTR] FILE|- [REPOSITORY[:TAG]]", Short: "Import a root file system tar as an image", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			var in io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			rc, err := c.ImageImport(cmd.Context(), client.ImageImportSource{Source: in, SourceName: "-"}, ref, client.ImageImportOptions{Changes: changes, Message: message})
			if err != nil {
				return err
			}
			defer rc.Close()
			return printMessages(rc, false)
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "a Dockerfile instruction to apply")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message")
	return cmd
}

func (e *env) tagCommand() *cobra.Command {
	return &cobra.Command{
		Use: "tag SOURCE TARGET", Short: "Give an image another name", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = c.ImageTag(cmd.Context(), client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
	}
}

func (e *env) rmiCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "rmi [-f] IMAGE...", Short: "Remove images", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				res, err := c.ImageRemove(cmd.Context(), name, client.ImageRemoveOptions{Force: force})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					failed = true
					continue
				}
				for _, d := range res.Items {
					if d.Untagged != "" {
						fmt.Println("Untagged:", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Println("Deleted:", d.Deleted)
					}
				}
			}
			if failed {
				return statusError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove an image in use or with several names")
	return cmd
}

func (e *env) volumeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	var labels []string
	create := &cobra.Command{
		Use: "create [NAME]", Short: "Create a volume", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			opts := client.VolumeCreateOptions{Labels: map[string]string{}}
			if len(args) == 1 {
				opts.Name = args[0]
			}
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				opts.Labels[k] = v
			}
			res, err := c.VolumeCreate(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Println(res.Volume.Name)
			return nil
		},
	}
	create.Flags().StringArrayVarP(&labels, "label", "l", nil, "set a label")
	var quiet bool
	ls := &cobra.Command{
		Use: "ls [-q]", Short: "List volumes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.VolumeList(cmd.Context(), client.VolumeListOptions{})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
			}
			for _, v := range res.Items {
				if quiet {
					fmt.Fprintln(w, v.Name)
				} else {
					fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
				}
			}
			return w.Flush()
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "only names")
	var force bool
	rm := &cobra.Command{
		Use: "rm [-f] VOLUME...", Short: "Remove volumes", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.each(cmd.Context(), args, func(c *client.Client, name string) error {
				_, err := c.VolumeRemove(cmd.Context(), name, client.VolumeRemoveOptions{Force: force})
				return err
			})
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "no error when it does not exist")
	inspect := &cobra.Command{
		Use: "inspect VOLUME...", Short: "Show volumes as JSON", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			var out []any
			for _, name := range args {
				res, err := c.VolumeInspect(cmd.Context(), name, client.VolumeInspectOptions{})
				if err != nil {
					return err
				}
				out = append(out, res.Volume)
			}
			b, _ := json.MarshalIndent(out, "", "    ")
			fmt.Println(string(b))
			return nil
		},
	}
	var all bool
	prune := &cobra.Command{
		Use: "prune [-a]", Short: "Remove unused volumes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all})
			if err != nil {
				return err
			}
			for _, v := range res.Report.VolumesDeleted {
				fmt.Println(v)
			}
			fmt.Printf("Total reclaimed space: %s\n", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "named volumes too")
	cmd.AddCommand(create, ls, rm, inspect, prune)
	return cmd
}

func (e *env) infoCommand() *cobra.Command {
	return &cobra.Command{
		Use: "info", Short: "Show the daemon's system information", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Info(cmd.Context(), client.InfoOptions{})
			if err != nil {
				return err
			}
			i := res.Info
			fmt.Printf("Containers: %d (running %d, paused %d, stopped %d)\nImages: %d\nServer Version: %s\nStorage Driver: %s\nLogging Driver: %s\nCgroup Driver: %s\nKernel Version: %s\nOperating System: %s\nOSType: %s\nArchitecture: %s\nCPUs: %d\nRoot Dir: %s\nLive Restore Enabled: %v\nDebug Mode: %v\n",
				i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images, i.ServerVersion, i.Driver, i.LoggingDriver,
				i.CgroupDriver, i.KernelVersion, i.OperatingSystem, i.OSType, i.Architecture, i.NCPU, i.DockerRootDir, i.LiveRestoreEnabled, i.Debug)
			return nil
		},
	}
}

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Show the daemon's version", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := c.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
			if err != nil {
				return err
			}
			fmt.Printf("Server: %s %s\n API version: %s (minimum %s)\n OS/Arch: %s/%s\n", v.Platform.Name, v.Version, v.APIVersion, v.MinAPIVersion, v.Os, v.Arch)
			return nil
		},
	}
}
