package hub

import (
	"context"
	"time"

	"github.com/tocsin/tocsin"
)

// The head check: the live path's self-healing.
//
// A stream notices an event the bus lost only when a later event of it arrives (a
// gap); heartbeats do not look at the store. So an event committed but never
// announced (its node killed between commit and bus publish, a bus message lost
// while a node subscribes or unsubscribes) that is the last of its stream would
// never reach the open streams of it. Every Config.HeadCheck, the hub reads the
// store's heads of the stream ids it has open streams of, HeadsBatch ids per query,
// and compares each with what it has handed its streams (streamEntry.next-1). A
// stream id found behind is given headCheckGrace for the announcements in flight
// (committed, on their way over the bus) to arrive; if it is still behind, it is
// healed: its open streams are poked up to the head they read from the store,
// each exactly once by position, like a gap. Up-to-date streams cost their share
// of the batched read and nothing else; the check costs nothing per event.
//
// Resync (a bus reconnect) reads the heads the same way and catches up every stream
// id behind, without the grace: what was published while the bus was away is lost.

// headCheckGrace bounds the wait, after a check found a stream id behind, for the
// announcements still in flight; at most half the interval.
const headCheckGrace = time.Second

// maxHealLogs bounds the heals one check logs one by one; the rest are logged as a
// count (while the bus is down, every stream that gets events may be behind).
const maxHealLogs = 10

// headsTimeout bounds one batch of a head check or resync.
const headsTimeout = 10 * time.Second

// headsScan is a pass over the registry's entries and the store's heads of them:
// the buffers are kept by their owner (the head check's goroutine) between passes.
type headsScan struct {
	streams []tocsin.StreamID
	entries []*streamEntry
	behind  []behind
}

// behind is a stream id whose store head is beyond what this node has handed its
// streams.
type behind struct {
	stream tocsin.StreamID
	entry  *streamEntry
	head   uint64
}

// headCheck runs the head check every Config.HeadCheck until Shutdown.
func (h *Hub) headCheck() {
	ctx := h.life.bg
	every := h.cfg.HeadCheck
	grace := min(headCheckGrace, every/2)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var scan headsScan
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := scan.run(ctx, h)
		if err != nil {
			scan.release()
			if !failing && ctx.Err() == nil {
				h.log.Warn("head check: cannot read stream heads", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		if len(scan.behind) == 0 {
			scan.release()
			continue
		}
		// Announcements in flight arrive meanwhile; what is still behind then was lost.
		wait := time.NewTimer(grace)
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		h.heal(scan.behind)
		scan.release()
	}
}

// heal catches up the stream ids still behind after the grace, counting and logging
// each (at most maxHealLogs one by one).
func (h *Hub) heal(behind []behind) {
	healed := 0
	for _, b := range behind {
		known, poked := h.catchUpTo(b.entry, b.stream, b.head)
		if !poked {
			continue // its announcements came during the grace
		}
		h.obs.StreamHealed()
		if healed++; healed <= maxHealLogs {
			h.log.Info("head check: a stream was behind the store; its open streams read the rest",
				"stream", string(b.stream), "head", b.head, "delivered", known)
		}
	}
	if healed > maxHealLogs {
		h.log.Info("head check: more streams were behind the store", "streams", healed-maxHealLogs)
	}
}

// run collects the stream ids open on this node and, from the store's heads, those
// behind (s.behind). Entries that have passed no event yet are left out: their
// streams are beginning, reading the store themselves.
func (s *headsScan) run(ctx context.Context, h *Hub) error {
	s.collect(h)
	return s.read(ctx, h, func(stream tocsin.StreamID, e *streamEntry, head uint64) {
		e.omu.Lock()
		next := e.next
		e.omu.Unlock()
		if next != 0 && head >= next {
			s.behind = append(s.behind, behind{stream: stream, entry: e, head: head})
		}
	})
}

// release lets go of the entries of a pass (and through them the streams, which
// may end before the next pass), keeping the buffers.
func (s *headsScan) release() {
	clear(s.streams)
	clear(s.entries)
	clear(s.behind)
	s.streams, s.entries, s.behind = s.streams[:0], s.entries[:0], s.behind[:0]
}

// collect gathers the registry's stream ids and their entries.
func (s *headsScan) collect(h *Hub) {
	s.release()
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for id, e := range sh.streams {
			s.streams = append(s.streams, id)
			s.entries = append(s.entries, e)
		}
		sh.mu.RUnlock()
	}
}

// read reads the heads of the collected stream ids, one store query per HeadsBatch,
// and calls each with a stream id, its entry and its head.
func (s *headsScan) read(ctx context.Context, h *Hub, each func(tocsin.StreamID, *streamEntry, uint64)) error {
	for start := 0; start < len(s.streams); start += tocsin.HeadsBatch {
		end := min(start+tocsin.HeadsBatch, len(s.streams))
		bctx, cancel := context.WithTimeout(ctx, headsTimeout)
		heads, err := h.store.Heads(bctx, s.streams[start:end])
		cancel()
		if err != nil {
			return err
		}
		for i, head := range heads {
			each(s.streams[start+i], s.entries[start+i], head)
		}
	}
	return nil
}

// catchUpTo pokes the open streams of e (stream id stream) up to head, unless this
// node has handed them head already: each reads what it lacks from the store, by
// position. The seq expected next moves past head, so what was held up to it is
// dropped (read from the store instead) and an announcement of it that comes late
// is dropped as a duplicate. It returns what the node had handed them before
// (expected next - 1) and whether it poked. An entry that has passed no event yet
// (its streams are beginning) is poked without moving its order: the beginning
// streams read the store past head themselves or take the poke.
func (h *Hub) catchUpTo(e *streamEntry, stream tocsin.StreamID, head uint64) (known uint64, poked bool) {
	if head == 0 {
		return 0, false
	}
	sh := h.shard(stream)
	e.omu.Lock()
	defer e.omu.Unlock()
	if e.next != 0 && head < e.next {
		return e.next - 1, false
	}
	sh.mu.RLock()
	subs := e.subs
	sh.mu.RUnlock()
	h.enqueueAll(subs, &Delivery{Event: tocsin.Event{Stream: stream, Seq: head}, poke: true})
	if e.next == 0 {
		return 0, true
	}
	known = e.next - 1
	e.next = head + 1
	h.releaseInOrder(sh, e)
	return known, true
}

// Resync checks every stream id open on this node against the store and makes its
// streams that are behind the head catch up. The bus calls it after a reconnect
// (events published meanwhile never reached this node); for streams that are up to
// date it costs their share of one batched read per HeadsBatch ids.
func (h *Hub) Resync() {
	if h.life.closed() {
		return // the store may be closing
	}
	var scan headsScan
	scan.collect(h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := scan.read(ctx, h, func(stream tocsin.StreamID, e *streamEntry, head uint64) {
		h.catchUpTo(e, stream, head)
	})
	if err != nil {
		h.log.Warn("resync: cannot read stream heads", "err", err)
	}
}
