// Package postgres is the tocsin.Store on PostgreSQL (pgx), shared by every node of a
// cluster. Publishes are committed in groups: a few writers each run whatever
// publishes are queued as one transaction of multi-row statements, sent in one
// round trip, with one WAL flush (writer.go); every other change is a transaction of
// its own. Sequences are taken by locking the affected streams' rows in a fixed
// order, so commits of one stream are serialised (a reader never sees seq N+1 before
// seq N) while changes to different streams run in parallel.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/migrations"
)

// Store is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	epoch string
	log   *slog.Logger
	clock func() time.Time // Options.Now

	jobIDs tocsin.IDGen // ids of jobs added without one (jobs.go)

	fault  atomic.Pointer[tocsin.Error] // the last write's refusal, nil once one succeeds (fault.go)
	probed atomic.Int64                 // when Ping last tried a write (unix ns)

	// The publish queue and its writers (writer.go). mu guards closed against
	// sends on a closed queue.
	mu          sync.RWMutex
	closed      bool
	queued      chan *pubJob
	turn        chan struct{} // the token of the writer that may take a batch
	writersDone sync.WaitGroup
	batchTime   atomic.Int64 // moving average of batch durations, ns
	commits     atomic.Int64
	published   atomic.Int64
	fallbacks   atomic.Int64 // batches run again one publish per savepoint
}

var _ tocsin.Store = (*Store)(nil)

// now is the store's clock, in UTC.
func (s *Store) now() time.Time { return s.clock().UTC() }

// Open connects to url (postgres://user:pass@host:5432/db?...), runs the migrations
// (serialised between nodes by an advisory lock) and reads or makes the epoch.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	return OpenOptions(ctx, url, Options{Logger: log})
}

// Options tune a Store; the zero value is the defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the store's clock (time.Now): reads that hide expired notifications and
	// the end of stream tickets are judged by it.
	Now func() time.Time
}

// OpenOptions is Open with options.
func OpenOptions(ctx context.Context, url string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	// Without a connect_timeout in the URL a connection attempt to a host that
	// drops packets waits for TCP to give up (minutes), holding the request, or a
	// worker of the hub, that needed it; 5 s, unless the URL says otherwise.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, log: log, clock: o.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, refuse(err)
	}
	// loadEpoch writes (an INSERT that may do nothing): a database that refuses
	// writes is refused here, with what to do, not found out by every publish.
	if s.epoch, err = s.loadEpoch(ctx); err != nil {
		pool.Close()
		return nil, refuse(err)
	}
	s.startWriters()
	return s, nil
}

// migrationLock is the advisory lock key that serialises migrations between nodes.
const migrationLock = 0x7463_7369_6e // "tcsin"

func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, applied_at bigint NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrations table: %w", err)
	}
	if err := migrations.Run(ctx, migrationTarget{conn.Conn()}, migrations.Postgres); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

type migrationTarget struct{ c *pgx.Conn }

func (m migrationTarget) Applied(ctx context.Context) (map[int]bool, error) {
	rows, err := m.c.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	done := map[int]bool{}
	for _, v := range vs {
		done[v] = true
	}
	return done, err
}

func (m migrationTarget) Apply(ctx context.Context, version int, body string) error {
	return pgx.BeginFunc(ctx, m.c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, body); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
			version, time.Now().UnixMilli())
		return err
	})
}

func (s *Store) loadEpoch(ctx context.Context) (string, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING`, tocsin.NewEpoch()); err != nil {
		return "", fmt.Errorf("postgres: write epoch: %w", err)
	}
	var e string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&e); err != nil {
		return "", fmt.Errorf("postgres: read epoch: %w", err)
	}
	return e, nil
}

// Epoch implements tocsin.Store.
func (s *Store) Epoch() string { return s.epoch }

// Ping implements tocsin.Store: the database answers, and takes writes (fault.go).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable(err)
	}
	return s.writable(ctx)
}

// Close implements tocsin.Store: queued publishes are committed first.
func (s *Store) Close() error {
	s.stopWriters()
	s.pool.Close()
	return nil
}

// write runs fn in a transaction. A transaction that failed because the server went
// away is rolled back by PostgreSQL: nothing is half-written, and the caller gets 503.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := classify(pgx.BeginFunc(ctx, s.pool, fn))
	s.noteWrite(err)
	return err
}

// classify maps driver errors: the store's own *tocsin.Error passes through, a
// connection problem is EUnavailable, anything else is internal (logged, not shown).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var te *tocsin.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if what := cannotWrite(pe.Code); what != "" {
			return &faultError{unavailableError{tocsin.Errorf(tocsin.EUnavailable, "the store cannot write: %s; retry later", what), err}}
		}
		switch pe.Code[:2] {
		case "08", "57", "53": // connection exception, operator intervention, insufficient resources
			return unavailable(err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || isConnectError(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) { // the server went away mid-reply
		return unavailable(err)
	}
	return fmt.Errorf("postgres: %w", err)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

func unavailable(err error) error {
	return &unavailableError{tocsin.Errorf(tocsin.EUnavailable, "the store is unavailable; try again shortly"), err}
}

// unavailableError is a client-facing EUnavailable that keeps its cause for logs.
type unavailableError struct {
	public *tocsin.Error
	cause  error
}

func (e *unavailableError) Error() string   { return e.public.Error() + ": " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.public, e.cause} }
