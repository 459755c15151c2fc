package hub

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// The runners' side of the live loop (live.go): the hub's workers and their run
// queue, and the sweep that schedules every stream's heartbeats.

// startDriving starts the workers (and the sweep), once per hub. It reports false when
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
// a timer per stream. It schedules the heartbeats of every stream: a stream is due
// once it has been idle for Heartbeat less one check interval, so its heartbeat comes
// no later than Heartbeat after its last write (and no sooner than 7/8 of it):
// proxies that close a connection idle for longer than the configured period never
// see one. And it ends every stream whose credential has expired
// (ErrExpired), at most one period (≤ 1 s) after the instant.
func (h *Hub) sweep() {
	every := h.sweepEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	var due, expired []*Stream
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
					if s.lastWrite.Load() <= cutoff && !s.hbDue.Load() {
						due = append(due, s)
					}
				}
			}
			sh.mu.RUnlock()
		}
		for _, s := range expired {
			s.kick(ErrExpired)
		}
		for _, s := range due {
			s.hbDue.Store(true)
			s.schedule()
		}
		clear(due)
		due = due[:0]
		clear(expired)
		expired = expired[:0]
	}
}

// runQueue is the FIFO of the workers' streams (Go) with something to do.
type runQueue struct {
	mu    sync.Mutex
	cond  sync.Cond
	items []*Stream
	head  int // items[head:] are waiting
	// live counts the streams begun and neither finished on the workers nor taken by
	// Live; once closed, the workers end when the queue is empty and live is 0
	// (every stream they ran got its done).
	live   int
	closed bool
}

// began and ended count a stream in and out of live.
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

// close lets the workers end once their streams have.
func (q *runQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *runQueue) push(s *Stream) {
	q.mu.Lock()
	q.items = append(q.items, s)
	q.mu.Unlock()
	q.cond.Signal()
}

// work runs streams from the queue, one at a time, until the hub closes and the
// last stream handed to the workers has ended: a worker held up by one stream (a store read while
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
		s := q.items[q.head]
		q.items[q.head] = nil
		q.head++
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
			if cap(q.items) > 1<<16 {
				q.items = nil // give back what a broadcast grew
			}
		}
		q.mu.Unlock()
		if end, err := s.run(context.Background()); end {
			s.done(err)
			q.ended()
		}
	}
}
