package hub

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tocsin/tocsin"
)

// healCounter counts the heals the hub reports.
type healCounter struct {
	NopObserver
	heals atomic.Int64
}

func (c *healCounter) StreamHealed() { c.heals.Add(1) }

const testHeadCheck = 2 * time.Second

// newHeadCheckFixture is a hub checking heads every testHeadCheck, counting its
// store reads and heals.
func newHeadCheckFixture(t *testing.T, driven bool) (*fixture, *countingStore, *healCounter) {
	t.Helper()
	obs := &healCounter{}
	f, cs := newCountingFixture(t, Config{HeadCheck: testHeadCheck, Observer: obs})
	return f.in(driven), cs, obs
}

// newCountingFixture is newFixture with its store's reads counted.
func newCountingFixture(t *testing.T, cfg Config) (*fixture, *countingStore) {
	t.Helper()
	var cs *countingStore
	f := newFixtureStore(t, cfg, func(st tocsin.Store) tocsin.Store {
		cs = &countingStore{Store: st}
		return cs
	})
	return f, cs
}

// An event committed but never announced, the last of its stream, reaches the open
// stream at the next head check (after the grace for announcements in flight),
// exactly once: neither a late announcement nor the next checks repeat it.
func TestHeadCheckDeliversAnEventNeverAnnounced(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f, cs, obs := newHeadCheckFixture(t, driven)
			sink := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
			sink.next(t) // init
			waitStreams(t, f.h, 1)
			f.publish(t, "u1", "comment") // announced: the hub knows the stream at 1
			if fr := sink.next(t); fr.seq != 1 {
				t.Fatalf("got %+v, want seq 1", fr)
			}

			start := time.Now()
			lost := f.storeOnly(t, "u1")
			fr := sink.next(t)
			if fr.kind != "event" || fr.seq != lost.Seq {
				t.Fatalf("got %+v, want event seq %d", fr, lost.Seq)
			}
			if waited, most := time.Since(start), testHeadCheck+testHeadCheck/2; waited > most {
				t.Fatalf("the lost event came after %v, want within %v (an interval and the grace)", waited, most)
			}
			if n := obs.heals.Load(); n != 1 {
				t.Fatalf("%d heals reported, want 1", n)
			}
			f.h.deliver(lost) // its announcement, very late: a duplicate
			reads := cs.reads.Load()
			time.Sleep(3 * testHeadCheck) // further checks find the stream up to date
			sink.none(t)
			if n := cs.reads.Load() - reads; n != 0 {
				t.Fatalf("%d event reads after the heal, want none", n)
			}
			if n := obs.heals.Load(); n != 1 {
				t.Fatalf("%d heals reported, want 1", n)
			}
			if cs.heads.Load() < 3 {
				t.Fatalf("%d head reads in 4 intervals", cs.heads.Load())
			}
		})
	})
}

// Streams that are up to date cost the head check its batched read and nothing
// else: no event read, no poke, no heal; so do announcements that arrive while the
// check waits for the ones in flight.
func TestHeadCheckLeavesUpToDateStreamsAlone(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f, cs, obs := newHeadCheckFixture(t, driven)
			sinks := map[string]*recSink{"u1": newRecSink(), "u2": newRecSink()}
			for u, s := range sinks {
				f.serve(t, SubscribeRequest{UserID: u}, s)
				s.next(t) // init
			}
			waitStreams(t, f.h, 2)
			f.publish(t, "u1", "comment")
			if fr := sinks["u1"].next(t); fr.seq != 1 {
				t.Fatalf("got %+v, want seq 1", fr)
			}

			// u2's event is committed, and its announcement is still on its way when
			// the check reads the heads: it arrives within the grace.
			inFlight := f.storeOnly(t, "u2")
			var once atomic.Bool
			announce := func() {
				if once.CompareAndSwap(false, true) {
					go f.h.deliver(inFlight)
				}
			}
			cs.onHeads.Store(&announce)
			if fr := sinks["u2"].next(t); fr.kind != "event" || fr.seq != inFlight.Seq {
				t.Fatalf("got %+v, want event seq %d", fr, inFlight.Seq)
			}
			reads := cs.reads.Load()
			heads := cs.heads.Load()
			time.Sleep(3 * testHeadCheck)
			for _, s := range sinks {
				s.none(t)
			}
			if n := cs.reads.Load() - reads; n != 0 {
				t.Fatalf("%d event reads for streams up to date, want none", n)
			}
			if n := obs.heals.Load(); n != 0 {
				t.Fatalf("%d heals reported for streams up to date", n)
			}
			// One batched read per interval for both stream ids.
			if n := cs.heads.Load() - heads; n != 3 {
				t.Fatalf("%d head reads in 3 intervals, want 3", n)
			}
		})
	})
}

// Nothing is read while no stream is open, and a negative interval turns the check
// off.
func TestHeadCheckIdleAndOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		interval time.Duration
		stream   bool
	}{{"no open stream", testHeadCheck, false}, {"off", -1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, cs := newCountingFixture(t, Config{HeadCheck: tc.interval})
				if tc.stream {
					sink := newRecSink()
					f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
					sink.next(t)
					waitStreams(t, f.h, 1)
				}
				f.storeOnly(t, "u1")
				time.Sleep(5 * testHeadCheck)
				synctest.Wait()
				if n := cs.heads.Load(); n != 0 {
					t.Fatalf("%d head reads, want none", n)
				}
			})
		})
	}
}

// Resync (a bus reconnect) reads the heads of every open stream id in one batched
// read, without Head per stream, and pokes only the ones behind: the up-to-date
// stream reads nothing from the store.
func TestResyncReadsHeadsInOneBatchAndPokesOnlyStreamsBehind(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f, cs := newCountingFixture(t, Config{HeadCheck: -1})
			f.in(driven)
			behindSink, currentSink := newRecSink(), newRecSink()
			f.serve(t, SubscribeRequest{UserID: "behind"}, behindSink)
			f.serve(t, SubscribeRequest{UserID: "current"}, currentSink)
			behindSink.next(t)
			currentSink.next(t)
			waitStreams(t, f.h, 2)
			f.publish(t, "current", "comment")
			if fr := currentSink.next(t); fr.seq != 1 {
				t.Fatalf("got %+v, want seq 1", fr)
			}
			lost := f.storeOnly(t, "behind") // committed while the bus was away
			reads, heads := cs.reads.Load(), cs.heads.Load()
			f.h.Resync()
			if fr := behindSink.next(t); fr.kind != "event" || fr.seq != lost.Seq {
				t.Fatalf("got %+v, want event seq %d", fr, lost.Seq)
			}
			behindSink.none(t)
			currentSink.none(t)
			if n := cs.heads.Load() - heads; n != 1 {
				t.Fatalf("%d head reads for 2 stream ids, want 1 batch", n)
			}
			if n := cs.reads.Load() - reads; n != 1 {
				t.Fatalf("%d event reads, want 1 (the stream behind only)", n)
			}
		})
	})
}
