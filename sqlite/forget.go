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
	return forgetInBulk(tx, stream, id)
}

// forgetInBulk takes notification id out of the bulk updates of stream that
// carried it (event_refs), and drops its rows there.
func forgetInBulk(tx *wtx, stream tocsin.StreamID, id string) error {
	rows, err := tx.QueryContext(bg, `DELETE FROM event_refs WHERE ref = ? AND stream = ? RETURNING seq`, id, string(stream))
	if err != nil {
		return fmt.Errorf("forget in bulk events: %w", err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("forget in bulk events: %w", err)
	}
	for _, seq := range seqs {
		var data []byte
		err := tx.QueryRowContext(bg, `SELECT data FROM events WHERE stream = ? AND seq = ? AND name = ?`,
			string(stream), seq, tocsin.EventUpdatedMany).Scan(&data)
		if err == sql.ErrNoRows {
			continue // pruned already
		}
		if err != nil {
			return fmt.Errorf("forget in bulk events: %w", err)
		}
		rest, removed, err := tocsin.ForgetInUpdatedMany(data, func(ref string) bool { return ref == id })
		if err != nil {
			return err
		}
		if !removed {
			continue
		}
		if _, err := tx.ExecContext(bg, `UPDATE events SET data = ? WHERE stream = ? AND seq = ?`, rest, string(stream), seq); err != nil {
			return fmt.Errorf("forget in bulk events: %w", err)
		}
	}
	return nil
}

// tombstone is the data of a notification:deleted event: {"id": "..."}.
func tombstone(id string) []byte {
	b, _ := json.Marshal(map[string]string{"id": id})
	return b
}
