package hub

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/tocsin/tocsin"
)

// Sink is one connection's transport (SSE, WebSocket). The hub calls it from the one
// goroutine that serves the stream; writes may buffer until Flush.
type Sink interface {
	// Event writes a stored event, with its id. d is shared between connections: encode
	// it with d.Encoded so it is encoded once. When d.Event.Unread is not
	// UnreadUnchanged, the transport follows the event with an "unread" event.
	Event(d *Delivery) error
	// Control writes an event made for this connection only (init, reset, unread); id
	// is "" for events that must not move the client's resume point.
	Control(name, id string, data []byte) error
	// Heartbeat writes a keep-alive.
	Heartbeat() error
	// Batch writes several stored events as one "notifications:batch" event whose id
	// is the last one's, followed by an "unread" event when unread is not
	// UnreadUnchanged. Only streams that asked for batching get it.
	Batch(ds []*Delivery, unread int) error
	// Flush sends what was written.
	Flush() error
}

// SubscribeRequest describes a stream a client opens.
type SubscribeRequest struct {
	// Stream is the stream served; empty means the user's own (UserStream(UserID)).
	Stream tocsin.StreamID
	// UserID is the user the stream belongs to or is opened by ("" for a topic opened
	// with a capability token); per-user slots and the inbox snapshot are its.
	UserID string
	// LastEventID is the client's resume point as it sent it; "" for a fresh connect.
	LastEventID string
	// Types, when non-empty, limits delivered events to these notification types (or
	// custom event names). reset, init and unread are always delivered.
	Types     []string
	DeviceID  string
	Transport string
	// Batch, when positive, coalesces the live events of each window of this length
	// into one Sink.Batch call (a lone event is written as itself).
	Batch time.Duration
	// Names, when non-empty, limits delivered events to these event names (a
	// capability stream takes only "notification"); reset is always delivered, and
	// unread counts only when "unread" is listed.
	Names []string
	// TokenID names the stream token the stream was opened with: CloseToken ends it,
	// and MaxStreamsPerToken counts by it.
	TokenID string
	// ClientAddr is who opened the stream, as the transport tells clients apart (an
	// address, or an IPv6 /64): MaxStreamsPerAddr counts by it; "" is not counted.
	ClientAddr string
	// Check, when set, runs after every heartbeat; an error ends the stream with it
	// (a token revoked on another node).
	Check func(ctx context.Context) error
	// NoInit makes a fresh connect start at the stream's head without an init
	// snapshot, and a reset carry no init either (the member-events surface, whose
	// clients know only their own event types).
	NoInit bool
	// Expires, when set, is when the credential that opened the stream stops being
	// valid: the stream then ends with ErrExpired (the client reconnects with a fresh
	// one), at most one sweep interval late (see sweep).
	Expires time.Time
}

// replayPage is how many stored events one store read returns during replay.
const replayPage = 500

// Serve runs one stream until ctx ends, the hub kicks it, or the sink fails: Begin,
// then Live on the same goroutine.
func (h *Hub) Serve(ctx context.Context, req SubscribeRequest, sink Sink) error {
	st, err := h.Begin(ctx, req, sink)
	if err != nil {
		return err
	}
	return st.Live(ctx)
}

// Stream is a stream that has begun: registered, caught up, flushed.
type Stream struct{ c *conn }

// Begin registers the connection, then writes what it starts with (the replay after
// its resume point, or init) and flushes. It registers before reading the store, so
// no event committed after the read can be missed: such events wait in the queue and
// Live writes them after the replay, each exactly once (by sequence).
//
// Errors before anything was written (too many streams, shutting down, store down)
// are *tocsin.Error, so the transport can still answer with a status. A transport
// may run Live on a fresh goroutine, so the long-lived one does not keep the stack
// that the store reads and encoding grew.
func (h *Hub) Begin(ctx context.Context, req SubscribeRequest, sink Sink) (*Stream, error) {
	c := &conn{h: h, sink: sink}
	if err := h.begin(ctx, req, c, true); err != nil {
		return nil, err
	}
	return &Stream{c: c}, nil
}

// begin registers c's subscriber and writes what the stream starts with. withChans
// gives the subscriber the channels a stream on its own goroutine waits on.
func (h *Hub) begin(ctx context.Context, req SubscribeRequest, c *conn, withChans bool) error {
	stream := req.Stream
	if stream == "" {
		if err := tocsin.ValidateUserID(req.UserID); err != nil {
			return err
		}
		stream = tocsin.UserStream(req.UserID)
	}
	if _, isUser := stream.UserID(); !isUser {
		req.NoInit = true // a topic has no inbox to snapshot
	}
	if !req.Expires.IsZero() && !h.cfg.Now().Before(req.Expires) {
		return tocsin.Errorf(tocsin.EUnauthorized, "invalid token: expired")
	}
	s := &subscriber{
		stream: stream, userID: req.UserID, types: req.Types, names: req.Names, tokenID: req.TokenID,
		addr:     req.ClientAddr,
		check:    req.Check,
		deviceID: req.DeviceID, transport: req.Transport, since: h.now(), noInit: req.NoInit,
		batch: req.Batch, max: h.cfg.QueueSize,
	}
	if !req.Expires.IsZero() {
		s.expires = req.Expires.UnixNano()
		h.startSweep()
	}
	if withChans {
		s.ready, s.done = make(chan struct{}, 1), make(chan struct{})
	}
	if err := h.register(s); err != nil {
		return err
	}
	c.s = s
	err := c.begin(ctx, req.LastEventID)
	if err == nil {
		err = c.sink.Flush()
	}
	if err != nil {
		h.unregister(s)
		return c.ended(err)
	}
	h.noteHead(s.stream, c.last)
	return nil
}

// Live writes live events until ctx ends, the hub kicks the stream, or the sink
// fails, then unregisters it. A kick ends with ErrSlowConsumer, ErrShutdown,
// ErrReplaced or ErrRevoked; a client going away ends with nil.
func (st *Stream) Live(ctx context.Context) error {
	c := st.c
	defer c.h.unregister(c.s)
	return c.ended(c.live(ctx))
}

// conn is the state of one served stream, owned by its goroutine.
type conn struct {
	h    *Hub
	s    *subscriber
	sink Sink
	last uint64 // seq of the last event handled (written or filtered out)
	// storeTimeout, when set, bounds the store reads of a live gap fill.
	storeTimeout time.Duration
	n            int // events written since the last report to the observer

	// Batching (live events only): pending holds the window's events; pendingUnread
	// the newest unread count among them (UnreadUnchanged when none changed it).
	batching      bool
	pending       []*Delivery
	pendingUnread int
}

// ended maps the end of a stream to what Serve returns.
func (c *conn) ended(err error) error {
	if c.n > 0 {
		c.h.obs.EventsDelivered(c.n)
	}
	if kicked := c.s.err(); kicked != nil && !errors.Is(kicked, context.Canceled) {
		return kicked
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// begin writes what a new connection starts with: the replay after its resume point,
// or reset (when that point cannot be honoured) and then init.
func (c *conn) begin(ctx context.Context, lastEventID string) error {
	reason := ""
	if lastEventID != "" {
		id, err := tocsin.ParseEventID(lastEventID)
		switch {
		case err != nil:
			reason = "malformed Last-Event-ID"
		case id.Epoch != c.h.epoch:
			reason = "Last-Event-ID belongs to another history of this server"
		default:
			c.last = id.Seq
			err := c.catchUp(ctx, 0)
			if err == nil && c.s.noInit {
				return nil
			}
			if err == nil {
				return c.unread(ctx)
			}
			if tocsin.ErrorCodeOf(err) != tocsin.EGone {
				return err
			}
			reason = "Last-Event-ID is too old or unknown"
		}
		return c.restart(ctx, reason)
	}
	return c.init(ctx)
}

// restart tells the client its resume point cannot be honoured (reset), then sends
// a fresh init.
func (c *conn) restart(ctx context.Context, reason string) error {
	clear(c.pending) // the init that follows supersedes what a batch window held
	c.pending, c.pendingUnread = c.pending[:0], tocsin.UnreadUnchanged
	data, _ := json.Marshal(map[string]string{"reason": reason})
	if err := c.sink.Control(tocsin.EventReset, "", data); err != nil {
		return err
	}
	return c.init(ctx)
}

func (c *conn) init(ctx context.Context) error {
	if c.s.noInit {
		head, err := c.h.store.Head(ctx, c.s.stream)
		c.last = head
		return err
	}
	snap, err := c.h.store.Snapshot(ctx, c.s.userID, tocsin.ListQuery{
		Status: tocsin.StatusUnread, Types: c.s.types, Limit: c.h.cfg.InitLimit, Now: c.h.now(),
	})
	if err != nil {
		return err
	}
	c.last = snap.Head
	if snap.Notifications == nil {
		snap.Notifications = []tocsin.Notification{}
	}
	// userId tells the client whose stream this is, so a browser client that shares
	// one stream between tabs can check it follows the user it was signed in as.
	data, err := json.Marshal(struct {
		Notifications []tocsin.Notification `json:"notifications"`
		UnreadCount   int                   `json:"unreadCount"`
		UserID        string                `json:"userId"`
	}{snap.Notifications, snap.UnreadCount, c.s.userID})
	if err != nil {
		return err
	}
	return c.sink.Control(tocsin.EventInit, c.h.EventID(snap.Head), data)
}

// catchUp writes the stored events after c.last, up to and including seq upTo (0: all).
func (c *conn) catchUp(ctx context.Context, upTo uint64) error {
	for {
		evs, err := c.h.store.Events(ctx, c.s.stream, c.last, replayPage)
		if err != nil {
			return err
		}
		for i := range evs {
			if upTo != 0 && evs[i].Seq > upTo {
				return nil
			}
			d := &Delivery{Event: evs[i], ID: c.h.EventID(evs[i].Seq)}
			if err := c.write(d); err != nil {
				return err
			}
		}
		if len(evs) < replayPage {
			return nil
		}
	}
}

// unread writes the current unread count, as after a replay.
func (c *conn) unread(ctx context.Context) error {
	n, err := c.h.store.UnreadCount(ctx, c.s.userID)
	if err != nil {
		return err
	}
	return c.sink.Control(tocsin.EventUnread, "", unreadData(n))
}

func unreadData(n int) []byte {
	b := strconv.AppendInt([]byte(`{"unreadCount":`), int64(n), 10)
	return append(b, '}')
}

// write sends one event, or only its unread count when the connection filters it out.
// While batching it holds the event for the window's end instead.
func (c *conn) write(d *Delivery) error {
	c.last = d.Event.Seq
	if c.batching {
		if d.Event.Unread != tocsin.UnreadUnchanged && c.s.wantsUnread() {
			c.pendingUnread = d.Event.Unread
		}
		if c.s.accepts(&d.Event) {
			c.pending = append(c.pending, d)
		}
		return nil
	}
	if c.s.accepts(&d.Event) {
		c.n++
		return c.sink.Event(d)
	}
	if d.Event.Unread != tocsin.UnreadUnchanged && c.s.wantsUnread() {
		return c.sink.Control(tocsin.EventUnread, "", unreadData(d.Event.Unread))
	}
	return nil
}

// live writes queued events as they arrive (handle) on the stream's own goroutine,
// and a heartbeat after each idle period.
func (c *conn) live(ctx context.Context) error {
	hb := time.NewTimer(c.h.cfg.Heartbeat)
	defer hb.Stop()
	// window is the batching timer; its channel is nil (never ready) while no
	// window is open.
	var window *time.Timer
	var windowC <-chan time.Time
	if c.s.batch > 0 {
		c.batching, c.pendingUnread = true, tocsin.UnreadUnchanged
		window = time.NewTimer(c.s.batch)
		window.Stop()
		defer window.Stop()
	}
	var batch []*Delivery
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.s.done:
			return c.s.err()
		case <-windowC:
			windowC = nil
			if err := c.flushWindow(); err != nil {
				return err
			}
			if err := c.sink.Flush(); err != nil {
				return err
			}
			hb.Reset(c.h.cfg.Heartbeat)
		case <-hb.C:
			if c.s.check != nil {
				if err := c.s.check(ctx); err != nil {
					return err
				}
			}
			if err := c.sink.Heartbeat(); err != nil {
				return err
			}
			if err := c.sink.Flush(); err != nil {
				return err
			}
			hb.Reset(c.h.cfg.Heartbeat)
		case <-c.s.ready:
			var err error
			batch, err = c.handle(ctx, batch)
			if err != nil {
				return err
			}
			if c.batching {
				if windowC == nil && c.windowWanted() {
					window.Reset(c.s.batch)
					windowC = window.C
				}
				continue
			}
			if err := c.sink.Flush(); err != nil {
				return err
			}
			hb.Reset(c.h.cfg.Heartbeat)
		}
	}
}

// handle takes what is queued and writes it in sequence order: a duplicate (seq
// already handled) is dropped, a gap (an event the bus lost or reordered) is filled
// from the store. batch is a buffer reused between calls. While batching, the events
// are held for the window instead; otherwise the caller flushes.
func (c *conn) handle(ctx context.Context, batch []*Delivery) ([]*Delivery, error) {
	batch = c.s.take(batch)
	defer clear(batch)
	for _, d := range batch {
		var err error
		switch seq := d.Event.Seq; {
		case seq <= c.last:
			continue
		case seq == c.last+1 && !d.poke:
			err = c.write(d)
		default: // a poke, or a gap before d: read the store up to it
			err = c.fill(ctx, seq)
		}
		if err != nil {
			return batch, err
		}
	}
	if !c.batching && c.n > 0 {
		c.h.obs.EventsDelivered(c.n)
		c.n = 0
	}
	return batch, nil
}

// fill writes the stored events up to seq (a gap, or a poke's head), or a reset
// and init when they were removed. A driven stream bounds it by storeTimeout: it
// runs on a worker that other streams wait on.
func (c *conn) fill(ctx context.Context, seq uint64) error {
	if c.storeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.storeTimeout)
		defer cancel()
	}
	err := c.catchUp(ctx, seq)
	if tocsin.ErrorCodeOf(err) == tocsin.EGone {
		err = c.restart(ctx, "events were removed before this connection read them")
	}
	return err
}

// windowWanted reports whether a batching window should open: events or an unread
// count are held.
func (c *conn) windowWanted() bool {
	return len(c.pending) > 0 || c.pendingUnread != tocsin.UnreadUnchanged
}

// flushWindow writes the events held during a batching window: a lone event as
// itself, several as one batch, then the newest unread count.
func (c *conn) flushWindow() error {
	var err error
	switch len(c.pending) {
	case 0:
		if c.pendingUnread != tocsin.UnreadUnchanged {
			err = c.sink.Control(tocsin.EventUnread, "", unreadData(c.pendingUnread))
		}
	case 1:
		d := c.pending[0]
		if d.Event.Unread == c.pendingUnread {
			err = c.sink.Event(d) // the event carries the count itself
		} else if err = c.sink.Event(&Delivery{Event: withoutUnread(d.Event), ID: d.ID}); err == nil && c.pendingUnread != tocsin.UnreadUnchanged {
			err = c.sink.Control(tocsin.EventUnread, "", unreadData(c.pendingUnread))
		}
	default:
		err = c.sink.Batch(c.pending, c.pendingUnread)
	}
	c.n += len(c.pending)
	if c.n > 0 {
		c.h.obs.EventsDelivered(c.n)
		c.n = 0
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	if cap(c.pending) > 64 {
		c.pending = nil
	}
	c.pendingUnread = tocsin.UnreadUnchanged
	return err
}

func withoutUnread(ev tocsin.Event) tocsin.Event {
	ev.Unread = tocsin.UnreadUnchanged
	return ev
}
