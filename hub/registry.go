package hub

import (
	"context"
	"sync"
	"time"

	"github.com/tocsin/tocsin"
)

// shard holds the registry entries of the stream ids that hash to it. The slice of
// open streams of an entry is copy-on-write, so deliver reads it under a short read
// lock and sends outside it.
type shard struct {
	mu      sync.RWMutex
	streams map[tocsin.StreamID]*streamEntry

	interestMu sync.Mutex
	interest   map[tocsin.StreamID]bool // streams this node told the bus it wants
}

// streamEntry is the registry entry of one stream id: its open streams on this node
// and the order in which deliver hands them its events.
type streamEntry struct {
	subs []*Stream // oldest first; never mutated in place; guarded by shard.mu

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

// register adds s to its stream, enforcing the node's cap and the keyed slots
// (slots.go): per user, per capability token, per client address.
func (h *Hub) register(s *Stream) error {
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
	var subs []*Stream
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
	subs = make([]*Stream, 0, len(e.subs)+1)
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
func (h *Hub) unregister(s *Stream) {
	s.kick(context.Canceled)
	sh := h.shard(s.stream)
	sh.mu.Lock()
	e := sh.streams[s.stream]
	found, last := false, false
	if e != nil {
		subs := make([]*Stream, 0, len(e.subs))
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
// open streams of it. Calls are serialised per shard and re-read the wanted state, so
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
	UserID    string           `json:"userId"`
	DeviceID  string           `json:"deviceId"`
	Transport string           `json:"transport"`
	Since     tocsin.Timestamp `json:"since"`
}

// Connections lists the open streams of a user on this node, oldest first.
func (h *Hub) Connections(userID string) []Connection {
	stream := tocsin.UserStream(userID)
	sh := h.shard(stream)
	sh.mu.RLock()
	var subs []*Stream
	if e := sh.streams[stream]; e != nil {
		subs = e.subs
	}
	sh.mu.RUnlock()
	out := make([]Connection, 0, len(subs))
	for _, s := range subs {
		out = append(out, Connection{UserID: s.userID, DeviceID: s.deviceID, Transport: s.transport, Since: tocsin.Timestamp(s.since)})
	}
	return out
}

// CloseToken ends every stream on this node opened with the stream token id (it was
// revoked). Nodes that did not revoke it find out at their streams' next heartbeat,
// through SubscribeRequest.Check.
func (h *Hub) CloseToken(id string) int {
	var kicked []*Stream
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
