package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Write faults: a database that answers but refuses writes (a read-only standby or
// default_transaction_read_only, a full disk, an I/O error) makes every change fail.
// Such a failure is a clear 503 ("the store cannot write: ..."), not a 500, and the
// store keeps it so that Ping, and so /readyz, reports it until a write succeeds:
// nodes behind a load balancer then stop taking traffic they cannot store.

// probeEvery bounds how often Ping tries a write while a fault is kept.
const probeEvery = time.Second

// cannotWrite names the SQLSTATEs that mean the database refuses writes.
func cannotWrite(code string) string {
	switch code {
	case "25006": // read_only_sql_transaction
		return "the database is read-only"
	case "53100": // disk_full
		return "the database's disk is full"
	case "58030": // io_error
		return "an I/O error in the database"
	}
	return ""
}

// faultError is a write refused for want of a writable database.
type faultError struct{ unavailableError }

// noteWrite keeps the fault a write failed with, or clears the kept one once a write
// succeeds.
func (s *Store) noteWrite(err error) {
	var fe *faultError
	switch {
	case err == nil:
		if s.fault.Load() != nil && s.fault.Swap(nil) != nil {
			s.log.Info("the store writes again")
		}
	case errors.As(err, &fe):
		if old := s.fault.Swap(fe.public); old == nil || old.Message != fe.public.Message {
			s.log.Error("the store cannot write; changes fail (503) and /readyz answers 503 until a write succeeds",
				"problem", fe.public.Message, "err", fe.cause)
		}
	}
}

// writable reports a kept fault, first trying a write (at most every probeEvery) to
// see whether it is over.
func (s *Store) writable(ctx context.Context) error {
	if s.fault.Load() == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if last := s.probed.Load(); now-last >= int64(probeEvery) && s.probed.CompareAndSwap(last, now) {
		err := s.write(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE meta SET value = value WHERE key = 'epoch'`)
			return err
		})
		if err == nil {
			return nil
		}
	}
	if f := s.fault.Load(); f != nil {
		return f
	}
	return nil
}

// refuse is Open's error for a database that refuses writes: what is wrong and what
// to do. Other errors pass as they are.
func refuse(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if what := cannotWrite(pe.Code); what != "" {
			return fmt.Errorf("postgres: the store cannot be written: %s. tocsin needs to write its store: "+
				"connect it to a primary (not a standby) with default_transaction_read_only off and free disk space (%w)", what, err)
		}
	}
	return err
}
