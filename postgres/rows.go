package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// querier is what both the pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const notificationCols = `id, user_id, type, title, body, priority, tags, data, actor_id, entity_type,
	entity_id, action_url, image_url, group_key, count, created_at, seen_at, read_at, archived_at, expires_at`

// selectCols are the columns a read scans: notificationCols, which inserts write
// (a new item is never snoozed), and the snooze.
const selectCols = notificationCols + `, snoozed_until`

// unreadCond is the condition of an item that is unread: not read, not archived,
// not snoozed (tocsin.Notification.Unread).
const unreadCond = `read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL`

func scanNotification(row pgx.Row) (tocsin.Notification, error) {
	var n tocsin.Notification
	var data string
	var created int64
	var seen, read, archived, expires, snoozed *int64
	err := row.Scan(&n.ID, &n.UserID, &n.Type, &n.Title, &n.Body, &n.Priority, &n.Tags, &data,
		&n.ActorID, &n.EntityType, &n.EntityID, &n.ActionURL, &n.ImageURL, &n.GroupKey, &n.Count,
		&created, &seen, &read, &archived, &expires, &snoozed)
	if err != nil {
		return n, err
	}
	n.Data = json.RawMessage(data)
	n.CreatedAt = fromMillis(created)
	n.SeenAt, n.ReadAt, n.ArchivedAt, n.ExpiresAt = nullTime(seen), nullTime(read), nullTime(archived), nullTime(expires)
	n.SnoozedUntil = nullTime(snoozed)
	n.Normalize()
	return n, nil
}

func collectNotifications(rows pgx.Rows) ([]tocsin.Notification, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tocsin.Notification, error) { return scanNotification(r) })
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullTime(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMillis(*v)
	return &t
}

func millis(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

// getNotification reads one of a user's notifications that has not expired; with
// lock it also locks the row for the transaction.
func getNotification(ctx context.Context, q pgx.Tx, userID, id string, now time.Time, lock bool) (tocsin.Notification, error) {
	sql := `SELECT ` + selectCols + ` FROM notifications
		WHERE id = $1 AND user_id = $2 AND (expires_at IS NULL OR expires_at > $3)`
	if lock {
		sql += ` FOR UPDATE`
	}
	n, err := scanNotification(q.QueryRow(ctx, sql, id, userID, now.UnixMilli()))
	if errors.Is(err, pgx.ErrNoRows) {
		return n, tocsin.Errorf(tocsin.ENotFound, "notification not found")
	}
	return n, err
}

// unreadCount counts a user's notifications that are not read, not archived and not
// expired at now.
func unreadCount(ctx context.Context, q querier, userID string, now time.Time) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM notifications
		WHERE user_id = $1 AND `+unreadCond+`
		AND (expires_at IS NULL OR expires_at > $2)`, userID, now.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("unread count: %w", err)
	}
	return n, nil
}

// reserve takes the next sequence for each stream in want (a stream may appear
// several times: it gets that many), locking the streams' rows in sorted order so
// concurrent changes never deadlock. It returns, per stream, the first sequence
// reserved.
func reserve(ctx context.Context, tx pgx.Tx, want []tocsin.StreamID) (map[tocsin.StreamID]uint64, error) {
	counts := map[tocsin.StreamID]int64{}
	for _, s := range want {
		counts[s]++
	}
	names := make([]string, 0, len(counts))
	for s := range counts {
		names = append(names, string(s))
	}
	sort.Strings(names)
	ns := make([]int64, len(names))
	for i, s := range names {
		ns[i] = counts[tocsin.StreamID(s)]
	}
	rows, err := tx.Query(ctx, sqlReserve, names, ns)
	if err != nil {
		return nil, fmt.Errorf("advance stream heads: %w", err)
	}
	first := make(map[tocsin.StreamID]uint64, len(names))
	var stream string
	var head int64
	_, err = pgx.ForEachRow(rows, []any{&stream, &head}, func() error {
		s := tocsin.StreamID(stream)
		first[s] = uint64(head - counts[s] + 1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("advance stream heads: %w", err)
	}
	return first, nil
}

// sqlReserve adds $2[i] to the head of stream $1[i] (creating it), row by row in the
// order given, which callers sort: every transaction locks streams in one order, so
// none waits in a cycle. It returns each stream's new head.
const sqlReserve = `INSERT INTO streams AS st (stream, head)
	SELECT s, n FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS t(s, n, i) ORDER BY i
	ON CONFLICT (stream) DO UPDATE SET head = st.head + EXCLUDED.head
	RETURNING stream, head`

// eventRef is what an appended event is about, so that it can be forgotten
// (forget.go): the notification whose content it carries ("" for none), and, for a
// topic notification, when it expires.
type eventRef struct {
	id      string
	expires *time.Time
}

// appendEvents inserts evs (their Seq set) in one statement; refs is nil or says
// what each event is about.
func appendEvents(ctx context.Context, tx pgx.Tx, evs []tocsin.Event, refs []eventRef) error {
	if len(evs) == 0 {
		return nil
	}
	streams := make([]string, len(evs))
	seqs := make([]int64, len(evs))
	names := make([]string, len(evs))
	types := make([]string, len(evs))
	datas := make([][]byte, len(evs))
	unread := make([]int32, len(evs))
	created := make([]int64, len(evs))
	ids := make([]string, len(evs))
	expires := make([]*int64, len(evs))
	for i, ev := range evs {
		streams[i], seqs[i], names[i], types[i] = string(ev.Stream), int64(ev.Seq), ev.Name, ev.Type
		datas[i], unread[i], created[i] = ev.Data, int32(ev.Unread), ev.Time.UnixMilli()
		if refs != nil {
			ids[i], expires[i] = refs[i].id, millis(refs[i].expires)
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (stream, seq, name, type, data, unread, created_at, ref, expires_at)
		SELECT s, q, n, t, d, u, c, nullif(r, ''), e FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[],
			$6::int[], $7::bigint[], $8::text[], $9::bigint[]) AS x(s, q, n, t, d, u, c, r, e)`,
		streams, seqs, names, types, datas, unread, created, ids, expires)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}
