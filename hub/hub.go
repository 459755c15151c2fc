// Package hub is the live side of one tocsin node. It publishes changes (store first,
// then bus), receives every committed event back from the bus, encodes each event once
// and fans it out to the bounded queues of this node's open streams, and serves each
// open stream: register, replay from the store, then live events, exactly once and in
// order.
//
// It knows nothing of HTTP: transports (SSE, WebSocket) plug in through Sink.
//
// Glossary:
//   - stream id (tocsin.StreamID): what a client follows, a user's inbox or a topic.
//     Its log is the store's events of it, numbered 1, 2, ... (seq) in commit order;
//     replay and gap fills read it.
//   - open stream (Stream): one client's connection to a stream id on this node, from
//     Begin to its end: what it asked for, its queue, its position in the log (the
//     last seq handled), its sink. Begin opens it, Live or Go runs its live loop.
//   - registry entry (streamEntry): the open streams of one stream id on this node,
//     held by the id's shard, and the order in which deliver hands them its events.
//   - sink (Sink, AsyncSink): the transport an open stream writes its frames through.
//   - delivery (Delivery): one committed event on its way to the open streams of its
//     id, shared by them (each wire format encodes it once).
//   - runner: what runs the steps of an open stream's live loop (live.go): the hub's
//     shared workers (Go), or the goroutine that called Live.
//   - Connection: an open stream as the admin view lists it.
//
// Lock order: streamEntry.omu (a stream id's delivery order), then shard.mu, then
// Stream.mu. shard.interestMu is taken alone (never with shard.mu held) and
// serialises this node's bus Subscribe/Unsubscribe calls; the run queue's lock and
// slotCounts.mu (taken inside shard.mu by register) are leaves (nothing is taken
// while they are held): a stream is scheduled only after its own lock is released.
// No lock is ever held while writing to a connection or calling the store.
package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
)

// Store is what the hub needs of the store: it makes every change (so each one is
// also put on the bus), reads the inbox and event log for streams, and runs expiry
// and retention. A tocsin.Store is one; the contracts are tocsin's.
type Store interface {
	tocsin.Inbox
	tocsin.EventLog
	tocsin.Retention
}

// Config wires a Hub. Store and Bus are required; zero values of the rest take the
// defaults below.
type Config struct {
	Store    Store
	Bus      tocsin.Bus
	Logger   *slog.Logger
	Observer Observer

	Heartbeat         time.Duration // idle time after which a heartbeat is written (15s)
	QueueSize         int           // events a connection may have waiting (256)
	InitLimit         int           // unread items in an init event (50)
	MaxStreamsPerUser int           // open streams per user (10)
	MaxStreams        int           // open streams on this node (100,000)
	// MaxStreamsPerToken caps the open streams opened with one capability token
	// (SubscribeRequest.TokenID), MaxStreamsPerAddr those of one client address
	// (SubscribeRequest.ClientAddr); 0 is no cap.
	MaxStreamsPerToken int
	MaxStreamsPerAddr  int
	// CloseOldest, when set, makes a user's stream past MaxStreamsPerUser close that
	// user's oldest stream instead of being refused.
	CloseOldest bool

	// Housekeeping: expired notifications are removed every ExpiryInterval (1s);
	// notifications and events older than Retention (30 days) or more than
	// RetentionDepth (10,000; negative: unlimited) behind their stream's head are
	// pruned every PruneInterval (1h).
	ExpiryInterval time.Duration
	Retention      time.Duration
	RetentionDepth int
	PruneInterval  time.Duration

	// HeadCheck is how often the store's heads of the stream ids open on this node
	// are compared with what the node has delivered, so that an event committed but
	// never announced on the bus still reaches the open streams (heads.go): 5s;
	// negative: off.
	HeadCheck time.Duration

	// Committed, when set, is told every change this node commits (its events,
	// in commit order per stream) before they go on the bus: the delivery engine's
	// webhook outbox. It runs on the caller's goroutine, before the change is
	// answered, so it must be quick and must not call back into the hub.
	Committed func(evs []tocsin.Event)

	// Now is the hub's clock (time.Now): the time of what it stores, of expiry and
	// retention, of a credential's end and of a stream's idleness. Tests pass
	// their own; inside a testing/synctest bubble time.Now is the bubble's.
	Now func() time.Time
}

// Kick reasons: why the hub ended a stream. Transports tell the client accordingly.
var (
	ErrSlowConsumer = errors.New("hub: connection fell behind and was closed; resume with Last-Event-ID")
	ErrShutdown     = errors.New("hub: node is shutting down; reconnect")
	ErrReplaced     = errors.New("hub: closed to make room for a newer stream of the same user")
	ErrRevoked      = errors.New("hub: the stream token was revoked")
	ErrExpired      = errors.New("hub: the credential that opened the stream expired; reconnect with a fresh one")
)

const shardCount = 32

// Hub is safe for concurrent use.
type Hub struct {
	cfg    Config
	store  Store
	bus    tocsin.Bus
	log    *slog.Logger
	obs    Observer
	epoch  string
	ids    tocsin.IDGen
	seed   maphash.Seed
	shards [shardCount]shard

	open    atomic.Int64 // streams open on this node
	slots   slotCounts   // open streams per user, token and address (slots.go)
	closing atomic.Bool

	busFailing atomic.Bool // the last bus publish failed (logged once per outage)

	// The live loop's runners (live.go, runq.go): the run queue, whose workers start
	// with the first stream handed to them (Go); the sweep (every stream's heartbeats,
	// the end of streams whose credential expires) starts with the first stream run.
	runq runQueue

	// Lifecycle (lifecycle.go): every goroutine the hub starts is counted in wg and
	// ends when quit is closed (Close); housekeeping also ends at Shutdown.
	life lifecycle
}

// New returns a hub; call Start before serving.
func New(cfg Config) *Hub {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.InitLimit <= 0 {
		cfg.InitLimit = 50
	}
	if cfg.MaxStreamsPerUser <= 0 {
		cfg.MaxStreamsPerUser = 10
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 100000
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.RetentionDepth == 0 {
		cfg.RetentionDepth = 10000
	}
	if cfg.RetentionDepth < 0 {
		cfg.RetentionDepth = 0 // the store's "no depth limit"
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = time.Hour
	}
	if cfg.HeadCheck == 0 {
		cfg.HeadCheck = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	h := &Hub{
		cfg: cfg, store: cfg.Store, bus: cfg.Bus, log: cfg.Logger, obs: cfg.Observer,
		epoch: cfg.Store.Epoch(), seed: maphash.MakeSeed(), slots: newSlotCounts(),
	}
	h.runq.cond.L = &h.runq.mu
	h.life.init()
	for i := range h.shards {
		h.shards[i].streams = make(map[tocsin.StreamID]*streamEntry)
		h.shards[i].interest = make(map[tocsin.StreamID]bool)
	}
	return h
}

// Start connects the hub to the bus: from now on every committed event that reaches
// this node is fanned out to its streams.
func (h *Hub) Start(ctx context.Context) error {
	if r, ok := h.bus.(tocsin.BusResyncer); ok {
		r.OnResync(h.Resync)
	}
	if err := h.bus.Start(ctx, h.deliver); err != nil {
		return err
	}
	h.spawn(h.maintain)
	if h.cfg.HeadCheck > 0 {
		h.spawn(h.headCheck)
	}
	return nil
}

// Epoch is the store's epoch, the prefix of every public event id.
func (h *Hub) Epoch() string { return h.epoch }

// EventID renders the public id of seq on this store.
func (h *Hub) EventID(seq uint64) string {
	return tocsin.EventID{Epoch: h.epoch, Seq: seq}.String()
}

// OpenStreams returns how many streams are open on this node.
func (h *Hub) OpenStreams() int { return int(h.open.Load()) }

// Shutdown refuses new streams, stops housekeeping and ends every open stream with
// ErrShutdown, so that clients reconnect (to another node, behind a load balancer).
// It returns at once; the streams end as they notice. Close waits for them.
func (h *Hub) Shutdown() {
	h.closing.Store(true)
	h.life.stopHousekeeping()
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		var all []*Stream
		for _, e := range sh.streams {
			all = append(all, e.subs...)
		}
		sh.mu.RUnlock()
		for _, s := range all {
			s.kick(ErrShutdown)
		}
	}
}

func (h *Hub) now() time.Time { return h.cfg.Now().UTC().Truncate(time.Millisecond) }

func (h *Hub) shard(s tocsin.StreamID) *shard {
	return &h.shards[maphash.String(h.seed, string(s))%shardCount]
}
