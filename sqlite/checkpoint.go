package sqlite

// Checkpoints copy the WAL back into the database file. By default SQLite runs one
// inside the commit that takes the WAL past a threshold, on the committing
// connection: the writer, and every change queued behind it, would wait for the copy
// (tens of milliseconds for a few thousand pages, every second or two under load).
// Here the checkpointer goroutine copies on a connection of its own, alongside the
// writer (a PASSIVE checkpoint takes no lock a writer needs), after every ckptRows
// rows written. Only the writer can start the WAL over from its beginning (SQLite does
// it when a write transaction begins with the WAL fully copied), so once the
// checkpointer is done, the writer runs a checkpoint itself before its next
// transaction: it copies only what was committed meanwhile (often nothing), and the
// WAL file is reused instead of growing. SQLite's own checkpoint stays on in the
// writer as a backstop, at a threshold it does not reach while the checkpointer
// keeps up.
const ckptRows = 2000

const sqlCheckpoint = `PRAGMA wal_checkpoint(PASSIVE)`

// checkpointer runs a checkpoint on each kick until ckptKick is closed.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	for range s.ckptKick {
		if _, err := s.c.ExecContext(bg, sqlCheckpoint); err != nil {
			s.log.Warn("checkpoint failed", "err", err)
			continue
		}
		s.ckptFinish.Store(true)
	}
}

// beforeBegin is the writer's part before each transaction: finishing a copy.
func (s *Store) beforeBegin() {
	if s.ckptFinish.Swap(false) {
		if _, err := s.w.ExecContext(bg, sqlCheckpoint); err != nil {
			s.log.Warn("checkpoint failed", "err", err)
		}
	}
}

// afterCommit is the writer's part after each commit of batch: counting rows, and
// asking for a copy.
func (s *Store) afterCommit(batch []*change) {
	for _, c := range batch {
		if c.pub != nil {
			s.ckptCount += len(c.pub.req.Notifications)
		} else {
			s.ckptCount++
		}
	}
	if s.ckptCount >= ckptRows {
		s.ckptCount = 0
		select {
		case s.ckptKick <- struct{}{}:
		default: // still copying: the next kick will do
		}
	}
}
