package hub

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
)

// Stream is one open stream on this node: a client's connection to a stream id,
// from Begin until its end. It is at once the registry's record of the connection
// (what it asked for, its queue), the writer of its frames, and a unit of the live
// loop's scheduling (live.go).
//
// Its fields fall into four groups by who may touch them: the request (immutable
// once registered), the queue (mu), the scheduling state (atomics), and the writing
// state, owned by whoever runs the stream: Begin's caller, then one runner at a
// time (the state machine guarantees it, so it needs no lock).
type Stream struct {
	h    *Hub
	sink Sink

	// The request: what the stream serves and delivers.
	stream    tocsin.StreamID
	userID    string
	types     []string // empty: all
	names     []string // empty: all
	deviceID  string
	transport string
	since     time.Time
	noInit    bool
	window    time.Duration // the batching window; 0: no batching
	tokenID   string
	addr      string // the client address's key, for the per-address cap
	check     func(ctx context.Context) error
	expires   int64 // unix ns when the stream's credential ends; 0: never
	held      uint8 // the keyed slots it holds (slots.go); guarded by Hub.slots.mu

	// The queue: deliveries handed over by deliver, until the stream takes them.
	mu     sync.Mutex
	queue  []*Delivery
	max    int
	reason error // why the stream was kicked (ended); nil while it is open

	// Scheduling (live.go). hbDue and windowDue are set by the sweep and the window
	// timer before they schedule the stream; lastWrite is when it last flushed (unix
	// ns; MaxInt64 until Live or Go: no heartbeat is due before).
	state            atomic.Int32
	hbDue, windowDue atomic.Bool
	lastWrite        atomic.Int64
	wake             chan struct{} // Live's runner waits on it; nil: the workers run it (Go)
	async            AsyncSink     // Go's sink; nil under Live (never blocked)
	done             func(error)   // Go's

	// Writing, owned by whoever runs the stream.
	last  uint64      // seq of the last event handled (written or filtered out)
	n     int         // events written since the last report to the observer
	taken []*Delivery // the queue as last taken, a buffer reused between steps
	// Batching (live events only): pending holds the window's events; pendingUnread
	// the newest unread count among them (UnreadUnchanged when none changed it).
	batching      bool
	pending       []*Delivery
	pendingUnread int
	windowOpen    bool
	windowTimer   *time.Timer
}

// enqueue adds d without blocking and reports false when the queue is full.
func (s *Stream) enqueue(d *Delivery) bool {
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
	s.schedule()
	return true
}

// take moves the queued deliveries into buf (reused between calls) and returns it.
func (s *Stream) take(buf []*Delivery) []*Delivery {
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

// kick ends the stream with reason; the first reason wins. The stream ends on its
// next step (it is scheduled).
func (s *Stream) kick(reason error) {
	s.mu.Lock()
	if s.reason != nil {
		s.mu.Unlock()
		return
	}
	s.reason = reason
	s.queue = nil
	s.mu.Unlock()
	s.schedule()
}

func (s *Stream) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// accepts reports whether the stream delivers ev: its name is wanted (when names are
// given) and its type is wanted (when types are given). A read-all
// ("notifications:read") and a bulk update ("notifications:updated") are about
// every type, so a ?types= stream takes them too: the ids of other types in them are
// unknown to such a client (which ignores them), and a read-all's "before" covers
// the client's own items.
func (s *Stream) accepts(ev *tocsin.Event) bool {
	if len(s.names) > 0 && !slices.Contains(s.names, ev.Name) {
		return false
	}
	return len(s.types) == 0 || slices.Contains(s.types, ev.Type) ||
		ev.Name == tocsin.EventRead || ev.Name == tocsin.EventUpdatedMany
}

// wantsUnread reports whether the stream takes unread counts.
func (s *Stream) wantsUnread() bool {
	return len(s.names) == 0 || slices.Contains(s.names, tocsin.EventUnread)
}
