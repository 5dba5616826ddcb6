package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/container"
	bolt "go.etcd.io/bbolt"
)

// reconcileVolumes makes the local volumes' records and folders agree
// after a daemon died in a volume create or remove. Create makes the
// folder before the record, so a folder without a record is a create cut
// short: it goes (unmounted first; kept if that fails, never emptied
// through a mount). Remove deletes the folder before the record, so a
// record of a local volume whose folder is gone and that no container
// uses is a remove cut short: the record goes too, as the remove would
// have done. A used volume whose folder is gone keeps its record (not a
// remove's doing; its containers' starts say what is missing).
// Preconditions: the containers' records are loaded.
func (d *Daemon) reconcileVolumes(ctx context.Context) {
	recs, err := d.volumeRecords()
	if err != nil {
		slog.Error("reconcile volumes: read the records", "error", err)
		return
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	known := map[string]bool{}
	var drop []string
	for _, r := range recs {
		known[r.Name] = true
		if isPluginDriver(r.Driver) {
			continue
		}
		if _, err := os.Lstat(d.volumeDir(r.Name)); os.IsNotExist(err) && len(d.volumeUsers(r.Name)) == 0 {
			drop = append(drop, r.Name)
		}
	}
	for _, name := range drop {
		slog.WarnContext(ctx, "removing the record of a volume whose folder is gone (a remove cut short)", "volume", name)
		if err := d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketVolumes).Delete([]byte(name)) }); err != nil {
			slog.Error("remove the record of a volume cut short", "volume", name, "error", err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(d.cfg.Root, "volumes"))
	for _, e := range ents {
		name := e.Name()
		if known[name] || !e.IsDir() || !volumeNamePattern.MatchString(name) {
			continue
		}
		if err := unmountLocalImpl(d.volumeDataDir(name)); err != nil {
			slog.Error("a volume folder without a record stays: its data is mounted", "path", d.volumeDir(name), "error", err)
			continue
		}
		slog.WarnContext(ctx, "removing a volume folder without a record (a create cut short)", "path", d.volumeDir(name))
		if err := os.RemoveAll(d.volumeDir(name)); err != nil {
			slog.Error("remove a volume folder without a record", "path", d.volumeDir(name), "error", err)
		}
	}
}

// pauseForCommit pauses c for a commit, noting in its record (written by
// the pause) that the commit paused it, so that a daemon that dies before
// the commit resumes it does so at its next start. It reports whether c
// was paused.
func (d *Daemon) pauseForCommit(ctx context.Context, c *ctr) bool {
	c.mu.Lock()
	c.rec.PausedForCommit = true
	c.mu.Unlock()
	if err := d.ContainerPause(ctx, c.rec.ID); err != nil {
		c.mu.Lock()
		c.rec.PausedForCommit = false
		c.mu.Unlock()
		return false
	}
	return true
}

// unpauseAfterCommit resumes c after a commit paused it; the unpause
// writes the record without the commit's note (written here when there
// is nothing to resume: the user unpaused it meanwhile, or it stopped).
func (d *Daemon) unpauseAfterCommit(ctx context.Context, c *ctr) {
	c.mu.Lock()
	c.rec.PausedForCommit = false
	c.mu.Unlock()
	if err := d.ContainerUnpause(ctx, c.rec.ID); err != nil {
		slog.DebugContext(ctx, "resume a container after its commit", "container", c.rec.ID, "error", err)
		c.mu.Lock()
		d.save(&c.rec)
		c.mu.Unlock()
	}
}

// reconcileCommitPause resumes the containers a commit paused when the
// daemon died before the commit resumed them: the user never paused them.
// Preconditions: restore has run (a paused container is known paused).
func (d *Daemon) reconcileCommitPause(ctx context.Context) {
	d.mu.Lock()
	var cs []*ctr
	for _, c := range d.ctrs {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		noted, paused := c.rec.PausedForCommit, c.rec.State.Status == container.StatePaused
		c.mu.Unlock()
		if !noted {
			continue
		}
		if !paused {
			c.mu.Lock()
			c.rec.PausedForCommit = false
			d.save(&c.rec)
			c.mu.Unlock()
			continue
		}
		slog.WarnContext(ctx, "resuming a container a commit cut short had paused", "container", c.rec.ID)
		d.unpauseAfterCommit(ctx, c)
	}
}
