package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tocsin/tocsin"
)

// forget rewrites the earlier events of notification id, removed from stream in this
// transaction (deleted, expired or pruned), into tombstones: notification:deleted
// {"id": ...} at the same positions, so a resume from before the removal replays
// that, never the title, body or data (PRODUCT.md §6), and ids and order stay exact.
// seq is the position of the event of its publish (notifications.seq; NULL for an
// item published one by one, or before the column existed, whose event names it as
// its ref instead); every later event that carried its content names it as its ref.
func forget(tx *wtx, stream tocsin.StreamID, id string, seq sql.NullInt64) error {
	data := tombstone(id)
	if seq.Valid {
		if _, err := tx.ExecContext(bg, sqlForgetSeq, data, string(stream), seq.Int64); err != nil {
			return fmt.Errorf("forget events: %w", err)
		}
	}
	if _, err := tx.ExecContext(bg, sqlForgetRef, data, id, string(stream)); err != nil {
		return fmt.Errorf("forget events: %w", err)
	}
	return nil
}

// tombstone is the data of a notification:deleted event: {"id": "..."}.
func tombstone(id string) []byte {
	b, _ := json.Marshal(map[string]string{"id": id})
	return b
}
