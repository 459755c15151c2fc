package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// reads is the read pool with its statements prepared once per connection.
//
// database/sql prepares a query's text anew on every QueryContext, and SQLite's
// parser and planner are most of the cost of a small read: opening a stream (the
// init snapshot: the list, the count, the head) spent 43 % of its CPU in
// sqlite3Prepare. So reads go through statements kept by their text, which
// database/sql prepares once on each pooled connection (and reuses inside read
// transactions, through Tx.StmtContext). The texts are a small set (the list query
// varies only by its filters); past maxReadStmts, a text is run unprepared, as is
// each text until its statement is ready.
type reads struct {
	db        *sql.DB
	mu        sync.Mutex
	stmts     map[string]*sql.Stmt // nil once closed
	preparing map[string]bool
	// The prepares under way: close cancels them and waits for them, so none
	// holds (or opens) a connection after the store's Close.
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

const maxReadStmts = 256

func newReads(db *sql.DB) *reads {
	ctx, cancel := context.WithCancel(context.Background())
	return &reads{db: db, stmts: map[string]*sql.Stmt{}, preparing: map[string]bool{}, ctx: ctx, cancel: cancel}
}

// stmt returns the kept statement of query, or nil when there is none (yet): the
// caller then runs the text directly. A miss prepares the statement in the
// background, never while the caller waits: a read transaction holds its pool
// connection, and a prepare that waited for a free one while every connection
// was held by such transactions waiting for this cache would never end.
func (r *reads) stmt(query string) *sql.Stmt {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.stmts[query]; ok {
		return st
	}
	if r.stmts != nil && !r.preparing[query] && len(r.stmts)+len(r.preparing) < maxReadStmts {
		r.preparing[query] = true
		// Added under mu while open: close, which sets stmts to nil under mu
		// before it waits, never sees an Add after its Wait began.
		r.running.Add(1)
		go r.prepare(query)
	}
	return nil
}

func (r *reads) prepare(query string) {
	defer r.running.Done()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	st, err := r.db.PrepareContext(ctx, query)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.preparing, query)
	if err != nil {
		return // run unprepared; tried again on a later miss
	}
	if r.stmts == nil { // closed meanwhile
		_ = st.Close()
		return
	}
	r.stmts[query] = st
}

// close closes the kept statements and returns once no prepare runs: those under
// way are cancelled (one waiting for a pool connection ends at once).
func (r *reads) close() {
	r.mu.Lock()
	for _, st := range r.stmts {
		_ = st.Close()
	}
	r.stmts = nil
	r.mu.Unlock()
	r.cancel()
	r.running.Wait()
}

func (r *reads) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.db.ExecContext(ctx, query, args...)
}

func (r *reads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, query, args...)
}

func (r *reads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmt(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, query, args...)
}

// in returns a querier for the read transaction tx that uses the kept statements.
func (r *reads) in(tx *sql.Tx) querier { return txReads{r: r, tx: tx} }

type txReads struct {
	r  *reads
	tx *sql.Tx
}

func (t txReads) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, query, args...)
}

func (t txReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.r.stmt(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.r.stmt(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
