package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/hullproject/hull/internal/image"
)

// ContainerCommit is POST /commit: a new image of the container's image
// plus what the container changed (its scratch layer), named repo[:tag]
// when repo is given. Its configuration is made as dockerd makes it: cfg
// (the container's own when nil) with changes applied as the builder
// applies them, then what that leaves empty filled from the container's
// (dockerd's merge). pause freezes a running container while its layer is
// read.
func (d *Daemon) ContainerCommit(ctx context.Context, ref, repo, tag, comment, author string, changes []string, pause bool, cfg *container.Config) (string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	newRef := ""
	if repo != "" {
		if newRef, err = image.TagReference(repo, tag); err != nil {
			return "", err
		}
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if cfg == nil {
		cfg = rec.Config
	}
	icfg, err := commitConfig(cfg)
	if err != nil {
		return "", err
	}
	own, err := commitConfig(rec.Config)
	if err != nil {
		return "", err
	}
	if err := image.ApplyChanges(&icfg, changes); err != nil {
		return "", err
	}
	mergeConfig(&icfg, own)
	if pause && rec.State.Status == container.StateRunning && d.pauseForCommit(ctx, c) {
		defer d.unpauseAfterCommit(context.WithoutCancel(ctx), c)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(d.layers.Export(ctx, rec.ID, pw)) }()
	ownJSON, _ := json.Marshal(rec.Config)
	id, err := d.images.Commit(ctx, rec.Image, pr, image.CommitOptions{
		Ref: newRef, Config: icfg, Comment: comment, Author: author,
		CreatedBy: strings.Join(append([]string{rec.Path}, rec.Args...), " "),
		Container: rec.ID, ContainerConfig: ownJSON,
	})
	pr.CloseWithError(err)
	if err != nil {
		return "", err
	}
	d.containerEvent(c, events.ActionCommit)
	return id, nil
}

// commitConfig is a container's configuration in the image config's
// shape (the same JSON names: the round trip is the conversion).
func commitConfig(cfg *container.Config) (image.Config, error) {
	var icfg image.Config
	if cfg == nil {
		return icfg, nil
	}
	b, _ := json.Marshal(cfg)
	if err := json.Unmarshal(b, &icfg); err != nil {
		return icfg, fmt.Errorf("commit: the container's config: %w", err)
	}
	return icfg, nil
}

// mergeConfig fills what the commit's configuration c leaves empty from
// the container's own, as dockerd's merge does: user, working directory,
// stop signal and health check when unset; exposed ports, volumes,
// labels and environment variables added; the command and entrypoint
// when c has neither.
func mergeConfig(c *image.Config, own image.Config) {
	if c.User == "" {
		c.User = own.User
	}
	if len(c.ExposedPorts) == 0 {
		c.ExposedPorts = own.ExposedPorts
	} else {
		for p := range own.ExposedPorts {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	if len(c.Env) == 0 {
		c.Env = own.Env
	} else {
		for _, e := range own.Env {
			k, _, _ := strings.Cut(e, "=")
			found := false
			for _, u := range c.Env {
				if uk, _, _ := strings.Cut(u, "="); uk == k {
					found = true
					break
				}
			}
			if !found {
				c.Env = append(c.Env, e)
			}
		}
	}
	for k, v := range own.Labels {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if _, ok := c.Labels[k]; !ok {
			c.Labels[k] = v
		}
	}
	if len(c.Entrypoint) == 0 {
		if len(c.Cmd) == 0 {
			c.Cmd = own.Cmd
		}
		if c.Entrypoint == nil {
			c.Entrypoint = own.Entrypoint
		}
	}
	if own.Healthcheck != nil {
		if c.Healthcheck == nil {
			c.Healthcheck = own.Healthcheck
		} else {
			h := *c.Healthcheck
			if len(h.Test) == 0 {
				h.Test = own.Healthcheck.Test
			}
			if h.Interval == 0 {
				h.Interval = own.Healthcheck.Interval
			}
			if h.Timeout == 0 {
				h.Timeout = own.Healthcheck.Timeout
			}
			if h.StartPeriod == 0 {
				h.StartPeriod = own.Healthcheck.StartPeriod
			}
			if h.StartInterval == 0 {
				h.StartInterval = own.Healthcheck.StartInterval
			}
			if h.Retries == 0 {
				h.Retries = own.Healthcheck.Retries
			}
			c.Healthcheck = &h
		}
	}
	if c.WorkingDir == "" {
		c.WorkingDir = own.WorkingDir
	}
	if len(c.Volumes) == 0 {
		c.Volumes = own.Volumes
	} else {
		maps.Copy(c.Volumes, own.Volumes)
	}
	if c.StopSignal == "" {
		c.StopSignal = own.StopSignal
	}
}
