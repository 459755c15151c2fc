package hub

import (
	"slices"
	"time"

	"github.com/tocsin/tocsin"
)

// Events of one stream can reach a node out of order: two publishes committed in
// one group commit are announced by two goroutines, and in a cluster several nodes
// publish to the same stream. A connection that sees seq n+2 before n+1 fills the
// gap from the store, which is right when the bus lost n+1, but when n+1 is only a
// moment late, a broadcast to 10,000 connections becomes 10,000 store reads. So
// deliver holds an early event until the ones before it arrive, for at most
// reorderWait; then it lets the held events go and each connection fills what is
// still missing from the store, as before.

// reorderWait bounds how long an early event waits for the ones before it.
const reorderWait = 50 * time.Millisecond

// maxHeld bounds the events held per stream; past it they go at once.
const maxHeld = 1024

// deliver is the bus handler: it fans ev out to this node's open streams of its id,
// in sequence order (see above). It never blocks on a connection; an open stream whose
// queue is full is closed (it resumes by id).
func (h *Hub) deliver(ev tocsin.Event) {
	sh := h.shard(ev.Stream)
	sh.mu.RLock()
	e := sh.streams[ev.Stream]
	sh.mu.RUnlock()
	if e == nil {
		return
	}
	e.omu.Lock()
	defer e.omu.Unlock()
	switch {
	case e.next != 0 && ev.Seq < e.next:
		// Passed already: a duplicate, or late after the wait was given up on (the
		// connections read it from the store then).
		return
	case e.next != 0 && ev.Seq > e.next && len(e.held) < maxHeld:
		i, found := slices.BinarySearchFunc(e.held, ev.Seq, func(x tocsin.Event, seq uint64) int {
			return cmpSeq(x.Seq, seq)
		})
		if !found {
			e.held = slices.Insert(e.held, i, ev)
		}
		if e.timer == nil {
			e.timer = time.AfterFunc(reorderWait, func() { h.releaseHeld(sh, e) })
		} else if len(e.held) == 1 {
			e.timer.Reset(reorderWait)
		}
		return
	}
	h.fanOut(sh, e, ev)
	h.releaseInOrder(sh, e)
}

// releaseInOrder hands on what was held and now follows in order (e.omu held), and
// drops what was held at or before the expected seq (passed already).
func (h *Hub) releaseInOrder(sh *shard, e *streamEntry) {
	n := 0
	for n < len(e.held) && e.held[n].Seq <= e.next {
		if e.held[n].Seq == e.next {
			h.fanOut(sh, e, e.held[n])
		}
		n++
	}
	if n > 0 {
		e.held = slices.Delete(e.held, 0, n)
	}
	if len(e.held) == 0 && e.timer != nil {
		e.timer.Stop()
	}
}

// releaseHeld gives up waiting: the held events go, in order, and the connections
// fill the gaps before them from the store.
func (h *Hub) releaseHeld(sh *shard, e *streamEntry) {
	e.omu.Lock()
	defer e.omu.Unlock()
	for _, ev := range e.held {
		h.fanOut(sh, e, ev)
	}
	clear(e.held)
	e.held = e.held[:0]
}

// fanOut hands ev to each open stream's queue (e.omu held, so fan-outs of a stream
// keep their order) and moves the expected seq past it.
func (h *Hub) fanOut(sh *shard, e *streamEntry, ev tocsin.Event) {
	e.next = ev.Seq + 1
	sh.mu.RLock()
	subs := e.subs
	sh.mu.RUnlock()
	if len(subs) == 0 {
		return
	}
	h.enqueueAll(subs, &Delivery{Event: ev, ID: h.EventID(ev.Seq)})
}

// enqueueAll hands d to each open stream's queue without blocking; one whose queue is
// full is closed as a slow consumer (it resumes by id).
func (h *Hub) enqueueAll(subs []*Stream, d *Delivery) {
	for _, s := range subs {
		if !s.enqueue(d) {
			h.obs.SlowConsumer()
			h.log.Info("slow consumer disconnected", "stream", string(s.stream), "device_id", s.deviceID)
			s.kick(ErrSlowConsumer)
		}
	}
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// noteHead tells the ordering of stream that a connection has read it up to head
// from the store: when no event has passed yet, the next expected is head+1.
func (h *Hub) noteHead(stream tocsin.StreamID, head uint64) {
	sh := h.shard(stream)
	sh.mu.RLock()
	e := sh.streams[stream]
	sh.mu.RUnlock()
	if e == nil {
		return
	}
	e.omu.Lock()
	if e.next == 0 {
		e.next = head + 1
	}
	e.omu.Unlock()
}
