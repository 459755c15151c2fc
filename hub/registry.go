package hub

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
)

// shard holds the streams whose ids hash to it. The subscriber slice of a stream is
// copy-on-write, so deliver reads it under a short read lock and sends outside it.
type shard struct {
	mu      sync.RWMutex
	streams map[tocsin.StreamID]*streamEntry

	interestMu sync.Mutex
	interest   map[tocsin.StreamID]bool // streams this node told the bus it wants
}

type streamEntry struct {
	subs []*subscriber // oldest first; never mutated in place; guarded by shard.mu

	// Ordering (order.go): deliver hands the stream's events to its connections in
	// sequence order, holding one that arrives early for a moment.
	omu   sync.Mutex
	next  uint64         // the seq expected next; 0: none yet
	held  []tocsin.Event // arrived ahead of next, sorted by seq
	timer *time.Timer    // gives up waiting for next
}

// Delivery is one committed event on its way to this node's connections. It is
// shared by all of them: each transport encodes it once, through Encoded.
type Delivery struct {
	Event tocsin.Event
	// ID is the public event id ("<epoch>-<seq>").
	ID string
	// poke marks a delivery that carries no event, only the news that the stream's
	// head is at least Event.Seq: connections behind it catch up from the store.
	poke bool

	once [encodingCount]sync.Once
	enc  [encodingCount][]byte
}

// Encoding is the key of one wire format's cached encoding of a Delivery
// (Delivery.Encoded). The keys are declared here, in one place, so that no two
// formats share one; the transports own the encode functions.
type Encoding uint8

// The wire formats of httpapi's streams.
const (
	EncodingSSE        Encoding = iota // an SSE event frame, and its "unread" frame
	EncodingWSEvent                    // a WebSocket event frame; also an item of an SSE batch
	EncodingWSUnread                   // the WebSocket "unread" frame after an event
	EncodingCapability                 // a capability stream's unnamed SSE frame
	encodingCount
)

// Encoded returns the delivery encoded by encode, computed once per key however many
// connections ask. Each wire format uses its own key with always the same encode.
func (d *Delivery) Encoded(key Encoding, encode func(*Delivery) []byte) []byte {
	d.once[key].Do(func() { d.enc[key] = encode(d) })
	return d.enc[key]
}

// subscriber is one open stream on this node.
type subscriber struct {
	stream    tocsin.StreamID
	userID    string
	types     []string // empty: all
	deviceID  string
	transport string
	since     time.Time
	noInit    bool
	batch     time.Duration
	names     []string // empty: all
	tokenID   string
	addr      string // the client address's key, for the per-address cap
	check     func(ctx context.Context) error
	held      uint8 // the keyed slots it holds (slots.go); guarded by Hub.slots.mu
	expires   int64 // unix ns when the stream's credential ends; 0: never (immutable)

	// A stream served on its own goroutine (Live) waits on these: ready is signalled
	// (cap 1) when the queue becomes non-empty, done is closed when kicked. A driven
	// stream has neither: enqueue and kick schedule drv on the hub's workers.
	ready chan struct{}
	done  chan struct{}
	drv   atomic.Pointer[drivenConn]

	mu     sync.Mutex
	queue  []*Delivery
	max    int
	reason error // why done was closed
}

// enqueue adds d without blocking and reports false when the queue is full.
func (s *subscriber) enqueue(d *Delivery) bool {
	s.mu.Lock()
	if s.reason != nil {
		s.mu.Unlock()
		return true
	}
	if len(s.queue) >= s.max {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, d)
	s.mu.Unlock()
	s.wake()
	return true
}

// wake tells the stream's writer that there is something to do.
func (s *subscriber) wake() {
	if d := s.drv.Load(); d != nil {
		d.schedule()
		return
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// take moves the queued deliveries into buf (reused between calls) and returns it.
func (s *subscriber) take(buf []*Delivery) []*Delivery {
	s.mu.Lock()
	buf = append(buf[:0], s.queue...)
	clear(s.queue)
	if cap(s.queue) > 64 {
		s.queue = nil // give back what a burst grew
	} else {
		s.queue = s.queue[:0]
	}
	s.mu.Unlock()
	return buf
}

// kick ends the stream with reason; the first reason wins.
func (s *subscriber) kick(reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason != nil {
		return
	}
	s.reason = reason
	s.queue = nil
	if s.done != nil {
		close(s.done)
	}
	if d := s.drv.Load(); d != nil {
		d.schedule()
	}
}

func (s *subscriber) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// accepts reports whether the stream delivers ev: its name is wanted (when names are
// given) and its type is wanted (when types are given). A read-all
// ("notifications:read") is about every type, so a ?types= stream takes it too: its
// ids of other types are unknown to such a client, and its "before" covers the
// client's own items.
func (s *subscriber) accepts(ev *tocsin.Event) bool {
	if len(s.names) > 0 && !slices.Contains(s.names, ev.Name) {
		return false
	}
	return len(s.types) == 0 || slices.Contains(s.types, ev.Type) || ev.Name == tocsin.EventRead
}

// wantsUnread reports whether the stream takes unread counts.
func (s *subscriber) wantsUnread() bool {
	return len(s.names) == 0 || slices.Contains(s.names, tocsin.EventUnread)
}

// register adds s to its stream, enforcing the node's cap and the keyed slots
// (slots.go): per user, per capability token, per client address.
func (h *Hub) register(s *subscriber) error {
	if h.closing.Load() {
		return tocsin.Errorf(tocsin.EUnavailable, "server is shutting down; reconnect")
	}
	if h.open.Add(1) > int64(h.cfg.MaxStreams) {
		h.open.Add(-1)
		return tocsin.Errorf(tocsin.ETooMany, "this server holds its maximum of %d streams; try again later", h.cfg.MaxStreams)
	}
	sh := h.shard(s.stream)
	sh.mu.Lock()
	e := sh.streams[s.stream]
	var subs []*subscriber
	if e != nil {
		subs = e.subs
	}
	evicted, err := h.slots.take(s, subs, &h.cfg)
	if err != nil {
		sh.mu.Unlock()
		h.open.Add(-1)
		return err
	}
	if e == nil {
		e = &streamEntry{}
		sh.streams[s.stream] = e
	}
	subs = make([]*subscriber, 0, len(e.subs)+1)
	for _, o := range e.subs {
		if o != evicted {
			subs = append(subs, o)
		}
	}
	e.subs = append(subs, s)
	first := len(e.subs) == 1
	sh.mu.Unlock()
	if evicted != nil {
		evicted.kick(ErrReplaced) // its own unregister will find it gone already
		h.open.Add(-1)
	}
	h.obs.StreamOpened(s.transport)
	if first {
		h.syncInterest(sh, s.stream)
	}
	return nil
}

// unregister removes s from its stream (no-op when register evicted it already).
func (h *Hub) unregister(s *subscriber) {
	s.kick(context.Canceled)
	sh := h.shard(s.stream)
	sh.mu.Lock()
	e := sh.streams[s.stream]
	found, last := false, false
	if e != nil {
		subs := make([]*subscriber, 0, len(e.subs))
		for _, o := range e.subs {
			if o == s {
				found = true
				continue
			}
			subs = append(subs, o)
		}
		e.subs = subs
		if len(subs) == 0 {
			delete(sh.streams, s.stream)
			last = true
		}
	}
	sh.mu.Unlock()
	h.slots.release(s)
	h.obs.StreamClosed(s.transport)
	if found {
		h.open.Add(-1)
	}
	if last {
		h.syncInterest(sh, s.stream)
	}
}

// syncInterest makes the bus subscription of stream match whether this node has
// subscribers for it. Calls are serialised per shard and re-read the wanted state, so
// concurrent first-join and last-leave cannot leave the bus in the wrong state.
func (h *Hub) syncInterest(sh *shard, stream tocsin.StreamID) {
	sh.interestMu.Lock()
	defer sh.interestMu.Unlock()
	sh.mu.RLock()
	want := sh.streams[stream] != nil
	sh.mu.RUnlock()
	if sh.interest[stream] == want {
		return
	}
	// A short wait: a healthy bus confirms in milliseconds, and a bus that is down
	// must not hold up the stream (the bus resyncs the stream when it is back).
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var err error
	if want {
		err = h.bus.Subscribe(ctx, stream)
	} else {
		err = h.bus.Unsubscribe(ctx, stream)
	}
	if err != nil {
		// The bus keeps the interest and re-establishes it when it reconnects, then
		// asks for a resync; until then gap detection and the store cover the stream.
		h.log.Warn("bus interest change failed", "stream", string(stream), "subscribe", want, "err", err)
	}
	if want {
		sh.interest[stream] = true
	} else {
		delete(sh.interest, stream)
	}
}

// Connection describes one open stream, for the admin view.
type Connection struct {
	UserID    string    `json:"userId"`
	DeviceID  string    `json:"deviceId"`
	Transport string    `json:"transport"`
	Since     time.Time `json:"since"`
}

// Connections lists the open streams of a user on this node, oldest first.
func (h *Hub) Connections(userID string) []Connection {
	stream := tocsin.UserStream(userID)
	sh := h.shard(stream)
	sh.mu.RLock()
	var subs []*subscriber
	if e := sh.streams[stream]; e != nil {
		subs = e.subs
	}
	sh.mu.RUnlock()
	out := make([]Connection, 0, len(subs))
	for _, s := range subs {
		out = append(out, Connection{UserID: s.userID, DeviceID: s.deviceID, Transport: s.transport, Since: s.since})
	}
	return out
}

// CloseToken ends every stream on this node opened with the stream token id (it was
// revoked). Nodes that did not revoke it find out at their streams' next heartbeat,
// through SubscribeRequest.Check.
func (h *Hub) CloseToken(id string) int {
	var kicked []*subscriber
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for _, e := range sh.streams {
			for _, s := range e.subs {
				if s.tokenID == id {
					kicked = append(kicked, s)
				}
			}
		}
		sh.mu.RUnlock()
	}
	for _, s := range kicked {
		s.kick(ErrRevoked)
	}
	return len(kicked)
}
