package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tocsin/tocsin"
)

// change is one caller's unit of work: fn runs inside a savepoint of the writer's
// transaction, so a change that fails rolls back alone while the others commit.
type change struct {
	fn func(tx *wtx) error
	// pub, when set, is a publish the writer may run together with the other such
	// publishes of its transaction (publishRows) instead of calling fn.
	pub  *pubJob
	done chan error
	// state is the handshake between a caller whose ctx ends and the writer: the
	// writer claims a change (queued → taken) before it runs fn; a caller that gives
	// up first marks it abandoned (queued → abandoned) and the writer skips it. A
	// caller that finds it taken waits for done, so fn (which writes the caller's
	// variables) has finished before the caller reads them.
	state atomic.Int32
}

const (
	changeQueued int32 = iota
	changeTaken
	changeAbandoned
)

// write queues fn for the writer and waits until its transaction has committed (and
// synced, as configured). If ctx ends before the writer takes the change, write
// returns ctx's error and the change never runs; once taken, write returns its
// outcome, committed or not.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	return s.queue(ctx, &change{fn: fn})
}

// queue hands c to the writer and waits for its outcome (see write).
func (s *Store) queue(ctx context.Context, c *change) error {
	c.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	s.queued <- c
	s.mu.RUnlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		if c.state.CompareAndSwap(changeQueued, changeAbandoned) {
			return ctx.Err() // never run
		}
		// Taken: fn's queries take ctx, so it ends soon, but its commit may still
		// land. Its outcome is the truth: a change that committed is reported so,
		// or the hub would never announce its events (live streams would see them
		// only when a later event revealed the gap).
		return <-c.done
	}
}

// writer commits queued changes in groups: it blocks for the first change, then takes
// whatever else is already queued (up to MaxBatch) into the same transaction. There is
// no timer: while one commit syncs, the next batch gathers by itself.
func (s *Store) writer() {
	defer close(s.done)
	for first := range s.queued {
		var batch []*change
		if first.state.CompareAndSwap(changeQueued, changeTaken) {
			batch = append(batch, first)
		}
	fill:
		for len(batch) < s.max {
			select {
			case c, ok := <-s.queued:
				if !ok {
					break fill
				}
				if c.state.CompareAndSwap(changeQueued, changeTaken) {
					batch = append(batch, c)
				}
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			continue // every change was abandoned by its caller
		}
		s.beforeBegin()
		t := &txn{s: s, batch: batch}
		if err := t.begin(); err != nil {
			t.abort(err)
			continue
		}
		if err := t.run(batch); err != nil {
			t.abort(err)
			continue
		}
		t.commit()
	}
}

// txn is one transaction of the writer and the changes it holds.
type txn struct {
	s     *Store
	tx    *wtx
	batch []*change
	errs  []error
	ok    int         // changes that succeeded
	fault *writeFault // the store's kept write fault when the transaction began
}

func (t *txn) begin() error {
	sqltx, err := t.s.w.BeginTx(bg, nil)
	if err != nil {
		return t.s.failed("begin", err)
	}
	t.tx = &wtx{Tx: sqltx, st: t.s.st}
	t.fault = t.s.fault.Load()
	return nil
}

// run runs batch in the transaction: its plain publishes merged into one run of
// multi-row statements, the rest one by one. If the merged run fails, the
// transaction starts over with every change one by one (a rare fault: a duplicate
// id, a full disk), so that each succeeds or fails on its own. An error means the
// transaction is lost.
func (t *txn) run(batch []*change) error {
	t.batch, t.errs = batch, make([]error, len(batch))
	handled := make([]bool, len(batch))
	done, err := t.s.mergePublishes(t.tx, batch, t.errs, handled)
	if err != nil {
		t.s.log.Warn("merged publishes failed; running them one by one", "err", err)
		return t.restart()
	}
	t.ok = done
	for i, c := range batch {
		if !handled[i] {
			if err := t.one(i, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// one runs change i in its own savepoint.
func (t *txn) one(i int, c *change) error {
	if _, err := t.tx.ExecContext(bg, sqlSavepoint); err != nil {
		return t.s.failed("savepoint", err)
	}
	t.errs[i] = t.s.changeError(c.fn(t.tx))
	if t.errs[i] != nil {
		if _, err := t.tx.ExecContext(bg, sqlRollbackRelease); err != nil {
			return t.s.failed("rollback to savepoint", err)
		}
	} else {
		t.ok++
	}
	if _, err := t.tx.ExecContext(bg, sqlRelease); err != nil {
		return t.s.failed("release", err)
	}
	return nil
}

// restart rolls the transaction back and runs every change it held again, one by
// one (each change's fn starts from scratch, so running it again is safe).
func (t *txn) restart() error {
	t.tx.Rollback()
	if err := t.begin(); err != nil {
		return err
	}
	t.ok = 0
	clear(t.errs)
	for i, c := range t.batch {
		if c.pub != nil {
			*c.pub.res = tocsin.PublishResult{}
		}
		if err := t.one(i, c); err != nil {
			return err
		}
	}
	return nil
}

// abort answers every change with err: nothing of the transaction commits. When a
// write fault is kept (this transaction's, most likely: any commit clears it) and err
// does not say so, its clear message leads.
func (t *txn) abort(err error) {
	if t.tx != nil {
		t.tx.Rollback()
	}
	if f := t.s.fault.Load(); f != nil && !errors.Is(err, f.public) {
		err = fmt.Errorf("%w: %w", f.public, err)
	}
	for _, c := range t.batch {
		c.done <- err
	}
}

// commit commits the transaction (synced as configured) and answers its changes.
func (t *txn) commit() {
	if err := t.tx.Commit(); err != nil {
		t.tx = nil
		t.abort(t.s.failed("commit", err))
		return
	}
	// A commit proves the files writable only if it wrote something and no change
	// of it failed for want of writing (a change's statement may fail alone, and the
	// empty rest commit).
	if t.ok > 0 && t.s.fault.Load() == t.fault {
		t.s.wrote()
	}
	t.s.commits.Add(1)
	t.s.changes.Add(int64(t.ok))
	for i, c := range t.batch {
		c.done <- t.errs[i]
	}
	t.s.afterCommit(t.batch)
}

// mergePublishes runs the batch's plain publishes (pubJob) as one publishRows, the
// transaction's first write, and marks them handled with their outcome in errs.
// Those it cannot merge stay unhandled for the one-by-one path, which runs after: a
// repeat of an Idempotency-Key used earlier in the batch (it must find the first
// one's result) and a key past its window (its old record goes first). It returns
// how many changes it completed, or the error of the merged run, after which the
// transaction must start over: no savepoint guards the run, which spares SQLite
// journaling every page it touches.
func (s *Store) mergePublishes(tx *wtx, batch []*change, errs []error, handled []bool) (int, error) {
	var jobs []*pubJob
	var idx []int
	var keys map[[2]string]bool
	replays := 0
	for i, c := range batch {
		j := c.pub
		if j == nil {
			continue
		}
		if req := j.req; req.IdempotencyKey != "" {
			k := [2]string{req.IdempotencyScope, req.IdempotencyKey}
			if keys[k] {
				continue
			}
			if keys == nil {
				keys = map[[2]string]bool{}
			}
			keys[k] = true
			replayed, err := checkIdempotency(tx, req, j.now, j.res, false)
			switch {
			case err == errKeyExpired:
				continue
			case tocsin.ErrorCodeOf(err) == tocsin.EConflict:
				errs[i], handled[i] = err, true
				continue
			case err != nil:
				continue // the one-by-one path reports it
			case replayed:
				handled[i] = true
				replays++
				continue
			}
		}
		jobs, idx = append(jobs, j), append(idx, i)
	}
	if len(jobs) == 0 {
		return replays, nil
	}
	if err := publishRows(tx, jobs); err != nil {
		return 0, err
	}
	for _, i := range idx {
		handled[i] = true
	}
	return replays + len(jobs), nil
}

// unavailable wraps a database failure as EUnavailable (503 for clients: the
// request may be retried), keeping the cause in the chain for logs.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: sqlite %s: %w", errUnavailable, op, err)
}

var errUnavailable = tocsin.Errorf(tocsin.EUnavailable, "the store is unavailable; retry later")
