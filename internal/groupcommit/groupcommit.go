// Package groupcommit commits bbolt write transactions asked for by many
// goroutines at once as few commits. Each bbolt commit waits for the disk
// twice (the pages, then the meta page): ten containers started together
// each writing hull.db a few times queue behind one another's fsyncs.
// A Committer's writer takes every change waiting when it is free and
// commits them in one transaction, so a change asked for alone commits at
// once (no timer, unlike bbolt's DB.Batch) and changes asked for together
// share their fsyncs.
//
// As with DB.Batch, a change may run more than once: when one change of a
// group fails, the transaction is rolled back, that change gets its error
// and the others run again in a new one. Changes must only touch the
// transaction.
package groupcommit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Committer groups the changes given to Update.
type Committer struct {
	db   *bolt.DB
	reqs chan *change // unbuffered: a change is taken or refused, never lost
	quit chan struct{}
	done chan struct{}
	stop sync.Once
	// commits counts the transactions run (for tests).
	commits atomic.Int64
}

type change struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// maxGroup bounds one transaction's changes, so that one commit's fsyncs
// are not held up by an unbounded queue's.
const maxGroup = 128

// New starts the writer of db; Close stops it.
func New(db *bolt.DB) *Committer {
	c := &Committer{db: db, reqs: make(chan *change), quit: make(chan struct{}), done: make(chan struct{})}
	go c.writer()
	return c
}

// Update runs fn in a write transaction, maybe with other changes, and
// returns once that transaction is committed (fn's error, or the
// commit's). fn may run more than once.
func (c *Committer) Update(fn func(*bolt.Tx) error) error {
	ch := &change{fn: fn, err: make(chan error, 1)}
	select {
	case c.reqs <- ch:
	case <-c.quit:
		return bolt.ErrDatabaseNotOpen
	}
	return <-ch.err
}

// Close stops the writer; changes given after it are refused
// (bolt.ErrDatabaseNotOpen). Those it took are committed first.
func (c *Committer) Close() {
	c.stop.Do(func() { close(c.quit) })
	<-c.done
}

func (c *Committer) writer() {
	defer close(c.done)
	group := make([]*change, 0, maxGroup)
	for {
		select {
		case ch := <-c.reqs:
			group = append(group[:0], ch)
		case <-c.quit:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case ch := <-c.reqs:
				group = append(group, ch)
			default:
				break more
			}
		}
		c.commit(group)
	}
}

// run runs one change, a panic in it becoming its error: the writer
// serves every change of the daemon and must outlive a bad one.
func (ch *change) run(tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in a hull.db change: %v", r)
		}
	}()
	return ch.fn(tx)
}

// failed is the change of a group that returned an error.
type failed struct {
	i   int
	err error
}

func (f *failed) Error() string { return f.err.Error() }

// commit commits group in one transaction, retrying without each change
// that fails.
func (c *Committer) commit(group []*change) {
	for len(group) > 0 {
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, ch := range group {
				if err := ch.run(tx); err != nil {
					return &failed{i: i, err: err}
				}
			}
			return nil
		})
		c.commits.Add(1)
		var f *failed
		if errors.As(err, &f) {
			group[f.i].err <- f.err
			group = append(group[:f.i], group[f.i+1:]...)
			continue
		}
		for _, ch := range group {
			ch.err <- err
		}
		return
	}
}
