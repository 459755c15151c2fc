package hub

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
)

// Driven streams: the live phase without a goroutine per stream.
//
// A stream served by Live parks a goroutine for its whole life, with a stack, two
// channels and two timers: most of what an idle stream costs. A driven stream has
// none of them. Whenever it has something to do (events queued, a kick, a heartbeat
// or batching window due, a blocked write finished) it is put on the hub's run queue,
// and one of a few shared workers runs one step of it: take the queue, write, flush,
// return. Heartbeats come from one sweep over all streams instead of a timer each.
// The step is the same code as Live's loop (handle, flushWindow), so the two modes
// write the same frames in the same order.
//
// A worker must never wait for a slow client, so a driven stream's sink is an
// AsyncSink: its Flush writes what the connection takes at once and hands the rest
// to the background, and the stream takes nothing more from its queue until that
// write is done (its queue fills meanwhile, and a full queue is a slow consumer, as
// for any stream).

// AsyncSink is the Sink of a driven stream. Flush must not block on the peer: what
// the connection does not take at once it writes in the background (with a
// deadline), reporting Blocked until then, and then calls the stream's Wake.
type AsyncSink interface {
	Sink
	// Blocked reports whether a write from an earlier Flush is still going on, and
	// the error that ended one that failed.
	Blocked() (bool, error)
}

// DrivenStream is a stream that has begun (BeginDriven) and is served by the hub's
// workers once Go is called.
type DrivenStream struct{ d *drivenConn }

// drivenConn is a driven stream's conn and its scheduling state. Only one worker
// runs a stream's step at a time (state), so the conn needs no lock of its own.
type drivenConn struct {
	conn
	async AsyncSink
	state atomic.Int32
	// hbDue and windowDue are set by the sweep and the window timer before they
	// schedule the stream; lastWrite is when it last flushed (unix ns).
	hbDue, windowDue atomic.Bool
	lastWrite        atomic.Int64
	windowOpen       bool
	window           *time.Timer
	batch            []*Delivery
	done             func(error)
}

// checkTimeout bounds a driven stream's heartbeat check (a store read), and
// fillTimeout its reads of a gap: both run on a worker other streams wait on, and a
// store that hangs must not hold it for long (the stream ends; its client resumes).
const (
	checkTimeout = 3 * time.Second
	fillTimeout  = 10 * time.Second
)

// Scheduling states of a driven stream.
const (
	idle     int32 = iota // nothing to do
	queued                // on the run queue
	running               // a worker runs its step
	again                 // running, and scheduled again meanwhile: runs once more
	finished              // ended; never scheduled again
)

// BeginDriven is Begin for a stream whose live phase the hub's workers drive (Go),
// instead of a goroutine of the caller's.
func (h *Hub) BeginDriven(ctx context.Context, req SubscribeRequest, sink AsyncSink) (*DrivenStream, error) {
	d := &drivenConn{async: sink}
	d.conn = conn{h: h, sink: sink, storeTimeout: fillTimeout}
	h.runq.began() // counted before it can be registered: Close waits for its end
	if err := h.begin(ctx, req, &d.conn, false); err != nil {
		h.runq.ended()
		return nil, err
	}
	return &DrivenStream{d: d}, nil
}

// Go hands the stream to the hub's workers. done is called once, on a worker, when
// the stream ends, with what Live would return; the stream is unregistered by then.
// Every stream BeginDriven returned must be handed over: Close waits for its end.
func (st *DrivenStream) Go(done func(error)) {
	d := st.d
	d.done = done
	if d.s.batch > 0 {
		d.batching, d.pendingUnread = true, tocsin.UnreadUnchanged
	}
	d.lastWrite.Store(d.h.cfg.Now().UnixNano())
	if !d.h.startDriving() {
		// Close began before any driven stream ran, so there are no workers; the
		// stream was kicked by Shutdown: it ends here, on the caller's goroutine.
		d.finish(nil)
		return
	}
	d.s.drv.Store(d) // from now on enqueue, kick and Wake schedule it
	d.schedule()     // what arrived since Begin, or a kick that came before Go
}

// Stop ends the stream as a client hanging up does (done gets nil).
func (st *DrivenStream) Stop() { st.d.s.kick(context.Canceled) }

// Wake tells the stream that its sink's background write is over.
func (st *DrivenStream) Wake() { st.d.schedule() }

// schedule puts the stream on the run queue unless it is there already; a stream
// being run is run once more afterwards.
func (d *drivenConn) schedule() {
	if d.s.drv.Load() == nil {
		return // Go has not been called: it schedules the stream itself
	}
	for {
		switch d.state.Load() {
		case idle:
			if d.state.CompareAndSwap(idle, queued) {
				d.h.runq.push(d)
				return
			}
		case running:
			if d.state.CompareAndSwap(running, again) {
				return
			}
		default: // queued, again, finished
			return
		}
	}
}

// run is a worker running the stream's step.
func (d *drivenConn) run() {
	d.state.Store(running)
	end, err := d.step()
	if end {
		d.finish(err)
		return
	}
	if !d.state.CompareAndSwap(running, idle) {
		// Scheduled while it ran: queue it again (behind the others, not in a loop
		// that could starve them).
		d.state.Store(queued)
		d.h.runq.push(d)
	}
}

// step does what the stream has to do now. It reports whether the stream ended.
func (d *drivenConn) step() (bool, error) {
	if d.s.err() != nil {
		return true, nil // ended reports the kick's reason
	}
	if blocked, err := d.async.Blocked(); err != nil {
		return true, err
	} else if blocked {
		return false, nil // Wake comes when the write is over
	}
	ctx := context.Background() // store reads: bounded by fillTimeout and checkTimeout
	wrote := false
	if d.windowDue.Swap(false) {
		d.windowOpen = false
		if err := d.flushWindow(); err != nil {
			return true, err
		}
		wrote = true
	}
	var err error
	if d.batch, err = d.handle(ctx, d.batch); err != nil {
		return true, err
	}
	took := len(d.batch) > 0
	if cap(d.batch) > 64 {
		d.batch = nil
	}
	if d.batching {
		if !d.windowOpen && d.windowWanted() {
			d.openWindow()
		}
	} else if took {
		wrote = true
	}
	if d.hbDue.Swap(false) && !wrote {
		if d.s.check != nil {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			err := d.s.check(cctx)
			cancel()
			if err != nil {
				return true, err
			}
		}
		if err := d.sink.Heartbeat(); err != nil {
			return true, err
		}
		wrote = true
	}
	if wrote {
		if err := d.sink.Flush(); err != nil {
			return true, err
		}
		d.lastWrite.Store(d.h.cfg.Now().UnixNano())
	}
	return false, nil
}

func (d *drivenConn) openWindow() {
	d.windowOpen = true
	if d.window == nil {
		d.window = time.AfterFunc(d.s.batch, func() {
			d.windowDue.Store(true)
			d.schedule()
		})
		return
	}
	d.window.Reset(d.s.batch)
}

// finish ends the stream: unregistered, then done.
func (d *drivenConn) finish(err error) {
	d.state.Store(finished)
	if d.window != nil {
		d.window.Stop()
	}
	d.h.unregister(d.s)
	d.done(d.ended(err))
	d.h.runq.ended()
}

// startDriving starts the workers and the sweep, once per hub. It reports false when
// Close has begun and they were never started.
func (h *Hub) startDriving() bool {
	if h.life.drivingFast.Load() {
		return true
	}
	workers := make([]func(), max(8, 4*runtime.GOMAXPROCS(0)))
	for i := range workers {
		workers[i] = h.runq.work
	}
	if !h.spawnOnce(&h.life.driving, workers...) {
		return false
	}
	h.life.drivingFast.Store(true)
	h.startSweep()
	return true
}

// startSweep starts the sweep, once per hub (not after Close has begun).
func (h *Hub) startSweep() {
	if h.life.sweepingFast.Load() {
		return
	}
	if h.spawnOnce(&h.life.sweeping, h.sweep) {
		h.life.sweepingFast.Store(true)
	}
}

// sweepEvery is the sweep's period: an eighth of the heartbeat, at most a second.
func (h *Hub) sweepEvery() time.Duration {
	return min(max(h.cfg.Heartbeat/8, 5*time.Millisecond), time.Second)
}

// sweep is one pass over all streams, several times per heartbeat period, instead of
// a timer per stream. It schedules the heartbeats of driven streams: a stream is due
// once it has been idle for Heartbeat less one check interval, so its heartbeat comes
// no later than Heartbeat after its last write (and no sooner than 7/8 of it):
// proxies that close a connection idle for longer than the configured period never
// see one. And it ends every stream, driven or not, whose credential has expired
// (ErrExpired), at most one period (≤ 1 s) after the instant.
func (h *Hub) sweep() {
	every := h.sweepEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	var due []*drivenConn
	var expired []*subscriber
	for {
		select {
		case <-h.life.quit:
			return
		case <-t.C:
		}
		now := h.cfg.Now().UnixNano()
		cutoff := now - int64(h.cfg.Heartbeat-every)
		for i := range h.shards {
			sh := &h.shards[i]
			sh.mu.RLock()
			for _, e := range sh.streams {
				for _, s := range e.subs {
					if s.expires != 0 && s.expires <= now {
						expired = append(expired, s)
						continue
					}
					if d := s.drv.Load(); d != nil && d.lastWrite.Load() <= cutoff && !d.hbDue.Load() {
						due = append(due, d)
					}
				}
			}
			sh.mu.RUnlock()
		}
		for _, s := range expired {
			s.kick(ErrExpired)
		}
		for _, d := range due {
			d.hbDue.Store(true)
			d.schedule()
		}
		clear(due)
		due = due[:0]
		clear(expired)
		expired = expired[:0]
	}
}

// runQueue is the FIFO of driven streams with something to do, and its workers.
type runQueue struct {
	mu    sync.Mutex
	cond  sync.Cond
	items []*drivenConn
	head  int // items[head:] are waiting
	// live counts the driven streams begun and not yet finished; once closed, the
	// workers end when the queue is empty and live is 0 (every stream got its done).
	live   int
	closed bool
}

// began and ended count a driven stream in and out of live.
func (q *runQueue) began() {
	q.mu.Lock()
	q.live++
	q.mu.Unlock()
}

func (q *runQueue) ended() {
	q.mu.Lock()
	q.live--
	last := q.closed && q.live == 0
	q.mu.Unlock()
	if last {
		q.cond.Broadcast()
	}
}

// close lets the workers end once the driven streams have.
func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *runQueue) push(d *drivenConn) {
	q.mu.Lock()
	q.items = append(q.items, d)
	q.mu.Unlock()
	q.cond.Signal()
}

// work runs streams from the queue, one at a time, until the hub closes and the
// last driven stream has ended: a worker held up by one stream (a store read while
// catching up) holds up no other.
func (q *runQueue) work() {
	for {
		q.mu.Lock()
		for q.head == len(q.items) {
			if q.closed && q.live == 0 {
				q.mu.Unlock()
				return
			}
			q.cond.Wait()
		}
		d := q.items[q.head]
		q.items[q.head] = nil
		q.head++
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
			if cap(q.items) > 1<<16 {
				q.items = nil // give back what a broadcast grew
			}
		}
		q.mu.Unlock()
		d.run()
	}
}
