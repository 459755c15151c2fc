package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tocsin/tocsin"
)

// The writer runs the same few statements for every change. Compiling SQL is most of
// a change's CPU with modernc's SQLite, so the hot ones are prepared once, at Open, on
// the writer's only connection, and every transaction reuses them.

// wtx is the writer's transaction as changes see it: the querier methods of *sql.Tx,
// with the hot statements taken from the prepared set.
//
// The methods ignore the caller's context. Changes of many requests share the
// transaction, so one client going away must not interrupt it (SQLite rolls back
// the whole transaction when an INSERT or UPDATE is interrupted), and a cancelable
// context costs modernc's driver a goroutine per statement. A caller that stops
// waiting is answered by write; its change still commits or fails with the rest.
type wtx struct {
	*sql.Tx
	st *stmts
}

var bg = context.Background()

func (t *wtx) stmt(query string) *sql.Stmt {
	if p := t.st.hot[query]; p != nil {
		return t.Tx.StmtContext(bg, p)
	}
	return nil
}

func (t *wtx) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(query); st != nil {
		return st.ExecContext(bg, args...)
	}
	return t.Tx.ExecContext(bg, query, args...)
}

func (t *wtx) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(query); st != nil {
		return st.QueryContext(bg, args...)
	}
	return t.Tx.QueryContext(bg, query, args...)
}

func (t *wtx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return st.QueryRowContext(bg, args...)
	}
	return t.Tx.QueryRowContext(bg, query, args...)
}

// hotQueries are prepared at Open: what every publish, update and replay-free read
// of the writer runs.
var hotQueries = []string{
	sqlSavepoint, sqlRelease, sqlRollbackRelease,
	sqlInsertNotification, sqlAdvanceHead, sqlInsertEvent, sqlUnreadCount, sqlAdjustUnread,
	sqlGetNotification, sqlUpdateReadState,
	sqlIdempotencyGet, sqlIdempotencyPut, sqlAnyExpiredUnread, sqlExpiredUnread,
	sqlForgetSeq, sqlForgetRef,
	// The delivery engine's: every timer and outbox message is claimed, finished and
	// logged through these (tocsin bench timers: compiling them was a third of the
	// server's CPU while 100,000 escalation timers fired).
	sqlAddJob, sqlClaimJobs, sqlFinishJob, sqlRetryJob, sqlRecordDelivery,
}

// A publish runs each of its statements over all of its rows at once (and the writer
// merges the publishes of one commit into one such run): a multi-row statement is
// prepared for every power of two up to 1<<maxChunkLog rows, and n rows run as full
// chunks, then as the binary digits of what is left (30 rows: 16, 8, 4, 2). Parsing
// a statement of hundreds of rows costs more than running it, so none is compiled
// per request.
const maxChunkLog = 8 // 256 rows × 21 parameters, well under SQLite's 32,766

// chunked is one multi-row statement in every prepared size.
type chunked [maxChunkLog + 1]*sql.Stmt

// each calls fn over [0, n) in prepared chunks, largest first.
func (t *wtx) each(c *chunked, n int, fn func(st *sql.Stmt, lo, hi int) error) error {
	for lo := 0; lo < n; {
		k := maxChunkLog
		for 1<<k > n-lo {
			k--
		}
		hi := lo + 1<<k
		if err := fn(t.Tx.StmtContext(bg, c[k]), lo, hi); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}

// stmts is the writer's prepared set.
type stmts struct {
	hot map[string]*sql.Stmt
	// The multi-row statements of a publish.
	notifications, sharedNotifications, streams, events chunked
}

// Multi-row statements; rows repeat the parenthesised group. OR FAIL: a statement
// that fails keeps the rows it wrote before (its caller rolls back to a savepoint or
// the whole transaction anyway), which spares SQLite journaling every page the
// statement touches so that it could undo it alone.
const (
	sqlMultiNotifications = `INSERT OR FAIL INTO notifications (` + notificationCols + `, seq) VALUES `
	// Each row is one more event and one more unread item of the user's stream.
	sqlMultiStreams = `INSERT OR FAIL INTO streams (stream, head, unread) VALUES %s
		ON CONFLICT (stream) DO UPDATE SET head = head + 1, unread = unread + 1 RETURNING stream, head, unread`
	// Every event of a publish is named "notification" (a literal: one parameter
	// fewer to bind per row).
	sqlMultiEvents = `INSERT OR FAIL INTO events (stream, seq, type, data, unread, created_at, name) VALUES `
)

func prepareStmts(ctx context.Context, db *sql.DB) (*stmts, error) {
	s := &stmts{hot: make(map[string]*sql.Stmt, len(hotQueries))}
	prep := func(q string) (*sql.Stmt, error) {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		return st, nil
	}
	for _, q := range hotQueries {
		st, err := prep(q)
		if err != nil {
			return nil, err
		}
		s.hot[q] = st
	}
	for k := range maxChunkLog + 1 {
		rows := 1 << k
		for _, m := range []struct {
			c *chunked
			q string
		}{
			{&s.notifications, sqlMultiNotifications + placeholders(rows, 21)},
			{&s.sharedNotifications, sqlMultiNotifications + sharedPlaceholders(rows)},
			{&s.streams, fmt.Sprintf(sqlMultiStreams, placeholders(rows, 1, "1", "1"))},
			{&s.events, sqlMultiEvents + placeholders(rows, 6, "'"+tocsin.EventNotification+"'")},
		} {
			st, err := prep(m.q)
			if err != nil {
				return nil, err
			}
			m.c[k] = st
		}
	}
	return s, nil
}

func (s *stmts) close() {
	for _, p := range s.hot {
		p.Close()
	}
	for _, c := range []*chunked{&s.notifications, &s.sharedNotifications, &s.streams, &s.events} {
		for _, p := range c {
			if p != nil {
				p.Close()
			}
		}
	}
}

// placeholders returns rows groups of cols "?" followed by the literals extra:
// placeholders(2, 1, "1") is "(?, 1), (?, 1)".
func placeholders(rows, cols int, extra ...string) string {
	vals := strings.Repeat("?, ", cols) + strings.Join(extra, ", ")
	one := "(" + strings.TrimSuffix(vals, ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// sharedPlaceholders is placeholders(rows, 21) for rows that share every column but
// the first two (id, user_id) and the last (seq): those are ?19, ?20 … ?21 for the
// first row, ?22, ?23 … ?24 for the next, and the other eighteen columns are ?1 … ?18
// in every row.
func sharedPlaceholders(rows int) string {
	var common strings.Builder
	for c := 1; c <= 18; c++ {
		fmt.Fprintf(&common, ", ?%d", c)
	}
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(?%d, ?%d%s, ?%d)", 19+3*r, 20+3*r, common.String(), 21+3*r)
	}
	return b.String()
}
