package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/deliveryrows"
)

// The delivery engine's jobs (tocsin.Jobs): its durable timers and outbox. Every
// change goes through the writer like any other, so a claim, a finish or a retry has
// returned only once it is durable; the writer is the only one, so a claim needs no
// lock to be exclusive.

var _ tocsin.DeliveryStore = (*Store)(nil)

const (
	// key and order_key are NULL when "": the unique index on key then never
	// matches, and the order index holds only ordered jobs.
	sqlAddJob = `INSERT INTO jobs (id, kind, key, user_id, ref, channel, target, order_key, ord, due_at, payload,
		state, attempts, created_at) VALUES (?, ?, NULLIF(?, ''), ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?, 'pending', 0, ?)
		ON CONFLICT DO NOTHING`
	// The claimable jobs, in due order through jobs_due: due, not held by a running
	// lease, and not behind an earlier pending job of their order key (which blocks
	// whether it is due, leased or not: jobs_order answers that).
	sqlClaimJobs = `UPDATE jobs SET lease_until = ?1, attempts = attempts + 1 WHERE id IN (
		SELECT j.id FROM jobs j INDEXED BY jobs_due
		WHERE j.state = 'pending' AND j.due_at <= ?2 AND (j.lease_until IS NULL OR j.lease_until <= ?2)
		AND (j.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e INDEXED BY jobs_order
			WHERE e.state = 'pending' AND e.order_key = j.order_key AND (e.ord, e.id) < (j.ord, j.id)))
		ORDER BY j.due_at, j.id LIMIT ?3)
		RETURNING ` + deliveryrows.JobCols
	sqlFinishJob = `UPDATE jobs SET state = ?, last_error = ?, last_status = ?, finished_at = ?, lease_until = NULL
		WHERE id = ? AND state = 'pending'`
	sqlRetryJob = `UPDATE jobs SET due_at = ?, last_error = ?, last_status = ?, lease_until = NULL
		WHERE id = ? AND state = 'pending'`
	sqlCancelJob = `DELETE FROM jobs WHERE id = (SELECT id FROM jobs INDEXED BY jobs_ref
		WHERE ref = ? AND kind = ? AND state = 'pending' AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT 1) RETURNING ` + deliveryrows.JobCols
	sqlJobLeased = `SELECT 1 FROM jobs INDEXED BY jobs_ref WHERE ref = ? AND kind = ? AND state = 'pending' LIMIT 1`
	// When a pending job can next be claimed: the earliest due among those no claim
	// holds (the first of jobs_due that has no lease), or the end of a lease (the
	// few held ones, through jobs_leased; a held job was due when it was claimed).
	sqlNextDue = `SELECT min(t) FROM (
		SELECT * FROM (SELECT due_at AS t FROM jobs INDEXED BY jobs_due
			WHERE state = 'pending' AND lease_until IS NULL ORDER BY due_at LIMIT 1)
		UNION ALL
		SELECT max(due_at, lease_until) FROM jobs INDEXED BY jobs_leased
			WHERE state = 'pending' AND lease_until IS NOT NULL)`
	sqlPruneJobs = `DELETE FROM jobs INDEXED BY jobs_finished
		WHERE finished_at IS NOT NULL AND finished_at < ? AND state IN ('done', 'failed')`
)

// collectRows scans every row of rows with scan and closes them: an empty list,
// never nil.
func collectRows[T any](rows *sql.Rows, scan func(deliveryrows.Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// AddJobs implements tocsin.Jobs. A job without an ID gets one (time-sortable, of
// its CreatedAt); a job without CreatedAt is created now.
func (s *Store) AddJobs(ctx context.Context, jobs []tocsin.Job) (int, error) {
	jobs, err := deliveryrows.Prepare(jobs, s.now(), &s.jobIDs)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	added := 0
	err = s.write(ctx, func(tx *wtx) error {
		added = 0 // a restarted transaction runs fn again
		for i := range jobs {
			j := &jobs[i]
			res, err := tx.ExecContext(ctx, sqlAddJob, j.ID, string(j.Kind), j.Key, j.UserID, j.Ref, j.Channel, j.Target,
				j.OrderKey, j.Ord, j.DueAt.UnixMilli(), j.Payload, j.CreatedAt.UnixMilli())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
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
	err = s.write(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, sqlClaimJobs, now.Add(lease).UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		out, err = collectRows(rows, deliveryrows.ScanJob)
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
	return s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, sqlFinishJob, state, note, status, now.UnixMilli(), id)
		return pendingJobChanged(res, err)
	})
}

// RetryJob implements tocsin.Jobs.
func (s *Store) RetryJob(ctx context.Context, id string, dueAt time.Time, note string, status int) error {
	return s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, sqlRetryJob, dueAt.UnixMilli(), note, status, id)
		return pendingJobChanged(res, err)
	})
}

// pendingJobChanged is ENotFound when the statement changed no pending job (it was
// finished, cancelled or pruned meanwhile).
func pendingJobChanged(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return deliveryrows.ErrNoPending
	}
	return nil
}

// CancelJob implements tocsin.Jobs.
func (s *Store) CancelJob(ctx context.Context, kind tocsin.JobKind, ref string, now time.Time) (tocsin.Job, error) {
	var j tocsin.Job
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		j, err = deliveryrows.ScanJob(tx.QueryRowContext(ctx, sqlCancelJob, ref, string(kind), now.UnixMilli()))
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if tx.QueryRowContext(ctx, sqlJobLeased, ref, string(kind)).Scan(&one) == nil {
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
	b.WriteString(`SELECT ` + deliveryrows.JobCols + ` FROM jobs WHERE kind = ?`)
	args := []any{string(q.Kind)}
	for _, f := range []struct{ col, v string }{{"user_id", q.UserID}, {"target", q.Target}, {"state", q.State}, {"ref", q.Ref}} {
		if f.v != "" {
			b.WriteString(" AND " + f.col + " = ?")
			args = append(args, f.v)
		}
	}
	if q.Before != "" {
		b.WriteString(" AND id < ?")
		args = append(args, q.Before)
	}
	b.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, q.Limit+1)
	rows, err := s.rs.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, "", unavailable("list jobs", err)
	}
	out, err := collectRows(rows, deliveryrows.ScanJob)
	if err != nil {
		return nil, "", unavailable("list jobs", err)
	}
	page, next := deliveryrows.Page(out, q.Limit)
	return page, next, nil
}

// NextDue implements tocsin.Jobs.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.rs.QueryRowContext(ctx, sqlNextDue).Scan(&at); err != nil {
		return time.Time{}, false, unavailable("next due job", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(at.Int64), true, nil
}

// PruneJobs implements tocsin.Jobs.
func (s *Store) PruneJobs(ctx context.Context, before time.Time) (int, error) {
	return s.deleteBefore(ctx, sqlPruneJobs, before)
}

// deleteBefore runs a pruning DELETE whose one parameter is a time.
func (s *Store) deleteBefore(ctx context.Context, query string, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, query, before.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
