package hub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// TestDrivenStreams runs the stream tests again with every stream driven by the
// hub's workers: the two modes must write the same frames.
func TestDrivenStreams(t *testing.T) {
	drivenMode = true
	defer func() { drivenMode = false }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"FreshConnect", TestFreshConnectGetsInitThenLiveEvents},
		{"GapFilled", TestGapFromTheBusIsFilledFromTheStore},
		{"Resume", TestResumeReplaysExactlyThenGoesLive},
		{"Reset", TestUnhonourableResumePointResets},
		{"SlowConsumer", TestSlowConsumerIsClosedWithoutDelayingOthers},
		{"EncodedOnce", TestEachEventIsEncodedOnceForAllConnections},
		{"Slots", TestSlots},
		{"Shutdown", TestShutdownEndsStreamsAndRefusesNewOnes},
		{"TypesFilter", TestTypesFilterStillAdvancesAndReportsUnread},
		{"Concurrent", TestConcurrentSubscribeAndPublishLoseNothing},
		{"Resync", TestResyncCatchesUpWhatTheBusLost},
		{"Batching", TestBatchingWindowCoalesces},
	} {
		t.Run(tc.name, tc.fn)
	}
}

func TestBatchingWindowCoalesces(t *testing.T) {
	f := newFixture(t, Config{})
	sink := newRecSink()
	f.serve(t, SubscribeRequest{UserID: "u1", Batch: 100 * time.Millisecond}, sink)
	if fr := sink.next(t); fr.name != tocsin.EventInit {
		t.Fatalf("first frame %+v", fr)
	}
	waitStreams(t, f.h, 1)
	for range 3 {
		f.publish(t, "u1", "comment")
	}
	if fr := sink.next(t); fr.kind != "batch" || fr.data != "1,2,3" || fr.id != f.h.EventID(3) {
		t.Fatalf("got %+v, want one batch of seqs 1,2,3", fr)
	}
	f.publish(t, "u1", "comment") // a lone event in its window is written as itself
	if fr := sink.next(t); fr.kind != "event" || fr.seq != 4 {
		t.Fatalf("got %+v, want event seq 4", fr)
	}
}

func TestDrivenHeartbeatsComeFromTheSweep(t *testing.T) {
	drivenMode = true
	defer func() { drivenMode = false }()
	f := newFixture(t, Config{Heartbeat: 40 * time.Millisecond})
	sink := newRecSink()
	f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
	start := time.Now()
	beats := 0
	for beats < 3 {
		select {
		case fr := <-sink.frames:
			if fr.kind == "heartbeat" {
				beats++
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d heartbeats in 5s, want 3", beats)
		}
	}
	// Three idle periods of 40ms: a heartbeat comes between 7/8 of a period and a
	// period after the last write, so three take at least 105ms.
	if d := time.Since(start); d < 105*time.Millisecond {
		t.Fatalf("3 heartbeats after %v, sooner than 3×7/8 periods", d)
	}
}

// blockingSink is an AsyncSink whose Flush leaves its write pending until release.
type blockingSink struct {
	*recSink
	mu      sync.Mutex
	blocked bool
	flushes int
	wake    func()
}

func (b *blockingSink) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushes++
	if b.flushes > 1 { // the first (Begin's) completes; later ones stay pending
		b.blocked = true
	}
	return nil
}

func (b *blockingSink) Blocked() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked, nil
}

func (b *blockingSink) release() {
	b.mu.Lock()
	b.blocked = false
	w := b.wake
	b.mu.Unlock()
	w()
}

// A driven stream whose write is pending takes nothing more from its queue, keeps
// no worker, and is closed as a slow consumer when its queue fills, while another
// stream of the same user gets every event.
func TestDrivenBlockedWriteHoldsNoWorker(t *testing.T) {
	f := newFixture(t, Config{QueueSize: 4})
	slow := &blockingSink{recSink: newRecSink()}
	st, err := f.h.BeginDriven(context.Background(), SubscribeRequest{UserID: "u1"}, slow)
	if err != nil {
		t.Fatal(err)
	}
	slow.wake = st.Wake
	slowDone := make(chan error, 1)
	st.Go(func(err error) { slowDone <- err })
	drivenMode = true
	fast := newRecSink()
	f.serve(t, SubscribeRequest{UserID: "u1"}, fast)
	drivenMode = false
	slow.next(t)
	fast.next(t)
	waitStreams(t, f.h, 2)

	f.publish(t, "u1", "comment") // written, then its flush stays pending
	if fr := slow.next(t); fr.seq != 1 {
		t.Fatalf("slow got %+v", fr)
	}
	fast.next(t)
	// Released and blocked again: the pending write holds back what follows.
	slow.release()
	for want := uint64(2); want <= 12; want++ {
		f.publish(t, "u1", "comment")
		if fr := fast.next(t); fr.seq != want {
			t.Fatalf("fast got %+v, want seq %d", fr, want)
		}
	}
	select {
	case err := <-slowDone:
		if !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("slow stream ended with %v, want ErrSlowConsumer", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow stream was not closed")
	}
	waitStreams(t, f.h, 1)
}
