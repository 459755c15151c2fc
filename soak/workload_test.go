package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/tocsin/tocsin/sse"
)

const (
	// heartbeat is the nodes' heartbeat interval; a subscriber that hears nothing
	// for idleTimeout (a paused node, a half-open socket) gives the stream up and
	// resumes elsewhere, as a robust client does.
	heartbeat   = time.Second
	idleTimeout = 3 * time.Second
	// requestTimeout bounds one publish attempt: a paused node must not hold a
	// publisher longer than a real client would wait.
	requestTimeout = 2 * time.Second
	// publishPace is the pause between one publisher's acknowledged publishes, to
	// leave the shared machine's cores to the cluster.
	publishPace = 10 * time.Millisecond
)

// httpStats counts the statuses a client saw, and keeps every 5xx that breaks the
// contract (any 5xx but a 503 with Retry-After).
type httpStats struct {
	codes  map[int]int
	errors int // transport errors and timeouts
	bad5xx []string
}

func newHTTPStats() httpStats { return httpStats{codes: map[int]int{}} }

func (s *httpStats) record(resp *http.Response, node int, what string) {
	s.codes[resp.StatusCode]++
	if resp.StatusCode >= 500 && (resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "") {
		s.bad5xx = append(s.bad5xx, fmt.Sprintf("%s %s on node%d: %d Retry-After=%q",
			time.Now().UTC().Format("15:04:05.000"), what, node, resp.StatusCode, resp.Header.Get("Retry-After")))
	}
}

// ack is one recipient of an acknowledged publish: it must exist exactly once and
// reach every subscriber of its stream. A bulk publish (userIds) acknowledges one
// ack per recipient, all under its one key.
type ack struct {
	key, id  string
	user     string // the recipient's stream: a user id, or "topic:<name>"
	node     int    // the node that answered 201
	first    time.Time
	at       time.Time // first attempt, acknowledgment
	lastTry  time.Time // start of the attempt that was acknowledged
	attempts int
	replayed bool
	kind     string // publishSingle, publishBulk, publishTopic or publishScheduled
}

// Publish kinds, in the proportions publish picks them.
const (
	publishSingle = "single"
	publishBulk   = "bulk"
	publishTopic  = "topic"
	// publishScheduled is a single-user publish with deliverAt 1 to 2 s ahead: its
	// 201 answers the id it will have, and it must arrive exactly once whatever
	// node holds its timer (issue 15).
	publishScheduled = "scheduled"
	// bulkMax is the most recipients one bulk publish names (at least two).
	bulkMax = 4
)

// topicStream is the stream name a topic's acks and subscribers carry.
func topicStream(topic string) string { return "topic:" + topic }

// publisherLog is what one publisher did; only its goroutine writes it.
type publisherLog struct {
	attempted map[string][]string // idempotency key → its recipients' streams, acknowledged or not
	acks      []ack
	unacked   []string // keys given up at the end (they may or may not exist)
	stats     httpStats
}

type cluster struct {
	nodes  []*node
	users  []string
	topics []string
}

// publish runs one publisher: until stopNew is done, publish to a random user
// (or to a few at once with userIds, or to a topic) on a random node, retrying
// the same Idempotency-Key and body on another node after any error until
// acknowledged, or until giveUp is done.
func (c *cluster) publish(stopNew, giveUp context.Context, idx int, rng *rand.Rand) *publisherLog {
	log := &publisherLog{attempted: map[string][]string{}, stats: newHTTPStats()}
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	for i := 0; stopNew.Err() == nil; i++ {
		// A random node for each publish, so every node, a restarted one included,
		// keeps being tried (its recovery is measured by the first 201 it gives).
		node := rng.IntN(len(c.nodes))
		key := fmt.Sprintf("p%d-%d", idx, i)
		kind, recipients, body, deliverAt := c.publishBody(rng, key)
		log.attempted[key] = recipients
		a := ack{key: key, kind: kind, first: time.Now()}
		backoff := 20 * time.Millisecond
		var got []recipient
		// A scheduled publish is retried until its time: after it, a retry would be
		// refused (deliverAt must be in the future) and a lost answer stays unknown.
		for giveUp.Err() == nil && (deliverAt.IsZero() || time.Now().Before(deliverAt.Add(-200*time.Millisecond))) {
			a.attempts++
			a.lastTry = time.Now()
			var replayed, ok bool
			got, replayed, ok = c.tryPublish(giveUp, client, node, key, body, &log.stats)
			if ok {
				a.node, a.at, a.replayed = node, time.Now(), replayed
				break
			}
			node = (node + 1 + rng.IntN(len(c.nodes)-1)) % len(c.nodes) // another node
			sleep(giveUp, backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
		}
		if got == nil {
			log.unacked = append(log.unacked, key)
			if giveUp.Err() == nil {
				continue // a scheduled publish whose time came first
			}
			break
		}
		for _, r := range got {
			a.user, a.id = r.stream, r.id
			log.acks = append(log.acks, a)
		}
		sleep(stopNew, publishPace)
	}
	return log
}

// publishBody picks the publish's kind and recipients from rng: five in ten to one
// user, one in ten to one user scheduled 1 to 2 s ahead, two in ten to two to
// bulkMax users with userIds, two in ten to a topic.
func (c *cluster) publishBody(rng *rand.Rand, key string) (kind string, recipients []string, body []byte, deliverAt time.Time) {
	n := map[string]any{"type": "soak", "title": key, "data": map[string]string{"key": key}}
	switch roll := rng.IntN(10); {
	case roll == 0:
		kind = publishScheduled
		recipients = []string{c.users[rng.IntN(len(c.users))]}
		n["userId"] = recipients[0]
		deliverAt = time.Now().Add(time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
		n["deliverAt"] = deliverAt.UTC().Format(time.RFC3339Nano)
	case roll < 6 || len(c.users) < 2:
		kind = publishSingle
		recipients = []string{c.users[rng.IntN(len(c.users))]}
		n["userId"] = recipients[0]
	case roll < 8 || len(c.topics) == 0:
		kind = publishBulk
		for _, i := range rng.Perm(len(c.users))[:2+rng.IntN(min(bulkMax, len(c.users))-1)] {
			recipients = append(recipients, c.users[i])
		}
		n["userIds"] = recipients
	default:
		kind = publishTopic
		topic := c.topics[rng.IntN(len(c.topics))]
		recipients = []string{topicStream(topic)}
		n["topic"] = topic
	}
	body, _ = json.Marshal(n)
	return kind, recipients, body, deliverAt
}

// recipient is one notification a 201 created: its stream and id.
type recipient struct{ stream, id string }

// tryPublish makes one attempt; ok with the notifications created (one, or one
// per recipient of a bulk publish).
func (c *cluster) tryPublish(ctx context.Context, client *http.Client, node int, key string, body []byte, stats *httpStats) (got []recipient, replayed, ok bool) {
	req, _ := http.NewRequestWithContext(ctx, "POST", c.nodes[node].url+"/api/notifications", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		stats.errors++
		return nil, false, false
	}
	defer resp.Body.Close()
	stats.record(resp, node, "publish")
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusCreated {
		return nil, false, false
	}
	type created struct{ ID, UserID, Topic string }
	var one struct {
		created
		Notifications []created
	}
	if json.Unmarshal(b, &one) != nil {
		return nil, false, false
	}
	all := one.Notifications
	if all == nil {
		all = []created{one.created}
	}
	for _, n := range all {
		stream := n.UserID
		if n.Topic != "" {
			stream = topicStream(n.Topic)
		}
		if n.ID == "" || stream == "" {
			return nil, false, false
		}
		got = append(got, recipient{stream, n.ID})
	}
	return got, resp.Header.Get("Idempotent-Replayed") == "true", len(got) > 0
}

// receipt is one event a subscriber received, in the order it was read.
type receipt struct {
	at      time.Time
	conn    int // index in subscriberLog.conns
	name    string
	eventID string // "" when the frame set no id
	notifID string // notification events: the notification's id
	key     string // "notification": the publisher's idempotency key
	user    string // "notification": its stream (userId, or "topic:<name>")
	// The inbox state the event tells: unread is true for a notification (or
	// "notification:updated") neither read nor archived; ids are an init's unread
	// notifications or a read-all's ids, before a read-all's "before"; count is the
	// unreadCount of an init or an "unread" event.
	unread bool
	ids    []string
	before string
	count  int
}

// connection is one attempt to open the stream.
type connection struct {
	node        int
	at          time.Time
	lastEventID string // the resume point sent ("" on the first connect)
	status      int    // 200 (SSE) or 101 (WebSocket) when opened; 0 for a transport error
	err         string
	broke       time.Time // when the open stream ended
	why         string
}

func (c *connection) opened() bool {
	return c.status == http.StatusOK || c.status == http.StatusSwitchingProtocols
}

// Subscriber transports.
const (
	overSSE = "sse"
	overWS  = "ws"
)

// subscriberLog is what one subscriber saw; only its goroutine writes it.
type subscriberLog struct {
	user      string // the stream followed: a user id, or "topic:<name>"
	transport string // overSSE or overWS
	path      string // the stream's path
	receipts  []receipt
	conns     []connection
	stats     httpStats
}

// subscribe runs one subscriber of the stream at path (a user's own, or a
// topic's) over transport until ctx is done: a random node, and on any break a
// resume from the last event id on a random node. ready is closed once the
// subscriber is positioned: its first init, or for a topic stream (which has no
// init) its first event.
func (c *cluster) subscribe(ctx context.Context, sub plannedSubscriber, token string, rng *rand.Rand, ready chan<- struct{}) *subscriberLog {
	log := &subscriberLog{user: sub.user, transport: sub.transport, path: sub.path, stats: newHTTPStats()}
	client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: idleTimeout}}
	defer client.CloseIdleConnections()
	r := &reader{log: log, ready: ready}
	for ctx.Err() == nil {
		node := rng.IntN(len(c.nodes))
		conn := connection{node: node, at: time.Now(), lastEventID: r.last}
		r.conn = len(log.conns)
		if sub.transport == overWS {
			c.followWS(ctx, token, r, &conn)
		} else {
			c.followSSE(ctx, client, token, r, &conn)
		}
		log.conns = append(log.conns, conn)
		sleep(ctx, time.Duration(20+rng.IntN(200))*time.Millisecond)
	}
	return log
}

// reader records the frames of one subscriber's streams, whatever the transport.
type reader struct {
	log   *subscriberLog
	conn  int    // index of the open connection in log.conns
	last  string // the resume point: the last event id received
	ready chan<- struct{}
}

// frame records one event (pong frames say nothing of the stream and are
// skipped). id is "" for a frame that set none. A capability stream's unnamed
// events ("message") are its notifications.
func (r *reader) frame(name, id string, data []byte) {
	if name == "pong" {
		return
	}
	if name == "message" {
		name = "notification"
	}
	rc := receipt{at: time.Now(), conn: r.conn, name: name, eventID: id}
	if id != "" {
		r.last = id
	}
	type notif struct {
		ID         string  `json:"id"`
		UserID     string  `json:"userId"`
		Topic      string  `json:"topic"`
		ReadAt     *string `json:"readAt"`
		ArchivedAt *string `json:"archivedAt"`
		Data       struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	switch name {
	case "notification", "notification:updated", "notification:deleted":
		var n notif
		_ = json.Unmarshal(data, &n)
		rc.notifID, rc.unread = n.ID, n.ReadAt == nil && n.ArchivedAt == nil
		if name == "notification" {
			rc.key, rc.user = n.Data.Key, n.UserID
			if n.Topic != "" {
				rc.user = topicStream(n.Topic)
			}
		}
	case "notifications:read":
		var d struct {
			IDs    []string `json:"ids"`
			Before string   `json:"before"`
		}
		_ = json.Unmarshal(data, &d)
		rc.ids, rc.before = d.IDs, d.Before
	case "init":
		var d struct {
			Notifications []notif `json:"notifications"`
			UnreadCount   int     `json:"unreadCount"`
		}
		_ = json.Unmarshal(data, &d)
		rc.count = d.UnreadCount
		for _, n := range d.Notifications {
			rc.ids = append(rc.ids, n.ID)
		}
	case "unread":
		var d struct {
			UnreadCount int `json:"unreadCount"`
		}
		_ = json.Unmarshal(data, &d)
		rc.count = d.UnreadCount
	}
	r.log.receipts = append(r.log.receipts, rc)
	if r.ready != nil && (name == "init" || name == "notification" && strings.HasPrefix(r.log.user, "topic:")) {
		close(r.ready)
		r.ready = nil
	}
}

// followSSE opens one SSE stream, reads it with sse.Decoder until it breaks.
func (c *cluster) followSSE(ctx context.Context, client *http.Client, token string, r *reader, conn *connection) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.nodes[conn.node].url+r.log.path, nil)
	if token != "" { // a capability stream's token is in its path
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if conn.lastEventID != "" {
		req.Header.Set("Last-Event-ID", conn.lastEventID)
	}
	watchdog := time.AfterFunc(idleTimeout, cancel)
	defer watchdog.Stop()
	resp, err := client.Do(req)
	if err != nil {
		r.log.stats.errors++
		conn.err = err.Error()
		return
	}
	defer resp.Body.Close()
	r.log.stats.record(resp, conn.node, "stream")
	conn.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return
	}
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			conn.broke, conn.why = time.Now(), err.Error()
			if ctx.Err() != nil && watchdogFired(watchdog) {
				conn.why = "silent for " + idleTimeout.String()
			}
			return
		}
		watchdog.Reset(idleTimeout)
		if ev.IsComment || ev.Name == "" {
			continue
		}
		id := ""
		if ev.SetID {
			id = ev.ID
		}
		r.frame(ev.Name, id, []byte(ev.Data))
	}
}

// followWS opens one WebSocket stream (resuming with ?lastEventId=) and reads
// its frames until it breaks. It sends an application ping every heartbeat: the
// pong is what tells a live node from a paused one, as the server's protocol
// pings are answered inside the library and never seen here.
func (c *cluster) followWS(ctx context.Context, token string, r *reader, conn *connection) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := "ws" + strings.TrimPrefix(c.nodes[conn.node].url, "http") + r.log.path
	if conn.lastEventID != "" {
		u += "?lastEventId=" + url.QueryEscape(conn.lastEventID)
	}
	watchdog := time.AfterFunc(idleTimeout, cancel)
	defer watchdog.Stop()
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if resp != nil {
		r.log.stats.record(resp, conn.node, "ws")
		conn.status = resp.StatusCode
	}
	if err != nil {
		if resp == nil {
			r.log.stats.errors++
		}
		conn.err = err.Error()
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	go func() {
		for ctx.Err() == nil {
			if ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
				return
			}
			sleep(ctx, heartbeat)
		}
	}()
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			conn.broke, conn.why = time.Now(), err.Error()
			if watchdogFired(watchdog) {
				conn.why = "silent for " + idleTimeout.String()
			}
			return
		}
		watchdog.Reset(idleTimeout)
		var f struct {
			ID    string          `json:"id"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if json.Unmarshal(msg, &f) != nil {
			f.Event = "<not JSON>"
		}
		r.frame(f.Event, f.ID, f.Data)
	}
}

// watchdogFired reports whether the idle watchdog already ran (Stop returns
// false once the timer has fired).
func watchdogFired(t *time.Timer) bool { return !t.Stop() }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// parseEventID splits "<epoch>-<seq>".
func parseEventID(id string) (epoch string, seq uint64, ok bool) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '-' {
			n, err := strconv.ParseUint(id[i+1:], 10, 64)
			return id[:i], n, err == nil
		}
	}
	return "", 0, false
}
