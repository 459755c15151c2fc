package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/tocsin/tocsin"
)

// Write faults: the store's files cannot be written (a read-only file system or
// files, a full disk, an I/O error). Such a store answers reads and refuses every
// change, so it is refused at Open, and while running the last fault is kept:
// changes fail with a clear 503 (not a 500 "internal error") and Ping reports it,
// so /readyz takes the node out of rotation until a write succeeds again.

// SQLite's primary result codes (the low byte of an extended code) that mean the
// files cannot be written.
const (
	codePerm     = 3
	codeReadOnly = 8
	codeIOErr    = 10
	codeFull     = 13
	codeCantOpen = 14
)

// probeEvery bounds how often Ping tries a write while a fault is kept.
const probeEvery = time.Second

// writeFault is a failure to write the store's files.
type writeFault struct {
	what   string // for people: "the disk is full", ...
	file   string // the file or directory found unwritable, when one was
	public error  // EUnavailable for clients, naming what (no path)
}

// faultOf returns the write fault err is, or nil for any other error. path is the
// database, whose directory and files it checks to tell a read-only file system or
// unwritable files from other I/O errors.
func faultOf(err error, path string) *writeFault {
	what := ""
	var se *msqlite.Error
	switch {
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case codeReadOnly, codePerm, codeCantOpen:
			what = "its files are read-only or cannot be opened for writing"
		case codeFull:
			what = "the disk is full"
		case codeIOErr:
			what = "an I/O error on its files"
		default:
			return nil
		}
	case errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission):
		what = "its files are read-only or cannot be opened for writing"
	case errors.Is(err, syscall.ENOSPC):
		what = "the disk is full"
	default:
		return nil
	}
	f := &writeFault{what: what}
	if why, file := unwritable(filepath.Dir(path), path, path+"-wal"); why != "" && what != "the disk is full" {
		f.what, f.file = why, file
	}
	f.public = tocsin.Errorf(tocsin.EUnavailable, "the store cannot write: %s; retry later", f.what)
	return f
}

// failed is how a change that failed on op reaches its caller: a write fault is kept
// (see Ping) and answered with its clear EUnavailable; any other database failure is
// the generic EUnavailable. The cause stays in the chain for logs.
func (s *Store) failed(op string, err error) error {
	if f := faultOf(err, s.path); f != nil {
		s.noteFault(f, err)
		return fmt.Errorf("%w: sqlite %s: %w", f.public, op, err)
	}
	return unavailable(op, err)
}

// changeError is what a change's own failure becomes: a write fault as in failed,
// anything else (a client error, a constraint) as it is.
func (s *Store) changeError(err error) error {
	if err == nil {
		return nil
	}
	var te *tocsin.Error
	if errors.As(err, &te) {
		return err
	}
	if f := faultOf(err, s.path); f != nil {
		s.noteFault(f, err)
		return fmt.Errorf("%w: %w", f.public, err)
	}
	return err
}

func (s *Store) noteFault(f *writeFault, cause error) {
	if old := s.fault.Swap(f); old == nil || old.what != f.what {
		s.log.Error("the store cannot write; changes fail (503) and /readyz answers 503 until a write succeeds",
			"store", s.path, "problem", f.what, "file", f.file, "err", cause)
	}
}

// wrote clears a kept fault once a transaction committed.
func (s *Store) wrote() {
	if s.fault.Load() != nil && s.fault.Swap(nil) != nil {
		s.log.Info("the store writes again", "store", s.path)
	}
}

// writable reports a kept write fault, first trying a write (at most every
// probeEvery) to see whether it is over: nothing else may write while the node is
// out of rotation.
func (s *Store) writable(ctx context.Context) error {
	f := s.fault.Load()
	if f == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if last := s.probed.Load(); now-last >= int64(probeEvery) && s.probed.CompareAndSwap(last, now) {
		if err := s.write(ctx, writeCheck); err == nil {
			return nil
		}
	}
	if f = s.fault.Load(); f != nil {
		return f.public
	}
	return nil
}

// writeCheck is the smallest real write: a row of meta, committed like any change.
func writeCheck(tx *wtx) error {
	_, err := tx.ExecContext(bg, sqlWriteCheck, time.Now().UTC().Format(time.RFC3339Nano))
	return err
}

const sqlWriteCheck = `INSERT INTO meta (key, value) VALUES ('write_check', ?)
	ON CONFLICT (key) DO UPDATE SET value = excluded.value`

// refuse is Open's error for a store it cannot write: what is wrong and what to do.
func refuse(path string, f *writeFault, err error) error {
	what := f.what
	if f.file != "" {
		what += ": " + f.file
	}
	return fmt.Errorf("sqlite: tocsin cannot write its store %s: %s. Make the data dir and the files in it "+
		"writable by the user tocsin runs as (not read-only, not immutable, on a file system mounted "+
		"read-write, with free space), or choose another --data-dir (%w)", path, what, err)
}
