package sqlite

import (
	"context"
	"fmt"

	"github.com/tocsin/tocsin"
)

// change is one caller's unit of work: fn runs inside a savepoint of the writer's
// transaction, so a change that fails rolls back alone while the others commit.
type change struct {
	fn   func(tx *wtx) error
	done chan error
}

// write queues fn for the writer and waits until its transaction has committed (and
// synced, as configured). If ctx ends first, write returns ctx's error, but the
// change may still commit: callers that must know use idempotency keys.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	c := &change{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	s.queue <- c
	s.mu.RUnlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer commits queued changes in groups: it blocks for the first change, then takes
// whatever else is already queued (up to MaxBatch) into the same transaction. There is
// no timer: while one commit syncs, the next batch gathers by itself.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*change, 0, s.max)
	for first := range s.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.max {
			select {
			case c, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*change) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, c := range batch {
			c.done <- err
		}
	}
	sqltx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(unavailable("begin", err))
		return
	}
	tx := &wtx{Tx: sqltx, prepared: s.prepared}
	ok := 0
	for i, c := range batch {
		if _, err := tx.ExecContext(ctx, sqlSavepoint); err != nil {
			tx.Rollback()
			fail(unavailable("savepoint", err))
			return
		}
		errs[i] = c.fn(tx)
		if errs[i] != nil {
			if _, err := tx.ExecContext(ctx, sqlRollbackRelease); err != nil {
				tx.Rollback()
				fail(unavailable("rollback to savepoint", err))
				return
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, sqlRelease); err != nil {
			tx.Rollback()
			fail(unavailable("release", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(unavailable("commit", err))
		return
	}
	s.commits.Add(1)
	s.changes.Add(int64(ok))
	for i, c := range batch {
		c.done <- errs[i]
	}
}

// unavailable wraps a database failure as EUnavailable (503 for clients: the
// request may be retried), keeping the cause in the chain for logs.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: sqlite %s: %w", errUnavailable, op, err)
}

var errUnavailable = tocsin.Errorf(tocsin.EUnavailable, "the store is unavailable; retry later")
