package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/jsonarray"
)

// pubJob is one Publish on its way through a writer.
type pubJob struct {
	ctx context.Context
	req *tocsin.PublishRequest
	now time.Time
	// grouped: a group-key publish, which reads the group's item before it writes,
	// so it runs statement by statement (publishTx) in a savepoint of the batch.
	grouped bool
	// For the others, merged: each stored notification's event (its data the
	// notification's JSON; the writer sets Seq and Unread) and the template's tags
	// as JSON, made on the caller's goroutine, not a writer's.
	evs  []tocsin.Event
	tags string

	res  tocsin.PublishResult
	err  error // the job's own failure, set by the writer (its savepoint rolled back)
	done chan error
	// state is the handshake between a caller whose ctx ends and the writers (as
	// in the SQLite store): a writer claims a job (queued → taken) before it reads
	// anything of it; a caller that gives up first marks it abandoned (queued →
	// abandoned), and the writers skip it. A caller that finds its job taken waits
	// for done, so that no writer still reads its request, or writes its result,
	// once Publish has returned.
	state atomic.Int32
}

const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

// newPubJob prepares req for the writers. It returns nil for a publish that runs in
// a transaction of its own: one with both a group key and an Idempotency-Key. In a
// batch it would take its key in a savepoint after the merged statements have taken
// theirs, so a transaction's keys would no longer be taken in one sorted order, and
// two nodes' batches could wait for each other's keys.
func newPubJob(ctx context.Context, req *tocsin.PublishRequest) (*pubJob, error) {
	ns := req.Notifications
	j := &pubJob{ctx: ctx, req: req, now: ns[0].CreatedAt}
	if req.Topic == "" && ns[0].GroupKey != "" {
		if req.IdempotencyKey != "" {
			return nil, nil
		}
		j.grouped = true
		return j, nil
	}
	ns = j.notes()
	j.evs = make([]tocsin.Event, len(ns))
	var enc tocsin.NotificationEncoder // the copies of one template: their shared part is encoded once
	for i := range ns {
		ns[i].Normalize()
		ev, err := enc.Event(&ns[i], tocsin.EventNotification, j.now)
		if err != nil {
			return nil, err
		}
		if j.req.Topic != "" {
			ev.Stream = tocsin.TopicStream(j.req.Topic)
		}
		j.evs[i] = ev
	}
	tags, err := json.Marshal(ns[0].Tags)
	if err != nil {
		return nil, err
	}
	j.tags = string(tags)
	return j, nil
}

// notes returns the notifications the job stores: a topic publish stores its first
// one only, as an event of the topic's stream.
func (j *pubJob) notes() []tocsin.Notification {
	if j.req.Topic != "" {
		return j.req.Notifications[:1]
	}
	return j.req.Notifications
}

// reset forgets the outcome of an attempt before another.
func (j *pubJob) reset() {
	j.res, j.err = tocsin.PublishResult{}, nil
}

// result is what an Idempotency-Key remembers: the notifications as a JSON array,
// joined from their encodings.
func (j *pubJob) result() []byte {
	items := make([][]byte, len(j.evs))
	for i := range j.evs {
		items[i] = j.evs[i].Data
	}
	return jsonarray.Append(nil, items)
}

// plan is the multi-row statements of merged publishes: every notification of every
// job is a row, in job order, and takes the next sequence of its stream in that
// order. Sequences and unread counts are computed by the statements themselves from
// what the transaction has already written, so the whole plan needs no answer from
// the server before its next statement and goes in one round trip.
type plan struct {
	jobs    []*pubJob
	rows    []prow
	streams []string // every stream the plan locks, sorted
	adds    []int64  // what each one's head grows by (0: only locked)
	heads   map[string]int64
	unread  map[seqKey]int32
}

// prow is one notification of a plan.
type prow struct {
	j      *pubJob
	i      int
	stream string
	uid    string // "" for a topic's event: no inbox item, no unread count
	back   int64  // later rows of the same stream: seq = new head - back
	later  int32  // later rows of the same user that add to its unread count
}

type seqKey struct {
	stream string
	seq    int64
}

// newPlan plans jobs and also locks the streams in lockOnly (taking no sequence).
func newPlan(jobs []*pubJob, lockOnly []string) *plan {
	p := &plan{jobs: jobs}
	adds := make(map[string]int64, len(lockOnly))
	for _, s := range lockOnly {
		adds[s] += 0
	}
	for _, j := range jobs {
		ns := j.notes()
		for i := range ns {
			r := prow{j: j, i: i, stream: string(j.evs[i].Stream)}
			if j.req.Topic == "" {
				r.uid = ns[i].UserID
			}
			adds[r.stream]++
			p.rows = append(p.rows, r)
		}
	}
	left := make(map[string]int64, len(adds))
	for k := len(p.rows) - 1; k >= 0; k-- {
		r := &p.rows[k]
		r.back = left[r.stream]
		left[r.stream]++
	}
	p.countLater()
	p.streams = make([]string, 0, len(adds))
	for s := range adds {
		p.streams = append(p.streams, s)
	}
	slices.Sort(p.streams)
	p.adds = make([]int64, len(p.streams))
	for i, s := range p.streams {
		p.adds[i] = adds[s]
	}
	return p
}

// countLater sets each row's later: the statement counts a user's unread items once,
// after all of the plan's inserts, and each row's event carries the count as it was
// right after its own insert. A later row counts if its item is unread and not
// expired at this row's time (the stored item is its job's template, the first
// notification, as in insertNotifications).
func (p *plan) countLater() {
	var byUser map[string][]int
	for k, r := range p.rows {
		if r.uid == "" {
			continue
		}
		if byUser == nil {
			byUser = make(map[string][]int, len(p.rows))
		}
		byUser[r.uid] = append(byUser[r.uid], k)
	}
	for _, ks := range byUser {
		// From the last row back: those that never expire simply count; only the
		// (rare) expiring ones are checked against each row's time.
		var forever int32
		var expiring []int64
		for a := len(ks) - 1; a >= 0; a-- {
			r := &p.rows[ks[a]]
			now := r.j.now.UnixMilli()
			r.later = forever
			for _, exp := range expiring {
				if exp > now {
					r.later++
				}
			}
			switch t := &r.j.req.Notifications[0]; {
			case !t.Unread():
			case t.ExpiresAt == nil:
				forever++
			default:
				expiring = append(expiring, t.ExpiresAt.UnixMilli())
			}
		}
	}
}

// sqlInsertNotifications inserts rows ($1 ids, $2 users, $3 each one's template, $22
// each one's back: see sqlInsertEvents) of templates ($4…$21, one per publish: its
// copies share everything else). Each row keeps the position of its event (seq, from
// the stream row this transaction has advanced already), so that deleting the item
// forgets the event without an index from notification to event.
const sqlInsertNotifications = `WITH t AS MATERIALIZED (
	SELECT j, type, title, body, priority, ARRAY(SELECT jsonb_array_elements_text(tags::jsonb)) AS tags, data,
		actor_id, entity_type, entity_id, action_url, image_url, group_key, count, created_at, seen_at,
		read_at, archived_at, expires_at
	FROM unnest($4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[],
		$12::text[], $13::text[], $14::text[], $15::text[], $16::int[], $17::bigint[], $18::bigint[], $19::bigint[],
		$20::bigint[], $21::bigint[]) WITH ORDINALITY AS u(type, title, body, priority, tags, data, actor_id,
		entity_type, entity_id, action_url, image_url, group_key, count, created_at, seen_at, read_at,
		archived_at, expires_at, j))
INSERT INTO notifications (` + notificationCols + `, seq)
SELECT r.id, r.uid, t.type, t.title, t.body, t.priority, t.tags, t.data, t.actor_id, t.entity_type, t.entity_id,
	t.action_url, t.image_url, t.group_key, t.count, t.created_at, t.seen_at, t.read_at, t.archived_at, t.expires_at,
	(SELECT st.head FROM streams st WHERE st.stream = 'user:' || r.uid) - r.back
FROM unnest($1::text[], $2::text[], $3::bigint[], $22::bigint[]) AS r(id, uid, j, back) JOIN t ON t.j = r.j`

// sqlInsertKeys remembers Idempotency-Keys, in the order given (sorted by the caller).
// A key a concurrent request committed first is a unique violation: the plan fails.
const sqlInsertKeys = `INSERT INTO idempotency (scope, key, request_hash, result, created_at)
	SELECT s, k, h, r, c FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[])
		WITH ORDINALITY AS t(s, k, h, r, c, i) ORDER BY i`

// sqlInsertEvents appends the rows' events. The stream rows (locked by this
// transaction, their heads already advanced) give the sequences. Each distinct
// (user, time) of $9/$10 has its unread count read once, after this transaction's
// inserts, into an array that row k finds at its index $7[k] (0: a topic's event,
// no count), wound back by the later rows' items. (An array, not a join: the
// planner cannot see the sizes of the arrays and would loop over both.)
const sqlInsertEvents = `WITH r AS (
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::bigint[], $7::int[],
		$8::int[]) AS r(stream, back, name, type, data, created_at, g, later)
), c AS (
	SELECT array_agg((SELECT count(*) FROM notifications n WHERE n.user_id = d.uid
		AND n.read_at IS NULL AND n.archived_at IS NULL AND n.snoozed_until IS NULL
		AND (n.expires_at IS NULL OR n.expires_at > d.t)) ORDER BY d.g) AS unread
	FROM unnest($9::text[], $10::bigint[]) WITH ORDINALITY AS d(uid, t, g)
)
INSERT INTO events (stream, seq, name, type, data, unread, created_at)
SELECT r.stream, (SELECT st.head FROM streams st WHERE st.stream = r.stream) - r.back, r.name, r.type, r.data,
	CASE WHEN r.g > 0 THEN c.unread[r.g] - r.later ELSE -1 END, r.created_at
FROM r, c
RETURNING stream, seq, unread`

// sqlInsertEventsExpiring is sqlInsertEvents for a plan that holds a topic
// notification with an expiry: $11/$12 are each row's ref and expires_at (NULL but
// for those), by which the expiry sweep finds and forgets it. A text of its own, so
// that the common plan binds nothing more.
const sqlInsertEventsExpiring = `WITH r AS (
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::bigint[], $7::int[],
		$8::int[], $11::text[], $12::bigint[]) AS r(stream, back, name, type, data, created_at, g, later, ref, expires_at)
), c AS (
	SELECT array_agg((SELECT count(*) FROM notifications n WHERE n.user_id = d.uid
		AND n.read_at IS NULL AND n.archived_at IS NULL AND n.snoozed_until IS NULL
		AND (n.expires_at IS NULL OR n.expires_at > d.t)) ORDER BY d.g) AS unread
	FROM unnest($9::text[], $10::bigint[]) WITH ORDINALITY AS d(uid, t, g)
)
INSERT INTO events (stream, seq, name, type, data, unread, created_at, ref, expires_at)
SELECT r.stream, (SELECT st.head FROM streams st WHERE st.stream = r.stream) - r.back, r.name, r.type, r.data,
	CASE WHEN r.g > 0 THEN c.unread[r.g] - r.later ELSE -1 END, r.created_at, r.ref, r.expires_at
FROM r, c
RETURNING stream, seq, unread`

// queue adds the plan's statements to b: the streams first (locked in sorted order,
// heads advanced), then the notifications, the keys and the events.
func (p *plan) queue(b *pgx.Batch) {
	p.heads = make(map[string]int64, len(p.streams))
	b.Queue(sqlReserve, p.streams, p.adds).Query(func(rows pgx.Rows) error {
		var s string
		var h int64
		_, err := pgx.ForEachRow(rows, []any{&s, &h}, func() error { p.heads[s] = h; return nil })
		return err
	})
	if len(p.rows) == 0 {
		return
	}
	p.queueNotifications(b)
	p.queueKeys(b)
	n := len(p.rows)
	streams, backs, names, types := make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	datas, created, gs, later := make([][]byte, n), make([]int64, n), make([]int32, n), make([]int32, n)
	var refs []*string // allocated only for a plan with an expiring topic notification
	var expires []*int64
	type userAt struct {
		uid string
		t   int64
	}
	index := make(map[userAt]int32, n)
	var uids []string
	var times []int64
	for k, r := range p.rows {
		streams[k], backs[k], names[k] = r.stream, r.back, tocsin.EventNotification
		types[k], datas[k], created[k] = r.j.evs[r.i].Type, r.j.evs[r.i].Data, r.j.now.UnixMilli()
		later[k] = r.later
		if r.uid == "" {
			if nt := &r.j.req.Notifications[r.i]; nt.ExpiresAt != nil {
				if refs == nil {
					refs, expires = make([]*string, n), make([]*int64, n)
				}
				refs[k], expires[k] = &nt.ID, millis(nt.ExpiresAt)
			}
			continue
		}
		at := userAt{r.uid, created[k]}
		g, ok := index[at]
		if !ok {
			uids, times = append(uids, at.uid), append(times, at.t)
			g = int32(len(uids))
			index[at] = g
		}
		gs[k] = g
	}
	p.unread = make(map[seqKey]int32, n)
	q, args := sqlInsertEvents, []any{streams, backs, names, types, datas, created, gs, later, uids, times}
	if refs != nil {
		q, args = sqlInsertEventsExpiring, append(args, refs, expires)
	}
	b.Queue(q, args...).Query(func(rows pgx.Rows) error {
		var k seqKey
		var u int32
		_, err := pgx.ForEachRow(rows, []any{&k.stream, &k.seq, &u}, func() error { p.unread[k] = u; return nil })
		return err
	})
}

// queueNotifications queues the insert of the inbox items (none for topics).
func (p *plan) queueNotifications(b *pgx.Batch) {
	var ids, uids []string
	var tmpl, backs []int64
	var jobs []*pubJob
	for _, r := range p.rows {
		if r.uid == "" {
			continue
		}
		if len(jobs) == 0 || jobs[len(jobs)-1] != r.j {
			jobs = append(jobs, r.j)
		}
		ids, uids, tmpl = append(ids, r.j.req.Notifications[r.i].ID), append(uids, r.uid), append(tmpl, int64(len(jobs)))
		backs = append(backs, r.back)
	}
	if len(ids) == 0 {
		return
	}
	m := len(jobs)
	types, titles, bodies, tags, datas := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	actors, etypes, eids, actions, images := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	groups, prios, counts, created := make([]string, m), make([]int32, m), make([]int32, m), make([]int64, m)
	seen, read, archived, expires := make([]*int64, m), make([]*int64, m), make([]*int64, m), make([]*int64, m)
	for k, j := range jobs {
		n := &j.req.Notifications[0]
		types[k], titles[k], bodies[k], tags[k], datas[k] = n.Type, n.Title, n.Body, j.tags, string(n.Data)
		actors[k], etypes[k], eids[k], actions[k], images[k] = n.ActorID, n.EntityType, n.EntityID, n.ActionURL, n.ImageURL
		groups[k], prios[k], counts[k], created[k] = n.GroupKey, int32(n.Priority), int32(n.Count), n.CreatedAt.UnixMilli()
		seen[k], read[k], archived[k], expires[k] = millis(n.SeenAt), millis(n.ReadAt), millis(n.ArchivedAt), millis(n.ExpiresAt)
	}
	b.Queue(sqlInsertNotifications, ids, uids, tmpl, types, titles, bodies, prios, tags, datas, actors, etypes, eids,
		actions, images, groups, counts, created, seen, read, archived, expires, backs)
}

// queueKeys queues the insert of the jobs' Idempotency-Keys, in key order.
func (p *plan) queueKeys(b *pgx.Batch) {
	var keyed []*pubJob
	for _, j := range p.jobs {
		if j.req.IdempotencyKey != "" {
			keyed = append(keyed, j)
		}
	}
	if len(keyed) == 0 {
		return
	}
	slices.SortFunc(keyed, func(a, b *pubJob) int {
		return cmp.Or(cmp.Compare(a.req.IdempotencyScope, b.req.IdempotencyScope),
			cmp.Compare(a.req.IdempotencyKey, b.req.IdempotencyKey))
	})
	m := len(keyed)
	scopes, keys, hashes, results, created := make([]string, m), make([]string, m), make([]string, m), make([][]byte, m), make([]int64, m)
	for k, j := range keyed {
		scopes[k], keys[k], hashes[k] = j.req.IdempotencyScope, j.req.IdempotencyKey, j.req.RequestHash
		results[k], created[k] = j.result(), j.now.UnixMilli()
	}
	b.Queue(sqlInsertKeys, scopes, keys, hashes, results, created)
}

// finish fills each job's result from what the statements returned.
func (p *plan) finish() error {
	k := 0
	for _, j := range p.jobs {
		ns := j.notes()
		for i := range ns {
			r := &p.rows[k]
			k++
			head, ok := p.heads[r.stream]
			if !ok {
				return fmt.Errorf("postgres: no head returned for stream %s", r.stream)
			}
			seq := head - r.back
			unread, ok := p.unread[seqKey{r.stream, seq}]
			if !ok {
				return fmt.Errorf("postgres: event %s/%d was not returned", r.stream, seq)
			}
			j.evs[i].Seq, j.evs[i].Unread = uint64(seq), int(unread)
		}
		j.res = tocsin.PublishResult{Notifications: ns, Events: j.evs}
	}
	return nil
}

// mergedStreams and groupedStreams are the streams jobs of each kind write to.
func mergedStreams(jobs []*pubJob) []string {
	var out []string
	for _, j := range jobs {
		if j.grouped {
			continue
		}
		for _, ev := range j.evs {
			out = append(out, string(ev.Stream))
		}
	}
	return out
}

func groupedStreams(jobs []*pubJob) []string {
	var out []string
	for _, j := range jobs {
		if j.grouped {
			for _, n := range j.req.Notifications {
				out = append(out, string(tocsin.UserStream(n.UserID)))
			}
		}
	}
	return out
}
