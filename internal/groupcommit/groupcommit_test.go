package groupcommit

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/wine"
)

func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(wine.TempDir(t), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return db
}

func put(k string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v")) }
}

func count(t *testing.T, db *bolt.DB) (n int) {
	t.Helper()
	db.View(func(tx *bolt.Tx) error { n = tx.Bucket([]byte("b")).Stats().KeyN; return nil })
	return n
}

// Changes asked for at once are all committed, in fewer transactions
// than changes.
func TestConcurrentChangesShareCommits(t *testing.T) {
	db := openDB(t)
	c := New(db)
	defer c.Close()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- c.Update(put(fmt.Sprint(i))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := count(t, db); got != n {
		t.Fatalf("%d keys, want %d", got, n)
	}
	commits := c.commits.Load()
	t.Logf("%d changes in %d commits", n, commits)
	if commits >= n {
		t.Fatalf("%d changes took %d commits: nothing was grouped", n, commits)
	}
}

// A change that fails gets its own error and leaves nothing; the others of
// its group are committed. A panicking one is an error too, and the
// writer lives on.
func TestFailingChangeIsolated(t *testing.T) {
	db := openDB(t)
	c := New(db)
	defer c.Close()
	bad := errors.New("bad change")
	var wg sync.WaitGroup
	results := make([]error, 30)
	for i := range results {
		wg.Go(func() {
			switch i % 10 {
			case 3:
				results[i] = c.Update(func(tx *bolt.Tx) error {
					tx.Bucket([]byte("b")).Put([]byte("bad"+fmt.Sprint(i)), nil)
					return bad
				})
			case 7:
				results[i] = c.Update(func(tx *bolt.Tx) error { panic("boom") })
			default:
				results[i] = c.Update(put(fmt.Sprint(i)))
			}
		})
	}
	wg.Wait()
	for i, err := range results {
		switch i % 10 {
		case 3:
			if !errors.Is(err, bad) {
				t.Errorf("change %d: %v, want %v", i, err, bad)
			}
		case 7:
			if err == nil {
				t.Errorf("change %d panicked but returned no error", i)
			}
		default:
			if err != nil {
				t.Errorf("change %d: %v", i, err)
			}
		}
	}
	if got := count(t, db); got != 24 {
		t.Fatalf("%d keys, want the 24 good changes'", got)
	}
	if err := c.Update(put("after")); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateAfterClose(t *testing.T) {
	db := openDB(t)
	c := New(db)
	if err := c.Update(put("a")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if err := c.Update(put("b")); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Fatalf("after Close: %v", err)
	}
}
