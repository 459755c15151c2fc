package hub

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tocsin/tocsin"
)

// countingStore counts the event reads a gap makes a connection do, and the head
// reads of the head check (onHeads, when set, is called after each).
type countingStore struct {
	tocsin.Store
	reads   atomic.Int64
	heads   atomic.Int64
	onHeads atomic.Pointer[func()]
}

func (s *countingStore) Heads(ctx context.Context, streams []tocsin.StreamID) ([]uint64, error) {
	heads, err := s.Store.Heads(ctx, streams)
	s.heads.Add(1)
	if f := s.onHeads.Load(); f != nil {
		(*f)()
	}
	return heads, err
}

func (s *countingStore) Events(ctx context.Context, stream tocsin.StreamID, after uint64, limit int) ([]tocsin.Event, error) {
	s.reads.Add(1)
	return s.Store.Events(ctx, stream, after, limit)
}

// Events that reach the node out of order are delivered in order without a store
// read; an event the bus lost is read from the store after the short wait.
func TestEarlyEventsWaitForTheOnesBefore(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			var cs *countingStore
			f := newFixtureStore(t, Config{}, func(st tocsin.Store) tocsin.Store {
				cs = &countingStore{Store: st}
				return cs
			}).in(driven)

			sink := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
			sink.next(t) // init
			waitStreams(t, f.h, 1)
			e1, e2, e3 := f.storeOnly(t, "u1"), f.storeOnly(t, "u1"), f.storeOnly(t, "u1")
			reads := cs.reads.Load()
			f.h.deliver(e3)
			f.h.deliver(e2) // held: 1 has not come (for less than reorderWait)
			f.h.deliver(e1)
			for _, want := range []uint64{1, 2, 3} {
				if fr := sink.next(t); fr.seq != want {
					t.Fatalf("got %+v, want seq %d", fr, want)
				}
			}
			if n := cs.reads.Load() - reads; n != 0 {
				t.Fatalf("%d store reads for events that were only late", n)
			}

			// 4 is lost on the bus: 5 waits, then goes, and the gap is read.
			e4, e5 := f.storeOnly(t, "u1"), f.storeOnly(t, "u1")
			_ = e4
			start := time.Now()
			f.h.deliver(e5)
			for _, want := range []uint64{4, 5} {
				if fr := sink.next(t); fr.seq != want {
					t.Fatalf("got %+v, want seq %d", fr, want)
				}
			}
			if waited := time.Since(start); waited != reorderWait {
				t.Fatalf("gap read after %v, want after the wait of %v", waited, reorderWait)
			}
			if cs.reads.Load() == reads {
				t.Fatal("the lost event was not read from the store")
			}
			f.h.deliver(e4) // late: passed already, dropped
			sink.none(t)
		})
	})
}
