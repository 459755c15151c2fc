package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tocsin/tocsin"
)

// Group commit. Publishes are queued; a writer goroutine takes whatever is queued
// (up to maxBatch) and commits it in one transaction on one connection, while the
// next batch gathers. The common publishes of a batch (inbox items, topic events)
// become one pipeline of multi-row statements (merged.go): BEGIN, the streams'
// heads, the notifications, the Idempotency-Keys, the events, COMMIT, sent in one
// round trip and flushed to the WAL once. Per publish that replaces six round trips,
// six statements and a WAL flush of its own; the server's work per publish was
// mostly per statement (planning, executor start-up, wake-ups), not per row.
//
// Sequences: the batch's first statement locks every stream it touches, in sorted
// order, as every other change does (one order for all, so no cycle of waits between
// writers, nodes or the one-change paths); its commit releases them. A stream's
// commits are therefore still serialised, and a reader never sees seq N+1 without N.
// Idempotency-Keys, the only other rows two transactions may both write, are taken
// after the streams, in sorted order too.
//
// Failure of one publish must not fail the others: when the merged pipeline fails
// (a constraint, a key that a concurrent request committed first), the transaction
// is rolled back and the batch runs again one publish per savepoint; the one that
// fails rolls back alone. Every caller gets its own result, or error, after COMMIT.
const (
	// writers is how many batches may be in flight at once per store (node), so
	// that a batch waiting for a stream another node holds does not stall the node's
	// other publishes. Normally one runs at a time (see writer).
	writers = 4
	// minHandoff and maxHandoff bound how long a batch runs before the next may
	// start beside it (see handoff).
	minHandoff = 5 * time.Millisecond
	maxHandoff = 100 * time.Millisecond
	// maxBatch bounds the publishes of one transaction (and so how long it holds
	// its streams' locks).
	maxBatch = 128
	// batchTimeout bounds one batch transaction: its callers may have given up long
	// before, but the writer must not hang on a connection that went silent.
	batchTimeout = 30 * time.Second
	// maxRetries bounds how often a publish is run again after errRetry before it
	// falls back to a transaction of its own.
	maxRetries = 3
)

var (
	// errRetry: the publish did not run and should be queued again (its key lost a
	// race, or repeated another key of its batch; next time it finds the first).
	errRetry = errors.New("postgres: publish to be retried")
	// errSolo: the publish needs a transaction of its own (an expired key).
	errSolo = errors.New("postgres: publish to be run alone")
	// errClosed: the store was closed.
	errClosed = tocsin.Errorf(tocsin.EUnavailable, "the store is closed")
)

// queue hands j to a writer and waits for its outcome. If ctx ends before a writer
// takes j, queue returns ctx's error and j never runs. Once taken, the batch may be
// reading j's request and writing its result, so queue waits for the outcome, which
// it returns (the batch has a deadline of its own, batchTimeout): when Publish
// returns, the store is done with the caller's request, and a publish that
// committed is reported as such.
func (s *Store) queue(ctx context.Context, j *pubJob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.done = make(chan error, 1)
	j.state.Store(jobQueued)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.queued <- j:
	case <-ctx.Done(): // every writer is stuck and the queue is full
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err() // the writer will skip it
		}
		return <-j.done
	}
}

// startWriters starts the writer goroutines; Close stops them.
func (s *Store) startWriters() {
	s.queued = make(chan *pubJob, writers*maxBatch)
	s.turn = make(chan struct{}, 1)
	s.turn <- struct{}{}
	for range writers {
		s.writersDone.Add(1)
		go s.writer()
	}
}

// stopWriters lets the writers commit what is queued, then stops them.
func (s *Store) stopWriters() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.queued)
	s.mu.Unlock()
	s.writersDone.Wait()
}

// writer waits for its turn, blocks for the first publish, then takes whatever else
// is already queued. There is no timer to gather: while one batch commits, the next
// gathers by itself. The turn passes on when the batch is done, or when it is stuck
// (see handoff): only then does a second batch run beside it. Batches one after
// another are larger, and cost the server (and this process) less per publish than
// batches side by side, which on a busy server only wait for each other's locks
// and CPU.
func (s *Store) writer() {
	defer s.writersDone.Done()
	batch := make([]*pubJob, 0, maxBatch)
	for range s.turn {
		first, ok := <-s.queued
		if !ok {
			s.turn <- struct{}{} // for the other writers to see the close
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-s.queued:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		var passed atomic.Bool
		pass := func() {
			if passed.CompareAndSwap(false, true) {
				s.turn <- struct{}{}
			}
		}
		start := time.Now()
		t := time.AfterFunc(s.handoff(), pass)
		s.commitBatch(batch)
		t.Stop()
		pass()
		s.observe(time.Since(start))
		clear(batch)
	}
}

// handoff is how long a batch may run before the next one starts beside it: several
// times what batches take lately, so that only a stuck one (waiting for a stream
// another node or a long change holds, a slow disk) lets another writer go.
func (s *Store) handoff() time.Duration {
	return min(max(minHandoff, 4*time.Duration(s.batchTime.Load())), maxHandoff)
}

// observe adds a batch's duration to the moving average handoff uses.
func (s *Store) observe(d time.Duration) {
	for {
		old := s.batchTime.Load()
		if s.batchTime.CompareAndSwap(old, old-old/8+int64(d)/8) {
			return
		}
	}
}

// Stats returns how many batch transactions the writers committed and how many
// publishes those held (for tests and benchmarks: their ratio is the grouping).
func (s *Store) Stats() (commits, publishes int64) {
	return s.commits.Load(), s.published.Load()
}

// commitBatch runs batch in one transaction and tells every caller its outcome.
func (s *Store) commitBatch(batch []*pubJob) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	live := make([]*pubJob, 0, len(batch))
	for _, j := range batch {
		if !j.state.CompareAndSwap(jobQueued, jobTaken) {
			continue // abandoned: its caller has returned; touch nothing of it
		}
		if err := j.ctx.Err(); err != nil {
			j.done <- err // its caller is giving up (and waits for this): write nothing
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		for _, j := range live {
			j.done <- classify(err)
		}
		return
	}
	defer pc.Release() // a connection left in a transaction is destroyed, not reused
	conn := pc.Conn()

	jobs, later, err := checkKeys(ctx, conn, live)
	if err != nil {
		for _, j := range live {
			j.done <- classify(err)
		}
		return
	}
	// Told only once this batch is over, so that their rerun finds its keys.
	defer func() {
		for _, j := range later {
			j.done <- errRetry
		}
	}()
	if len(jobs) == 0 {
		return
	}
	fail := func(err error) {
		s.noteWrite(err)
		for _, j := range jobs {
			j.done <- err
		}
	}
	err = s.runMerged(ctx, conn, jobs)
	// Run again only a transaction that is still open: one that is not may have
	// committed (a pipelined COMMIT runs whatever the client makes of the results),
	// and running it again would append its events twice.
	if err != nil && !conn.IsClosed() && ctx.Err() == nil && conn.PgConn().TxStatus() != 'I' {
		// Something in the merged statements failed: find out what, one publish
		// per savepoint. Nothing of the first attempt is left.
		s.log.Debug("merged publishes failed; running them one by one", "publishes", len(jobs), "err", err)
		s.fallbacks.Add(1)
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			fail(classify(rerr))
			return
		}
		for _, j := range jobs {
			j.reset()
		}
		err = s.runIsolated(ctx, conn, jobs)
	}
	if err != nil {
		if conn.IsClosed() {
			err = unavailable(err) // whatever the driver made of it, the server is gone
		}
		fail(classify(err))
		return
	}
	ok := 0
	for _, j := range jobs {
		if j.err == nil {
			ok++
		} else {
			s.noteWrite(j.err)
		}
	}
	if ok > 0 {
		s.noteWrite(nil)
	}
	s.commits.Add(1)
	s.published.Add(int64(ok))
	for _, j := range jobs {
		if errors.Is(j.err, errRetry) {
			later = append(later, j)
			continue
		}
		j.done <- j.err
	}
}

// checkKeys looks up the Idempotency-Keys of jobs before anything is written (a
// replay must not take sequences). A repeat of a remembered request gets the first
// result now; a key used with another request is EConflict; an expired key goes to
// the solo path, which replaces it. A new (or expired) key repeated within the batch
// waits for the batch (later) and then runs again, finding the first one's record.
// It returns the jobs still to run.
func checkKeys(ctx context.Context, conn *pgx.Conn, jobs []*pubJob) (run, later []*pubJob, err error) {
	var scopes, keys []string
	for _, j := range jobs {
		if j.req.IdempotencyKey != "" {
			scopes, keys = append(scopes, j.req.IdempotencyScope), append(keys, j.req.IdempotencyKey)
		}
	}
	if len(keys) == 0 {
		return jobs, nil, nil
	}
	type record struct {
		hash    string
		result  []byte
		created int64
	}
	found := make(map[[2]string]record, len(keys))
	rows, err := conn.Query(ctx, `SELECT i.scope, i.key, i.request_hash, i.result, i.created_at FROM idempotency i
		JOIN unnest($1::text[], $2::text[]) AS k(scope, key) ON i.scope = k.scope AND i.key = k.key`, scopes, keys)
	if err != nil {
		return nil, nil, err
	}
	var scope, key string
	var r record
	if _, err := pgx.ForEachRow(rows, []any{&scope, &key, &r.hash, &r.result, &r.created}, func() error {
		r.result = append([]byte(nil), r.result...)
		found[[2]string{scope, key}] = r
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read idempotency keys: %w", err)
	}
	seen := make(map[[2]string]bool, len(keys))
	for _, j := range jobs {
		req := j.req
		if req.IdempotencyKey == "" {
			run = append(run, j)
			continue
		}
		k := [2]string{req.IdempotencyScope, req.IdempotencyKey}
		rec, ok := found[k]
		expired := ok && j.now.Sub(fromMillis(rec.created)) >= tocsin.IdempotencyWindow
		switch {
		case (!ok || expired) && seen[k]:
			later = append(later, j) // the first of the batch with this key writes it
		case !ok:
			seen[k] = true
			run = append(run, j)
		case expired:
			seen[k] = true
			j.done <- errSolo
		case rec.hash != req.RequestHash:
			j.done <- tocsin.Errorf(tocsin.EConflict, "Idempotency-Key was already used with a different request")
		default:
			j.res = tocsin.PublishResult{Replayed: true}
			if err := json.Unmarshal(rec.result, &j.res.Notifications); err != nil {
				j.done <- fmt.Errorf("postgres: idempotency result: %w", err)
				continue
			}
			j.done <- nil
		}
	}
	return run, later, nil
}

// runMerged runs jobs optimistically: one pipeline holds the whole transaction when
// every job is merged; group-key publishes follow it, each in a savepoint, before
// COMMIT. An error leaves the transaction to roll back (or the connection closed).
func (s *Store) runMerged(ctx context.Context, conn *pgx.Conn, jobs []*pubJob) error {
	var merged, grouped []*pubJob
	for _, j := range jobs {
		if j.grouped {
			grouped = append(grouped, j)
		} else {
			merged = append(merged, j)
		}
	}
	p := newPlan(merged, groupedStreams(grouped))
	b := beginBatch()
	p.queue(b)
	if len(grouped) == 0 {
		b.Queue("COMMIT")
	}
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		return err
	}
	if err := p.finish(); err != nil {
		if len(grouped) > 0 {
			return err // not committed: roll back, run one by one
		}
		// Committed already, so it must not run again. (finish fails only if the
		// statements returned something inconsistent, which they cannot.)
		for _, j := range merged {
			j.err = err
		}
		return nil
	}
	if len(grouped) == 0 {
		return nil
	}
	for _, j := range grouped {
		if err := inSavepoint(ctx, tx, j, func() error { return publishTx(ctx, tx, j.req, &j.res) }); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// runIsolated runs jobs one per savepoint in one transaction, after locking all
// their streams at once (sorted, as always). A job that fails is rolled back alone
// and keeps its error; only a failure of the transaction itself is returned.
func (s *Store) runIsolated(ctx context.Context, conn *pgx.Conn, jobs []*pubJob) error {
	// Each keyed job takes its key in its own savepoint: in key order, so that two
	// such transactions never wait for each other's keys in a cycle.
	jobs = slices.Clone(jobs)
	slices.SortStableFunc(jobs, func(a, b *pubJob) int {
		return cmp.Or(cmp.Compare(a.req.IdempotencyScope, b.req.IdempotencyScope),
			cmp.Compare(a.req.IdempotencyKey, b.req.IdempotencyKey))
	})
	lock := newPlan(nil, append(groupedStreams(jobs), mergedStreams(jobs)...))
	b := beginBatch()
	lock.queue(b)
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		return err
	}
	for _, j := range jobs {
		var err error
		if j.grouped {
			err = inSavepoint(ctx, tx, j, func() error { return publishTx(ctx, tx, j.req, &j.res) })
		} else {
			err = inSavepoint(ctx, tx, j, func() error {
				p := newPlan([]*pubJob{j}, nil)
				b := &pgx.Batch{}
				p.queue(b)
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
				return p.finish()
			})
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// beginBatch returns a pipeline that begins a batch transaction. Its statements
// take arrays whose sizes change from batch to batch, so PostgreSQL would plan them
// afresh on every execution (a custom plan costs less for the arrays at hand than
// the generic plan looks): a fifth of the server's work. Their generic plans (index
// lookups, a hash join) suit every size, so the transaction uses them.
func beginBatch() *pgx.Batch {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue("SET LOCAL plan_cache_mode = force_generic_plan")
	return b
}

// inSavepoint runs fn, j's change, in a savepoint of tx. If fn fails, the savepoint is
// rolled back and j keeps the error; inSavepoint fails only when the transaction
// cannot go on (the connection is gone).
func inSavepoint(ctx context.Context, tx pgx.Tx, j *pubJob, fn func() error) error {
	if _, err := tx.Exec(ctx, "SAVEPOINT publish"); err != nil {
		return err
	}
	err := fn()
	if err == nil {
		_, err = tx.Exec(ctx, "RELEASE SAVEPOINT publish")
		return err
	}
	if tx.Conn().IsClosed() || ctx.Err() != nil {
		return err
	}
	if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT publish; RELEASE SAVEPOINT publish"); rerr != nil {
		return rerr
	}
	j.res = tocsin.PublishResult{}
	j.err = jobError(err)
	return nil
}

// jobError is what the caller of a publish that failed in its savepoint is told.
func jobError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && pe.TableName == "idempotency":
			return errRetry // a concurrent request committed the key first: replay it
		case pe.Code == "40P01" || pe.Code == "40001":
			return errRetry // deadlock or serialization failure: transient
		}
	}
	return classify(err)
}
