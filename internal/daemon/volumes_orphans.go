package daemon

import (
	"encoding/json"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// keepAnonymous is for a container removed without its volumes: its
// anonymous volumes stay, as Docker's, and are no longer its (For is
// cleared), so that no later start takes them for the leftovers of a
// create or remove cut short.
func (d *Daemon) keepAnonymous(id string, ms []mountPoint) {
	names := usedVolumes(ms, nil)
	if len(names) == 0 {
		return
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVolumes)
		for _, name := range names {
			v := b.Get([]byte(name))
			var r volumeRecord
			if v == nil || json.Unmarshal(v, &r) != nil || r.For != id {
				continue
			}
			r.For = ""
			nv, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(name), nv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		slog.Warn("keep the anonymous volumes of a removed container", "container", id, "error", err)
	}
}

// removeOrphanVolumes removes, at start, the anonymous volumes made for a
// container that has no record and that no container uses: a daemon killed
// in a create after the volumes were made and before the record was
// written, or in a remove with volumes (rm -v, --rm) after the record went
// and before the volumes did. known holds the containers with a record.
func (d *Daemon) removeOrphanVolumes(known map[string]*ctr) {
	recs, err := d.volumeRecords()
	if err != nil {
		return
	}
	for _, r := range recs {
		if !r.Anonymous || r.For == "" || known[r.For] != nil || len(d.volumeUsers(r.Name)) > 0 {
			continue
		}
		slog.Warn("removing an anonymous volume whose container has no record (a create or remove cut short)", "volume", r.Name, "container", r.For)
		if err := d.removeVolume(r.Name); err != nil {
			slog.Error("remove a leftover anonymous volume", "volume", r.Name, "error", err)
		}
	}
}
