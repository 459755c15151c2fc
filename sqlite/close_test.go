package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/storetest"
)

// CheckClosedDir fails t unless dir, the directory of a store just closed, holds
// the database alone (its last connection copied the WAL in and removed the -wal
// and -shm files) and stays unchanged for settle: nothing of the store writes
// after Close. It is exported for the conformance suite in store_test.go.
func CheckClosedDir(t testing.TB, dir string, settle time.Duration) {
	t.Helper()
	first := dirState(t, dir)
	if len(first) != 1 || !strings.HasPrefix(first[0], "tocsin.db ") {
		t.Errorf("after Close, %s holds %q; want the database alone", dir, first)
	}
	for end := time.Now().Add(settle); time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
		if now := dirState(t, dir); strings.Join(now, "|") != strings.Join(first, "|") {
			t.Errorf("%s changed after Close returned: %q → %q", dir, first, now)
			return
		}
	}
}

// dirState is dir's entries with their sizes and modification times.
func dirState(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		fi, err := e.Info()
		if err != nil { // removed between the listing and now
			out = append(out, e.Name()+" gone")
			continue
		}
		out = append(out, fmt.Sprintf("%s %d %d", e.Name(), fi.Size(), fi.ModTime().UnixNano()))
	}
	return out
}

// TestCloseLeavesFilesAlone: the pattern of the storetest tests that failed now
// and then at cleanup ("TempDir RemoveAll cleanup: directory not empty"): writes,
// then reads whose statements are new, so that their prepares (reads.go) run in the
// background when Close is called. Close must return with every prepare and
// connection done: a prepare that outlived it opened a connection (creating -wal
// and -shm) or closed the last one (removing them) while the directory was being
// removed.
func TestCloseLeavesFilesAlone(t *testing.T) {
	ctx := context.Background()
	for round := range 8 {
		dir := t.TempDir()
		s, err := Open(ctx, filepath.Join(dir, "tocsin.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		if _, err := s.Publish(ctx, single(note("a", now))); err != nil {
			t.Fatal(err)
		}
		_, err1 := s.Events(ctx, "user:a", 0, 100)
		_, err2 := s.UnreadCount(ctx, "a")
		_, err3 := s.List(ctx, "a", tocsin.ListQuery{Limit: 10})
		_, err4 := s.Head(ctx, "user:a")
		if err := errorsOf(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if gs := storetest.Lingering(s, 50*time.Millisecond); len(gs) > 0 {
			t.Fatalf("round %d: goroutines of the store outlived Close:\n%s", round, strings.Join(gs, "\n\n"))
		}
		CheckClosedDir(t, dir, 100*time.Millisecond)
		if t.Failed() {
			t.Fatalf("round %d failed", round)
		}
	}
}

func errorsOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestCloseWaitsForReadsUnderWay: a read holding a connection when Close is called
// (a request racing a shutdown) keeps Close waiting until it ends, and nothing
// opens a connection meanwhile: database/sql's own Close returns at once and
// closes such a connection, the last, later, removing the WAL then.
func TestCloseWaitsForReadsUnderWay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "tocsin.db"), Options{Readers: 1})
	if err != nil {
		t.Fatal(err)
	}
	held, err := s.r.Conn(ctx) // the read under way
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := held.QueryRowContext(ctx, `SELECT 1 FROM meta LIMIT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}
	// A statement being prepared, waiting for the pool's only connection.
	s.rs.stmt(`SELECT count(*) FROM meta`)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Once the read pool is closed, Close has nothing left to do but wait. (While
	// it is open, a ping waits for the connection held: each try is bounded.)
	poolClosed := func() bool {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		err := s.r.PingContext(pctx)
		return err != nil && strings.Contains(err.Error(), "database is closed")
	}
	for deadline := time.Now().Add(10 * time.Second); !poolClosed(); {
		if time.Now().After(deadline) {
			t.Fatal("Close did not close the read pool")
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a read held a connection", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := s.Head(ctx, "user:a"); err == nil {
		t.Error("a read while closing succeeded: it had a connection opened for it")
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once the read ended")
	}
	if gs := storetest.Lingering(s, 50*time.Millisecond); len(gs) > 0 {
		t.Fatalf("goroutines of the store outlived Close:\n%s", strings.Join(gs, "\n\n"))
	}
	CheckClosedDir(t, dir, 100*time.Millisecond)
}
