package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"
)

// conns counts the store's SQLite connections (writer, readers, checkpointer), so
// that Close returns only once every one of them is closed and none can open after.
//
// sql.DB.Close is not enough: it closes the idle connections only. One in use (a
// read under way, a kept statement being prepared: reads.go) is closed when it is
// released, and one being opened finishes opening, both after DB.Close returned.
// Opening a connection creates the -wal and -shm files if they are gone, and the
// last connection to close copies the WAL into the database and removes both: a
// backup taken once Close returned could copy a database still being written, and
// a new owner of the directory would race the store (a test's cleanup that removed
// it failed now and then with "directory not empty").
type conns struct {
	mu     sync.Mutex
	open   int           // connections opened (or opening) and not yet closed
	closed bool          // no connection opens any more
	none   chan struct{} // closed once closed is set and open is 0
	log    *slog.Logger
}

func newConns(log *slog.Logger) *conns { return &conns{none: make(chan struct{}), log: log} }

// errConnsClosed is what opening a connection returns once the store is closing:
// database/sql passes it to the caller whose read needed the connection.
var errConnsClosed = fmt.Errorf("%w: sqlite: no connection opens once the store is closing", errClosed)

// db returns a pool of connections to dsn that this conns counts.
func (cs *conns) db(dsn string) (*sql.DB, error) {
	base, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(countedConnector{Connector: base, cs: cs}), nil
}

// add counts a connection about to open, unless the store is closing.
func (cs *conns) add() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.open++
	return true
}

// done uncounts a connection that closed (or failed to open).
func (cs *conns) done() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.open--
	if cs.closed && cs.open == 0 {
		close(cs.none)
	}
}

// closeWait waits for every connection to be closed (each pool's Close must have
// been called), and lets none open from now on. A connection still in use is a
// read under way: it ends with its query (bounded by its context and the busy
// timeout), so the wait is logged if it lasts. It is cut short after closeGiveUpAfter
// with an error in the log: a connection leaked by a bug must not keep a stopping
// server from ever exiting (the files are then left as that connection leaves them).
func (cs *conns) closeWait() {
	cs.mu.Lock()
	if !cs.closed {
		cs.closed = true
		if cs.open == 0 {
			close(cs.none)
		}
	}
	cs.mu.Unlock()
	t := time.NewTimer(closeWarnAfter)
	defer t.Stop()
	select {
	case <-cs.none:
		return
	case <-t.C:
		cs.log.Warn("store closing: waiting for reads under way to end", "after", closeWarnAfter)
	}
	t.Reset(closeGiveUpAfter - closeWarnAfter)
	select {
	case <-cs.none:
	case <-t.C:
		cs.mu.Lock()
		open := cs.open
		cs.mu.Unlock()
		cs.log.Error("store closed with connections still open: a read never ended (a bug: please report it)",
			"open", open, "after", closeGiveUpAfter)
	}
}

// closeWarnAfter is how long Close waits for connections in use before saying so;
// closeGiveUpAfter how long before it stops waiting.
const (
	closeWarnAfter   = 5 * time.Second
	closeGiveUpAfter = 30 * time.Second
)

// countedConnector opens connections through modernc.org/sqlite, counted by cs.
type countedConnector struct {
	driver.Connector
	cs *conns
}

func (c countedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if !c.cs.add() {
		return nil, errConnsClosed
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		c.cs.done()
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok { // a driver upgrade dropped an interface this store relies on
		conn.Close()
		c.cs.done()
		return nil, fmt.Errorf("sqlite: driver connection %T lacks an expected interface", conn)
	}
	return &countedConn{sqliteConn: sc, cs: c.cs}, nil
}

// sqliteConn is every interface of modernc.org/sqlite's connection that
// database/sql looks for: a wrapper that hid one would change how statements run
// (without ConnBeginTx, read-only transactions are refused).
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// countedConn is a connection that tells cs when it has closed.
type countedConn struct {
	sqliteConn
	cs   *conns
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.sqliteConn.Close() // the files are settled when this returns
	c.once.Do(c.cs.done)
	return err
}
