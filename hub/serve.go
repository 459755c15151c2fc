package hub

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/tocsin/tocsin"
)

// Sink is one open stream's transport (SSE, WebSocket). The hub calls it from one
// goroutine at a time (Begin's caller, then the stream's runner, see live.go), never
// concurrently; writes may buffer until Flush. A Sink may block (Live runs it on a
// goroutine of its own); a stream run by the hub's workers (Go) needs an AsyncSink.
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
	s, err := h.Begin(ctx, req, sink)
	if err != nil {
		return err
	}
	return s.Live(ctx)
}

// Begin registers the stream, then writes what it starts with (the replay after its
// resume point, or init) and flushes. It registers before reading the store, so no
// event committed after the read can be missed: such events wait in the queue and
// the live phase writes them after the replay, each exactly once (by sequence).
//
// Errors before anything was written (too many streams, shutting down, store down)
// are *tocsin.Error, so the transport can still answer with a status. Every Stream
// Begin returns must then be run, by Live or by Go (live.go). A transport may run
// Live on a fresh goroutine, so the long-lived one does not keep the stack that the
// store reads and encoding grew.
func (h *Hub) Begin(ctx context.Context, req SubscribeRequest, sink Sink) (*Stream, error) {
	stream := req.Stream
	if stream == "" {
		if err := tocsin.ValidateUserID(req.UserID); err != nil {
			return nil, err
		}
		stream = tocsin.UserStream(req.UserID)
	}
	if _, isUser := stream.UserID(); !isUser {
		req.NoInit = true // a topic has no inbox to snapshot
	}
	if !req.Expires.IsZero() && !h.cfg.Now().Before(req.Expires) {
		return nil, tocsin.Errorf(tocsin.EUnauthorized, "invalid token: expired")
	}
	s := &Stream{
		h: h, sink: sink,
		stream: stream, userID: req.UserID, types: req.Types, names: req.Names, tokenID: req.TokenID,
		addr:     req.ClientAddr,
		check:    req.Check,
		deviceID: req.DeviceID, transport: req.Transport, since: h.now(), noInit: req.NoInit,
		window: req.Batch, max: h.cfg.QueueSize,
	}
	s.state.Store(running) // Begin's caller runs it until Live or Go hands it over
	s.lastWrite.Store(math.MaxInt64)
	if !req.Expires.IsZero() {
		s.expires = req.Expires.UnixNano()
		h.startSweep()
	}
	// Counted before it can be registered, in case Go hands it to the workers: Close
	// waits for the streams they run (Live takes it out again).
	h.runq.began()
	if err := h.register(s); err != nil {
		h.runq.ended()
		return nil, err
	}
	err := s.writeStart(ctx, req.LastEventID)
	if err == nil {
		err = sink.Flush()
	}
	if err != nil {
		if err = s.ended(err); err == nil {
			// The client went away while the stream began: it ends (nil) as soon as
			// it is run, which unregisters it once.
			s.kick(context.Canceled)
			return s, nil
		}
		h.unregister(s)
		h.runq.ended()
		return nil, err
	}
	h.noteHead(s.stream, s.last)
	return s, nil
}

// ended maps the end of a stream to what Serve returns.
func (s *Stream) ended(err error) error {
	if s.n > 0 {
		s.h.obs.EventsDelivered(s.n)
		s.n = 0
	}
	if kicked := s.err(); kicked != nil && !errors.Is(kicked, context.Canceled) {
		return kicked
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// writeStart writes what a new stream starts with: the replay after its resume
// point, or reset (when that point cannot be honoured) and then init.
func (s *Stream) writeStart(ctx context.Context, lastEventID string) error {
	reason := ""
	if lastEventID != "" {
		id, err := tocsin.ParseEventID(lastEventID)
		switch {
		case err != nil:
			reason = "malformed Last-Event-ID"
		case id.Epoch != s.h.epoch:
			reason = "Last-Event-ID belongs to another history of this server"
		default:
			s.last = id.Seq
			err := s.catchUp(ctx, 0)
			if err == nil && s.noInit {
				return nil
			}
			if err == nil {
				return s.unread(ctx)
			}
			if tocsin.ErrorCodeOf(err) != tocsin.EGone {
				return err
			}
			reason = "Last-Event-ID is too old or unknown"
		}
		return s.restart(ctx, reason)
	}
	return s.init(ctx)
}

// restart tells the client its resume point cannot be honoured (reset), then sends
// a fresh init.
func (s *Stream) restart(ctx context.Context, reason string) error {
	clear(s.pending) // the init that follows supersedes what a batch window held
	s.pending, s.pendingUnread = s.pending[:0], tocsin.UnreadUnchanged
	data, _ := json.Marshal(map[string]string{"reason": reason})
	if err := s.sink.Control(tocsin.EventReset, "", data); err != nil {
		return err
	}
	return s.init(ctx)
}

func (s *Stream) init(ctx context.Context) error {
	if s.noInit {
		head, err := s.h.store.Head(ctx, s.stream)
		s.last = head
		return err
	}
	snap, err := s.h.store.Snapshot(ctx, s.userID, tocsin.ListQuery{
		Status: tocsin.StatusUnread, Types: s.types, Limit: s.h.cfg.InitLimit, Now: s.h.now(),
	})
	if err != nil {
		return err
	}
	s.last = snap.Head
	// {"notifications":[...],"unreadCount":N,"userId":"..."}, the notifications
	// appended as their events are (json.Marshal would re-read each one's bytes).
	// userId tells the client whose stream this is, so a browser client that shares
	// one stream between tabs can check it follows the user it was signed in as.
	data, err := tocsin.AppendNotificationsJSON(append(make([]byte, 0, 64+512*len(snap.Notifications)),
		`{"notifications":`...), snap.Notifications)
	if err != nil {
		return err
	}
	user, err := json.Marshal(s.userID)
	if err != nil {
		return err
	}
	data = strconv.AppendInt(append(data, `,"unreadCount":`...), int64(snap.UnreadCount), 10)
	data = append(append(append(data, `,"userId":`...), user...), '}')
	return s.sink.Control(tocsin.EventInit, s.h.EventID(snap.Head), data)
}

// catchUp writes the stored events after s.last, up to and including seq upTo (0: all).
func (s *Stream) catchUp(ctx context.Context, upTo uint64) error {
	for {
		evs, err := s.h.store.Events(ctx, s.stream, s.last, replayPage)
		if err != nil {
			return err
		}
		for i := range evs {
			if upTo != 0 && evs[i].Seq > upTo {
				return nil
			}
			d := &Delivery{Event: evs[i], ID: s.h.EventID(evs[i].Seq)}
			if err := s.write(d); err != nil {
				return err
			}
		}
		if len(evs) < replayPage {
			return nil
		}
	}
}

// unread writes the current unread count, as after a replay.
func (s *Stream) unread(ctx context.Context) error {
	n, err := s.h.store.UnreadCount(ctx, s.userID)
	if err != nil {
		return err
	}
	return s.sink.Control(tocsin.EventUnread, "", unreadData(n))
}

func unreadData(n int) []byte {
	b := strconv.AppendInt([]byte(`{"unreadCount":`), int64(n), 10)
	return append(b, '}')
}

// write sends one event, or only its unread count when the connection filters it out.
// While batching it holds the event for the window's end instead.
func (s *Stream) write(d *Delivery) error {
	s.last = d.Event.Seq
	if s.batching {
		if d.Event.Unread != tocsin.UnreadUnchanged && s.wantsUnread() {
			s.pendingUnread = d.Event.Unread
		}
		if s.accepts(&d.Event) {
			s.pending = append(s.pending, d)
		}
		return nil
	}
	if s.accepts(&d.Event) {
		s.n++
		return s.sink.Event(d)
	}
	if d.Event.Unread != tocsin.UnreadUnchanged && s.wantsUnread() {
		return s.sink.Control(tocsin.EventUnread, "", unreadData(d.Event.Unread))
	}
	return nil
}

// handle takes what is queued and writes it in sequence order: a duplicate (seq
// already handled) is dropped, a gap (an event the bus lost or reordered) is filled
// from the store. While batching, the events are held for the window instead;
// otherwise the caller flushes. It reports whether it took anything.
func (s *Stream) handle(ctx context.Context) (bool, error) {
	s.taken = s.take(s.taken)
	defer func() {
		clear(s.taken)
		if cap(s.taken) > 64 {
			s.taken = nil // give back what a burst grew
		}
	}()
	took := len(s.taken) > 0
	for _, d := range s.taken {
		var err error
		switch seq := d.Event.Seq; {
		case seq <= s.last:
			continue
		case seq == s.last+1 && !d.poke:
			err = s.write(d)
		default: // a poke, or a gap before d: read the store up to it
			err = s.fill(ctx, seq)
		}
		if err != nil {
			return took, err
		}
	}
	if !s.batching && s.n > 0 {
		s.h.obs.EventsDelivered(s.n)
		s.n = 0
	}
	return took, nil
}

// fill writes the stored events up to seq (a gap, or a poke's head), or a reset
// and init when they were removed.
func (s *Stream) fill(ctx context.Context, seq uint64) error {
	ctx, cancel := s.bound(ctx, fillTimeout)
	defer cancel()
	err := s.catchUp(ctx, seq)
	if tocsin.ErrorCodeOf(err) == tocsin.EGone {
		err = s.restart(ctx, "events were removed before this connection read them")
	}
	return err
}

// windowWanted reports whether a batching window should open: events or an unread
// count are held.
func (s *Stream) windowWanted() bool {
	return len(s.pending) > 0 || s.pendingUnread != tocsin.UnreadUnchanged
}

// flushWindow writes the events held during a batching window: a lone event as
// itself, several as one batch, then the newest unread count.
func (s *Stream) flushWindow() error {
	var err error
	switch len(s.pending) {
	case 0:
		if s.pendingUnread != tocsin.UnreadUnchanged {
			err = s.sink.Control(tocsin.EventUnread, "", unreadData(s.pendingUnread))
		}
	case 1:
		d := s.pending[0]
		if d.Event.Unread == s.pendingUnread {
			err = s.sink.Event(d) // the event carries the count itself
		} else if err = s.sink.Event(&Delivery{Event: withoutUnread(d.Event), ID: d.ID}); err == nil && s.pendingUnread != tocsin.UnreadUnchanged {
			err = s.sink.Control(tocsin.EventUnread, "", unreadData(s.pendingUnread))
		}
	default:
		err = s.sink.Batch(s.pending, s.pendingUnread)
	}
	s.n += len(s.pending)
	if s.n > 0 {
		s.h.obs.EventsDelivered(s.n)
		s.n = 0
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	if cap(s.pending) > 64 {
		s.pending = nil
	}
	s.pendingUnread = tocsin.UnreadUnchanged
	return err
}

func withoutUnread(ev tocsin.Event) tocsin.Event {
	ev.Unread = tocsin.UnreadUnchanged
	return ev
}
