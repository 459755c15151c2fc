package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/jsonarray"
)

// pubJob is a publish of inbox items (no topic, no group key, all unread), the common
// case, which the writer runs as multi-row statements together with the other such
// publishes of its transaction: a commit of 30 publishes, or one publish to 10,000
// users, is a handful of statements per table instead of six per notification.
// The caller normalises and encodes the notifications before queueing, so that JSON
// work runs on the callers' goroutines, not on the single writer's.
type pubJob struct {
	req  *tocsin.PublishRequest
	res  *tocsin.PublishResult
	now  time.Time
	tags []string       // each notification's tags, as JSON
	evs  []tocsin.Event // each notification's event; publishRows sets Seq and Unread
	// shared: the notifications differ only in ID and UserID (one publish to many
	// users): they are inserted with the other fields bound once per statement.
	shared bool
}

// newPubJob returns the job of req, or nil when req takes the one-by-one path (a
// topic, a group key, an item published already read).
func newPubJob(req *tocsin.PublishRequest, res *tocsin.PublishResult) (*pubJob, error) {
	ns := req.Notifications
	if req.Topic != "" {
		return nil, nil
	}
	for i := range ns {
		if ns[i].GroupKey != "" || ns[i].UserID == "" || !ns[i].Unread() {
			return nil, nil
		}
	}
	j := &pubJob{req: req, res: res, now: ns[0].CreatedAt, tags: make([]string, len(ns)), evs: make([]tocsin.Event, len(ns)), shared: true}
	// The recipients of one request are copies of one template: the encoder encodes
	// what they share once.
	var enc tocsin.NotificationEncoder
	for i := range ns {
		n := &ns[i]
		n.Normalize()
		copied := i > 0 && n.SameButRecipient(&ns[i-1])
		j.shared = j.shared && (i == 0 || copied)
		if copied {
			j.tags[i] = j.tags[i-1]
		} else {
			b, err := json.Marshal(n.Tags)
			if err != nil {
				return nil, err
			}
			j.tags[i] = string(b)
		}
		ev, err := enc.Event(n, tocsin.EventNotification, j.now)
		if err != nil {
			return nil, err
		}
		j.evs[i] = ev
	}
	return j, nil
}

// result is the job's notifications as a JSON array (what an Idempotency-Key
// remembers), joined from their encodings.
func (j *pubJob) result() []byte {
	items := make([][]byte, len(j.evs))
	for i := range j.evs {
		items[i] = j.evs[i].Data
	}
	return jsonarray.Append(nil, items)
}

// pubRow is one notification of a job.
type pubRow struct {
	j      *pubJob
	i      int
	stream string
}

// ev is the row's event.
func (r *pubRow) ev() *tocsin.Event { return &r.j.evs[r.i] }

// counter hands out the values a multi-row upsert returned for one stream: a
// stream of k rows got head-k+1 … head (and unread-k+1 … unread), given to its rows
// in their order.
type counter struct{ head, unread, rows, used int64 }

func (c *counter) next() (seq, unread int64) {
	c.used++
	d := c.rows - c.used
	return c.head - d, c.unread - d
}

// publishRows stores every notification of jobs with its "notification" event, in
// job order: recipients may repeat, across jobs and within one, and each repeat takes
// the next sequence and unread count of its stream, exactly as one-by-one would.
func publishRows(tx *wtx, jobs []*pubJob) error {
	total := 0
	for _, j := range jobs {
		total += len(j.req.Notifications)
	}
	rows := make([]pubRow, 0, total)
	streams := make(map[string]*counter, total)
	maxNow := jobs[0].now
	for _, j := range jobs {
		for i := range j.req.Notifications {
			r := pubRow{j: j, i: i, stream: string(j.evs[i].Stream)}
			rows = append(rows, r)
			if c := streams[r.stream]; c != nil {
				c.rows++
			} else {
				streams[r.stream] = &counter{rows: 1}
			}
		}
		if j.now.After(maxNow) {
			maxNow = j.now
		}
	}
	args := make([]any, 0, 20*min(total, 1<<maxChunkLog))
	// Rows go in by stream (so by user): each statement's inserts into the indexes
	// keyed by user, and into the streams and events tables, then land on
	// neighbouring pages instead of all over each tree. Stable, so a stream's rows
	// keep their order.
	order := make([]int, total)
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(rows[a].stream, rows[b].stream) })

	// Each row adds one event and one unread item to its stream; the new head and
	// counter are the row's sequence and unread count.
	if err := tx.each(&tx.st.streams, total, func(st *sql.Stmt, lo, hi int) error {
		args = args[:0]
		for _, k := range order[lo:hi] {
			args = append(args, rows[k].stream)
		}
		res, err := st.QueryContext(bg, args...)
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var stream string
			var head, unread int64
			if err := res.Scan(&stream, &head, &unread); err != nil {
				return err
			}
			if c := streams[stream]; c != nil && head > c.head {
				c.head, c.unread = head, unread
			}
		}
		return res.Err()
	}); err != nil {
		return fmt.Errorf("advance streams: %w", err)
	}
	for stream, c := range streams {
		if c.head < c.rows {
			return fmt.Errorf("publish: no sequence returned for %s", stream)
		}
	}
	// Expired items the sweep has not removed yet are not unread any more: rare, so
	// each user's are counted only when some exist.
	var anyExpired bool
	if err := tx.QueryRowContext(bg, sqlAnyExpiredUnread, maxNow.UnixMilli()).Scan(&anyExpired); err != nil {
		return fmt.Errorf("unread counts: %w", err)
	}

	for _, r := range rows {
		ev := r.ev()
		seq, unread := streams[r.stream].next()
		if anyExpired {
			var expired int64
			if err := tx.QueryRowContext(bg, sqlExpiredUnread, r.j.now.UnixMilli(), r.j.req.Notifications[r.i].UserID).Scan(&expired); err != nil {
				return fmt.Errorf("unread counts: %w", err)
			}
			unread -= expired
		}
		ev.Seq, ev.Unread = uint64(seq), int(unread)
	}
	// Each item keeps its event's position (seq), so that deleting it forgets the
	// event without an index from notification to event.
	if err := insertNotifications(tx, rows, order, args); err != nil {
		return fmt.Errorf("insert notifications: %w", err)
	}
	err := tx.each(&tx.st.events, total, func(st *sql.Stmt, lo, hi int) error {
		args = args[:0]
		for _, k := range order[lo:hi] {
			ev := rows[k].ev()
			args = append(args, rows[k].stream, int64(ev.Seq), ev.Type, []byte(ev.Data), ev.Unread, ev.Time.UnixMilli())
		}
		_, err := st.ExecContext(bg, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}

	for _, j := range jobs {
		*j.res = tocsin.PublishResult{Notifications: j.req.Notifications, Events: j.evs}
		if j.req.IdempotencyKey != "" {
			if _, err := tx.ExecContext(bg, sqlIdempotencyPut, j.req.IdempotencyScope, j.req.IdempotencyKey,
				j.req.RequestHash, j.result(), j.now.UnixMilli()); err != nil {
				return fmt.Errorf("store idempotency key: %w", err)
			}
		}
	}
	return nil
}

// insertNotifications inserts the rows in the given order, each with the position of
// its event: those of a publish to many users with the fields they
// share bound once per statement (only the id, the user and the position differ from
// row to row), the others with every field.
func insertNotifications(tx *wtx, rows []pubRow, order []int, args []any) error {
	var shared map[*pubJob][]int
	var rest []int
	for _, k := range order {
		if j := rows[k].j; j.shared && len(j.req.Notifications) > 1 {
			if shared == nil {
				shared = map[*pubJob][]int{}
			}
			shared[j] = append(shared[j], k)
		} else {
			rest = append(rest, k)
		}
	}
	for j, ks := range shared {
		n := &j.req.Notifications[0]
		err := tx.each(&tx.st.sharedNotifications, len(ks), func(st *sql.Stmt, lo, hi int) error {
			args = append(args[:0], n.Type, n.Title, n.Body, n.Priority, j.tags[0], string(n.Data),
				n.ActorID, n.EntityType, n.EntityID, n.ActionURL, n.ImageURL, n.GroupKey, n.Count,
				n.CreatedAt.UnixMilli(), millis(n.SeenAt), nil, nil, millis(n.ExpiresAt))
			for _, k := range ks[lo:hi] {
				r := &rows[k]
				args = append(args, r.j.req.Notifications[r.i].ID, r.j.req.Notifications[r.i].UserID, int64(r.ev().Seq))
			}
			_, err := st.ExecContext(bg, args...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return tx.each(&tx.st.notifications, len(rest), func(st *sql.Stmt, lo, hi int) error {
		args = args[:0]
		for _, k := range rest[lo:hi] {
			r := &rows[k]
			n := &r.j.req.Notifications[r.i]
			args = append(args, n.ID, n.UserID, n.Type, n.Title, n.Body, n.Priority, r.j.tags[r.i], string(n.Data),
				n.ActorID, n.EntityType, n.EntityID, n.ActionURL, n.ImageURL, n.GroupKey, n.Count,
				n.CreatedAt.UnixMilli(), millis(n.SeenAt), nil, nil, millis(n.ExpiresAt), int64(r.ev().Seq))
		}
		_, err := st.ExecContext(bg, args...)
		return err
	})
}
