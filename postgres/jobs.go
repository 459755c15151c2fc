package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/deliveryrows"
)

// The delivery engine's jobs (tocsin.Jobs): its durable timers and outbox, shared by
// every node. A claim is one statement that locks the rows it takes with FOR UPDATE
// SKIP LOCKED, so nodes claiming at once never take the same job: a row another
// claim holds is skipped, and one that another claim committed meanwhile is checked
// again on its new version (its lease then runs, and it is not taken).

var _ tocsin.DeliveryStore = (*Store)(nil)

const (
	// key and order_key are NULL when "": the unique index on key then never
	// matches, and the order index holds only ordered jobs.
	sqlAddJob = `INSERT INTO jobs (id, kind, key, user_id, ref, channel, target, order_key, ord, due_at, payload,
		state, attempts, created_at) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, NULLIF($8, ''), $9, $10, $11, 'pending', 0, $12)
		ON CONFLICT DO NOTHING`
	// The claimable jobs, in due order through jobs_due: due, not held by a running
	// lease, and not behind an earlier pending job of their order key (which blocks
	// whether it is due, leased or not: jobs_order answers that).
	sqlClaimJobs = `UPDATE jobs SET lease_until = $1, attempts = attempts + 1 WHERE id IN (
		SELECT j.id FROM jobs j
		WHERE j.state = 'pending' AND j.due_at <= $2 AND (j.lease_until IS NULL OR j.lease_until <= $2)
		AND (j.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e
			WHERE e.state = 'pending' AND e.order_key = j.order_key AND (e.ord, e.id) < (j.ord, j.id)))
		ORDER BY j.due_at, j.id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING ` + deliveryrows.JobCols
	sqlFinishJob = `UPDATE jobs SET state = $1, last_error = $2, last_status = $3, finished_at = $4, lease_until = NULL
		WHERE id = $5 AND state = 'pending'`
	sqlRetryJob = `UPDATE jobs SET due_at = $1, last_error = $2, last_status = $3, lease_until = NULL
		WHERE id = $4 AND state = 'pending'`
	sqlCancelJob = `DELETE FROM jobs WHERE id = (SELECT id FROM jobs
		WHERE ref = $1 AND kind = $2 AND state = 'pending' AND (lease_until IS NULL OR lease_until <= $3) ORDER BY id LIMIT 1 FOR UPDATE) RETURNING ` + deliveryrows.JobCols
	sqlJobLeased = `SELECT 1 FROM jobs WHERE ref = $1 AND kind = $2 AND state = 'pending' LIMIT 1`
	// When a pending job can next be claimed: the earliest due among those no claim
	// holds (the first of jobs_due that has no lease), or the end of a lease (the
	// few held ones, through jobs_leased). least ignores NULLs.
	sqlNextDue = `SELECT least(
		(SELECT due_at FROM jobs WHERE state = 'pending' AND lease_until IS NULL ORDER BY due_at LIMIT 1),
		(SELECT min(greatest(due_at, lease_until)) FROM jobs WHERE state = 'pending' AND lease_until IS NOT NULL))`
	sqlPruneJobs = `DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 AND state IN ('done', 'failed')`
)

// collectAll scans every row of rows with scan: an empty list, never nil.
func collectAll[T any](rows pgx.Rows, scan func(deliveryrows.Scanner) (T, error)) ([]T, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err == nil && out == nil {
		out = []T{}
	}
	return out, err
}

// exec runs one change outside a transaction of its own making and returns how many
// rows it touched; a refused write is kept as the store's fault, as write does.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, query, args...)
	err = classify(err)
	s.noteWrite(err)
	return tag.RowsAffected(), err
}

// AddJobs implements tocsin.Jobs. A job without an ID gets one (time-sortable, of
// its CreatedAt); a job without CreatedAt is created now.
func (s *Store) AddJobs(ctx context.Context, jobs []tocsin.Job) (int, error) {
	jobs, err := deliveryrows.Prepare(jobs, s.now(), &s.jobIDs)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	added := 0
	err = s.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for i := range jobs {
			j := &jobs[i]
			b.Queue(sqlAddJob, j.ID, string(j.Kind), j.Key, j.UserID, j.Ref, j.Channel, j.Target,
				j.OrderKey, j.Ord, j.DueAt.UnixMilli(), j.Payload, j.CreatedAt.UnixMilli())
		}
		br := tx.SendBatch(ctx, b)
		added = 0
		for range jobs {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			added += int(tag.RowsAffected())
		}
		return br.Close()
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// ClaimJobs implements tocsin.Jobs.
func (s *Store) ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]tocsin.Job, error) {
	limit, err := deliveryrows.Claim(lease, limit)
	if err != nil {
		return nil, err
	}
	var out []tocsin.Job
	err = s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlClaimJobs, now.Add(lease).UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		out, err = collectAll(rows, deliveryrows.ScanJob)
		return err
	})
	if err != nil {
		return nil, err
	}
	deliveryrows.SortByDue(out) // RETURNING has no order of its own
	return out, nil
}

// FinishJob implements tocsin.Jobs.
func (s *Store) FinishJob(ctx context.Context, id, state, note string, status int, now time.Time) error {
	if err := deliveryrows.Finished(state); err != nil {
		return err
	}
	return pendingJobChanged(s.exec(ctx, sqlFinishJob, state, note, status, now.UnixMilli(), id))
}

// RetryJob implements tocsin.Jobs.
func (s *Store) RetryJob(ctx context.Context, id string, dueAt time.Time, note string, status int) error {
	return pendingJobChanged(s.exec(ctx, sqlRetryJob, dueAt.UnixMilli(), note, status, id))
}

// pendingJobChanged is ENotFound when the statement changed no pending job (it was
// finished, cancelled or pruned meanwhile).
func pendingJobChanged(n int64, err error) error {
	if err == nil && n == 0 {
		return deliveryrows.ErrNoPending
	}
	return err
}

// CancelJob implements tocsin.Jobs.
func (s *Store) CancelJob(ctx context.Context, kind tocsin.JobKind, ref string, now time.Time) (tocsin.Job, error) {
	var j tocsin.Job
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		j, err = deliveryrows.ScanJob(tx.QueryRow(ctx, sqlCancelJob, ref, string(kind), now.UnixMilli()))
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			if tx.QueryRow(ctx, sqlJobLeased, ref, string(kind)).Scan(&one) == nil {
				return deliveryrows.ErrRunning
			}
			return deliveryrows.ErrNoPending
		}
		return err
	})
	return j, err
}

// ListJobs implements tocsin.Jobs.
func (s *Store) ListJobs(ctx context.Context, q tocsin.JobQuery) ([]tocsin.Job, string, error) {
	q, err := deliveryrows.Query(q)
	if err != nil {
		return nil, "", err
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + deliveryrows.JobCols + ` FROM jobs WHERE kind = $1`)
	args := []any{string(q.Kind)}
	cond := func(col string, v any) {
		args = append(args, v)
		fmt.Fprintf(&b, " AND %s $%d", col, len(args))
	}
	for _, f := range []struct{ col, v string }{{"user_id =", q.UserID}, {"target =", q.Target}, {"state =", q.State}, {"ref =", q.Ref}, {"id <", q.Before}} {
		if f.v != "" {
			cond(f.col, f.v)
		}
	}
	args = append(args, q.Limit+1)
	fmt.Fprintf(&b, " ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, "", classify(err)
	}
	out, err := collectAll(rows, deliveryrows.ScanJob)
	if err != nil {
		return nil, "", classify(err)
	}
	page, next := deliveryrows.Page(out, q.Limit)
	return page, next, nil
}

// NextDue implements tocsin.Jobs.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at *int64
	if err := s.pool.QueryRow(ctx, sqlNextDue).Scan(&at); err != nil {
		return time.Time{}, false, classify(err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return fromMillis(*at), true, nil
}

// PruneJobs implements tocsin.Jobs.
func (s *Store) PruneJobs(ctx context.Context, before time.Time) (int, error) {
	n, err := s.exec(ctx, sqlPruneJobs, before.UnixMilli())
	return int(n), err
}
