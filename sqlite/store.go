// Package sqlite is the embedded tocsin.Store: one SQLite file in WAL mode through
// modernc.org/sqlite (pure Go, no cgo). All changes go through one writer goroutine
// that commits whatever is queued in one transaction (group commit); reads use a
// separate pool of read-only connections and never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/migrations"
)

// Options tune a Store.
type Options struct {
	// Sync is "full" (default: every commit is fsynced, surviving power loss) or
	// "normal" (survives a process crash, may lose the last commits on power loss).
	Sync string
	// MaxBatch bounds how many changes one transaction commits (512).
	MaxBatch int
	// Readers is the size of the read connection pool (8).
	Readers int
	Logger  *slog.Logger
	// Now is the store's clock (time.Now): reads that hide expired notifications and
	// the end of stream tickets are judged by it.
	Now func() time.Time
}

// Store is a tocsin.Store on one SQLite file.
type Store struct {
	w, r  *sql.DB // w: the writer's single connection; r: read-only pool
	c     *sql.DB // the checkpointer's connection (checkpoint.go)
	conns *conns  // counts the connections of w, r and c (conns.go)
	rs    *reads  // the read pool's kept statements (reads.go)
	path  string
	epoch string
	log   *slog.Logger
	max   int
	clock func() time.Time // Options.Now

	fault  atomic.Pointer[writeFault] // the last write's fault, nil once one commits (fault.go)
	probed atomic.Int64               // when Ping last tried a write (unix ns)

	st *stmts // the writer's prepared statements (stmts.go)

	mu     sync.RWMutex // guards closed and sends on queued
	closed bool
	queued chan *change
	done   chan struct{}

	ckptKick   chan struct{} // the writer asks the checkpointer to copy
	ckptDone   chan struct{} // closed when the checkpointer has stopped
	ckptFinish atomic.Bool   // the checkpointer copied: the writer finishes the job
	ckptCount  int           // rows written since the last kick (writer only)

	jobIDs tocsin.IDGen // ids of jobs added without one (jobs.go)

	commits atomic.Int64 // transactions committed, for tests and metrics
	changes atomic.Int64 // changes committed
}

var _ tocsin.Store = (*Store)(nil)

// now is the store's clock, in UTC.
func (s *Store) now() time.Time { return s.clock().UTC() }

// Open opens (creating if needed) the database at path and runs its migrations.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if o.Sync == "" {
		o.Sync = "full"
	}
	if o.Sync != "full" && o.Sync != "normal" {
		return nil, fmt.Errorf("sqlite: sync %q: want full or normal", o.Sync)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.Readers <= 0 {
		o.Readers = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := privateFiles(path, o.Logger); err != nil {
		if f := faultOf(err, path); f != nil {
			return nil, refuse(path, f, err)
		}
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	// A store that cannot be written (read-only files or file system, a full disk)
	// still opens and reads: it is refused here with what to do, not found out by
	// every publish.
	cantWrite := func(err error) error {
		if f := faultOf(err, path); f != nil {
			return refuse(path, f, err)
		}
		return err
	}
	// Every connection is counted, so that Close (and a failed Open) return only
	// once all are closed: conns.go.
	cs := newConns(o.Logger)
	var dbs []*sql.DB
	fail := func(err error) error {
		for _, db := range dbs {
			db.Close()
		}
		cs.closeWait()
		return err
	}
	pool := func(role int) (*sql.DB, error) {
		db, err := cs.db(dsn(path, o.Sync, role))
		if err == nil {
			dbs = append(dbs, db)
		}
		return db, err
	}
	w, err := pool(roleWriter)
	if err != nil {
		return nil, fail(err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		return nil, fail(cantWrite(err))
	}
	epoch, err := loadEpoch(ctx, w)
	if err != nil {
		return nil, fail(cantWrite(err))
	}
	if _, err := w.ExecContext(ctx, sqlWriteCheck, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return nil, fail(cantWrite(fmt.Errorf("sqlite: write check: %w", err)))
	}
	st, err := prepareStmts(ctx, w)
	if err != nil {
		return nil, fail(err)
	}
	r, err := pool(roleReader)
	if err != nil {
		return nil, fail(err)
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	c, err := pool(roleCheckpointer)
	if err != nil {
		return nil, fail(err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	s := &Store{
		w: w, r: r, c: c, conns: cs, rs: newReads(r), path: path, epoch: epoch, log: o.Logger, max: o.MaxBatch, st: st, clock: o.Now,
		queued: make(chan *change, 4*o.MaxBatch), done: make(chan struct{}),
		ckptKick: make(chan struct{}, 1), ckptDone: make(chan struct{}),
	}
	go s.checkpointer()
	go s.writer()
	return s, nil
}

// The connections of a Store.
const (
	roleWriter       = iota // the one writer
	roleReader              // the pool of readers
	roleCheckpointer        // copies the WAL into the database (checkpoint.go)
)

func dsn(path, sync string, role int) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+strings.ToUpper(sync)+")")
	q.Add("_pragma", "foreign_keys(ON)")
	// A WAL that a burst (back-to-back bulk publishes) grew is reused from its start
	// after a checkpoint, never shrunk: past 64 MiB it is truncated back to that
	// when it is reset, so the disk space comes back.
	q.Add("_pragma", "journal_size_limit(67108864)")
	switch role {
	case roleReader:
		q.Add("_pragma", "query_only(ON)")
	case roleWriter:
		q.Add("_txlock", "immediate")
		// The writer's savepoints journal every page a change touches; in memory
		// that is a copy, in a temporary file it was two pwrite(2)s per page.
		q.Add("_pragma", "temp_store(MEMORY)")
		// A bulk publish dirties thousands of pages in one transaction; with the
		// default 2 MiB cache they spill to the WAL before the commit, twice over.
		q.Add("_pragma", "cache_size(-32768)")
		// The checkpointer copies the WAL into the database (checkpoint.go); the
		// writer does it itself only if the WAL reaches this many pages (64 MiB),
		// as a backstop.
		q.Add("_pragma", "wal_autocheckpoint(16384)")
	}
	return "file:" + path + "?" + q.Encode()
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	if err := migrations.Run(ctx, migrationTarget{db}, migrations.SQLite); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// migrationTarget runs the shared migration steps on the writer connection.
type migrationTarget struct{ db *sql.DB }

func (m migrationTarget) Applied(ctx context.Context) (map[int]bool, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		done[v] = true
	}
	return done, rows.Err()
}

func (m migrationTarget) Apply(ctx context.Context, version int, body string) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// loadEpoch reads the store's epoch, making it once for a new database.
func loadEpoch(ctx context.Context, db *sql.DB) (string, error) {
	var e string
	err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&e)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: read epoch: %w", err)
	}
	e = tocsin.NewEpoch()
	if _, err := db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('epoch', ?) ON CONFLICT (key) DO NOTHING`, e); err != nil {
		return "", fmt.Errorf("sqlite: write epoch: %w", err)
	}
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&e)
	return e, err
}

// Epoch implements tocsin.Store.
func (s *Store) Epoch() string { return s.epoch }

// Ping implements tocsin.Store: the store reads, and writes (its last write did not
// fail for want of a writable file system or disk: see fault.go).
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	if err := s.r.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	return s.writable(ctx)
}

// Stats reports how many transactions and changes the writer committed.
func (s *Store) Stats() (commits, changes int64) { return s.commits.Load(), s.changes.Load() }

var errClosed = tocsin.Errorf(tocsin.EUnavailable, "store is closed")

// Close lets the queued changes commit, then closes the database. It returns once
// nothing of the store runs or can touch its files: the writer, the checkpointer
// and the statement prepares have stopped, and every connection is closed (a read
// under way when Close began ends first; later ones are refused).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queued)
	s.mu.Unlock()
	<-s.done
	close(s.ckptKick)
	<-s.ckptDone
	s.rs.close()
	err := errors.Join(s.c.Close(), s.r.Close(), s.w.Close())
	s.conns.closeWait()
	return err
}
