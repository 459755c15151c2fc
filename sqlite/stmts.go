package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// The writer runs the same few statements for every change. Compiling SQL is most of
// a change's CPU with modernc's SQLite, so the hot ones are prepared once, at Open, on
// the writer's only connection, and every transaction reuses them.

// wtx is the writer's transaction as changes see it: the querier methods of *sql.Tx,
// with the hot statements taken from the prepared set.
type wtx struct {
	*sql.Tx
	prepared map[string]*sql.Stmt
}

func (t *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	if p := t.prepared[query]; p != nil {
		return t.Tx.StmtContext(ctx, p)
	}
	return nil
}

func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// hotQueries are prepared at Open: what every publish, update and replay-free read
// of the writer runs.
var hotQueries = []string{
	sqlSavepoint, sqlRelease, sqlRollbackRelease,
	sqlInsertNotification, sqlAdvanceHead, sqlInsertEvent, sqlUnreadCount, sqlAdjustUnread,
	sqlGetNotification, sqlUpdateReadState,
}

func prepareHot(ctx context.Context, db *sql.DB) (map[string]*sql.Stmt, error) {
	out := make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			for _, p := range out {
				p.Close()
			}
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		out[q] = st
	}
	return out, nil
}
