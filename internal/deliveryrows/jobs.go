// Package deliveryrows holds what both stores do alike with the delivery engine's rows
// (tocsin.DeliveryStore) outside SQL: checking and completing jobs to add, checking a
// listing's query, ordering claimed jobs, cutting a page; encoding preferences and
// webhook events.
package deliveryrows

import (
	"cmp"
	"slices"
	"time"

	"github.com/tocsin/tocsin"
)

// Limits of one listing (as the notifications' list: tocsin.DefaultListLimit,
// tocsin.MaxListLimit).
const (
	DefaultLimit = tocsin.DefaultListLimit
	MaxLimit     = tocsin.MaxListLimit
)

// MaxClaim bounds the jobs of one claim.
const MaxClaim = 1000

// Prepare checks jobs to add and returns a copy completed for storing: an ID (from
// ids, time-sortable at now) where none was given, CreatedAt now where zero, times in
// UTC milliseconds. A job needs a Kind and a DueAt (EInvalid otherwise).
func Prepare(jobs []tocsin.Job, now time.Time, ids *tocsin.IDGen) ([]tocsin.Job, error) {
	out := make([]tocsin.Job, len(jobs))
	for i, j := range jobs {
		if j.Kind == "" {
			return nil, tocsin.Errorf(tocsin.EInvalid, "job %d has no kind", i)
		}
		if j.DueAt.IsZero() {
			return nil, tocsin.Errorf(tocsin.EInvalid, "job %d has no due time", i)
		}
		if j.CreatedAt.IsZero() {
			j.CreatedAt = now
		}
		if j.ID == "" {
			j.ID = ids.New(j.CreatedAt)
		}
		j.DueAt, j.CreatedAt = j.DueAt.UTC().Truncate(time.Millisecond), j.CreatedAt.UTC().Truncate(time.Millisecond)
		out[i] = j
	}
	return out, nil
}

// Claim checks a claim's lease and bounds its limit to 1..MaxClaim.
func Claim(lease time.Duration, limit int) (int, error) {
	if lease <= 0 {
		return 0, tocsin.Errorf(tocsin.EInvalid, "a claim's lease must be positive")
	}
	return min(max(limit, 1), MaxClaim), nil
}

// Finished checks a FinishJob's state.
func Finished(state string) error {
	if state != tocsin.JobDone && state != tocsin.JobFailed {
		return tocsin.Errorf(tocsin.EInvalid, "a job finishes %s or %s, not %q", tocsin.JobDone, tocsin.JobFailed, state)
	}
	return nil
}

// ErrNoPending is the answer about a job that is not (or no longer) pending.
var ErrNoPending = tocsin.Errorf(tocsin.ENotFound, "no such pending job")

// ErrRunning is the answer to cancelling a job a claim holds.
var ErrRunning = tocsin.Errorf(tocsin.EConflict, "it is being delivered right now; it can no longer be cancelled")

// Query checks q (a kind is required; a state must be one of the three) and bounds
// its limit: DefaultLimit when unset, at most MaxLimit.
func Query(q tocsin.JobQuery) (tocsin.JobQuery, error) {
	if q.Kind == "" {
		return q, tocsin.Errorf(tocsin.EInvalid, "a job listing needs a kind")
	}
	switch q.State {
	case "", tocsin.JobPending, tocsin.JobDone, tocsin.JobFailed:
	default:
		return q, tocsin.Errorf(tocsin.EInvalid, "job state %q is not pending, done or failed", q.State)
	}
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	return q, nil
}

// Page cuts rows (newest first, up to limit+1 of them) to a page of limit and
// returns the cursor of the next page, "" when this is the last.
func Page(rows []tocsin.Job, limit int) ([]tocsin.Job, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, rows[limit-1].ID
}

// SortByDue orders claimed jobs earliest due first (then by id), as ClaimJobs
// returns them: an UPDATE ... RETURNING has no order of its own.
func SortByDue(jobs []tocsin.Job) {
	slices.SortFunc(jobs, func(a, b tocsin.Job) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID))
	})
}
