package daemon

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/groupcommit"
	"github.com/hullproject/hull/internal/wine"
)

// testDaemonDB is a daemon with only its container records (hull.db).
func testDaemonDB(t *testing.T) *Daemon {
	t.Helper()
	db, err := bolt.Open(filepath.Join(wine.TempDir(t), "hull.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{db: db, dbq: groupcommit.New(db)}
	t.Cleanup(func() { d.dbq.Close(); db.Close() })
	if err := d.openContainers(); err != nil {
		t.Fatal(err)
	}
	return d
}

func storedRecord(t *testing.T, d *Daemon, id string) []byte {
	t.Helper()
	var b []byte
	d.db.View(func(tx *bolt.Tx) error {
		b = tx.Bucket(bucketContainers).Get([]byte(id))
		return nil
	})
	return b
}

// TestSaveRefusesRemovedRecord: once a container's record has left
// hull.db, nothing writes it back.
func TestSaveRefusesRemovedRecord(t *testing.T) {
	d := testDaemonDB(t)
	rec := record{ID: newID(), Name: "x", Config: &container.Config{}, HostConfig: &container.HostConfig{}}
	if err := d.save(&rec); err != nil {
		t.Fatal(err)
	}
	if storedRecord(t, d, rec.ID) == nil {
		t.Fatal("the record was not written")
	}
	d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketContainers).Delete([]byte(rec.ID)) })
	rec.deleted = true
	rec.State.Status = container.StateRemoving
	if err := d.save(&rec); !errdefs.IsNotFound(err) {
		t.Errorf("save of a removed container's record: %v, want NotFound", err)
	}
	if b := storedRecord(t, d, rec.ID); b != nil {
		t.Errorf("the removed container's record came back: %s", b)
	}
}

// TestRecordHealthAfterStop: a probe's result that comes after its check
// was stopped (exit, pause, remove) or after the container was removed is
// not recorded.
func TestRecordHealthAfterStop(t *testing.T) {
	hc := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: time.Second, Retries: 3}
	for _, tc := range []struct {
		name    string
		cancel  bool
		deleted bool
		want    bool
	}{
		{"running", false, false, true},
		{"stopped meanwhile", true, false, false},
		{"removed meanwhile", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDaemonDB(t)
			c := &ctr{rec: record{ID: newID(), Name: "h", Config: &container.Config{Healthcheck: hc}, HostConfig: &container.HostConfig{},
				Health: &container.Health{Status: container.Starting}}, changed: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c.stopHealth = cancel
			if tc.cancel {
				c.mu.Lock()
				d.stopHealthLocked(c)
				c.mu.Unlock()
			}
			c.rec.deleted = tc.deleted
			res := &container.HealthcheckResult{Start: time.Now(), End: time.Now(), ExitCode: 0}
			if got := d.recordHealth(ctx, c, hc, res); got != tc.want {
				t.Errorf("recordHealth = %v, want %v", got, tc.want)
			}
			if stored := storedRecord(t, d, c.rec.ID) != nil; stored != tc.want {
				t.Errorf("record stored: %v, want %v", stored, tc.want)
			}
			if n := len(c.rec.Health.Log); (n == 1) != tc.want {
				t.Errorf("health log has %d results", n)
			}
		})
	}
}

// TestHealthConfigFloor: durations under a millisecond (which the API
// refuses, but an image's config may hold) count as not set.
func TestHealthConfigFloor(t *testing.T) {
	hc := healthConfig(&container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"},
		Interval: time.Nanosecond, Timeout: -time.Second, StartInterval: 999 * time.Microsecond, StartPeriod: -1}})
	if hc.Interval != defaultHealthInterval || hc.Timeout != defaultHealthTimeout || hc.StartInterval != defaultHealthStartInterval || hc.StartPeriod != 0 {
		t.Errorf("healthConfig = %+v", hc)
	}
	hc = healthConfig(&container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Millisecond}})
	if hc.Interval != time.Millisecond {
		t.Errorf("a 1ms interval became %v", hc.Interval)
	}
}

// TestRecordsDoNotWaitForAStart: a container whose lock is held (a start
// holds it throughout) is listed as it was last saved, at once, as
// dockerd's list reads its snapshot; one that is free, as it is now.
func TestRecordsDoNotWaitForAStart(t *testing.T) {
	d := testDaemonDB(t)
	busy := &ctr{rec: record{ID: newID(), Name: "busy", Config: &container.Config{}, HostConfig: &container.HostConfig{}}}
	busy.rec.State.Status = container.StateCreated
	if err := d.save(&busy.rec); err != nil {
		t.Fatal(err)
	}
	free := &ctr{rec: record{ID: newID(), Name: "free", Config: &container.Config{}, HostConfig: &container.HostConfig{}}}
	free.rec.State.Status = container.StateCreated
	if err := d.save(&free.rec); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.ctrs[busy.rec.ID], d.ctrs[free.rec.ID] = busy, free
	d.mu.Unlock()
	// The start under way: state changed in memory, not saved yet.
	busy.mu.Lock()
	defer busy.mu.Unlock()
	busy.rec.State.Status = container.StateRunning
	free.rec.State.Status = container.StateExited // changed, not saved: the free one is read now
	got := make(chan []record, 1)
	go func() { got <- d.records() }()
	select {
	case recs := <-got:
		states := map[string]container.ContainerState{}
		for _, r := range recs {
			states[r.Name] = r.State.Status
		}
		if states["busy"] != container.StateCreated || states["free"] != container.StateExited || len(recs) != 2 {
			t.Errorf("records = %v, want busy as saved (created) and free as it is (exited)", states)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("records waited for a container's lock")
	}
}
