package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tocsin/tocsin"
)

func TestBatchingWindowCoalesces(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}).in(driven)
			sink := newRecSink()
			const window = 100 * time.Millisecond
			f.serve(t, SubscribeRequest{UserID: "u1", Batch: window}, sink)
			if fr := sink.next(t); fr.name != tocsin.EventInit {
				t.Fatalf("first frame %+v", fr)
			}
			waitStreams(t, f.h, 1)
			start := time.Now()
			for range 3 {
				f.publish(t, "u1", "comment")
			}
			if fr := sink.next(t); fr.kind != "batch" || fr.data != "1,2,3" || fr.id != f.h.EventID(3) {
				t.Fatalf("got %+v, want one batch of seqs 1,2,3", fr)
			}
			// The window opens with the first event and closes one window later.
			if d := time.Since(start); d != window {
				t.Fatalf("batch written %v after the first event, want %v", d, window)
			}
			start = time.Now()
			f.publish(t, "u1", "comment") // a lone event in its window is written as itself
			if fr := sink.next(t); fr.kind != "event" || fr.seq != 4 {
				t.Fatalf("got %+v, want event seq 4", fr)
			}
			if d := time.Since(start); d != window {
				t.Fatalf("lone event written %v after it came, want %v", d, window)
			}
		})
	})
}

// Heartbeats come from the sweep, with either runner: an idle stream gets one
// between 7/8 of a period and a period after its last write (proxies that cut
// connections idle for a period never see one), and a write puts the next one off.
func TestHeartbeatsOfAnIdleStream(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			const period = 40 * time.Millisecond
			f := newFixture(t, Config{Heartbeat: period}).in(driven)
			sink := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
			heartbeat := func(what string, last time.Time) {
				t.Helper()
				if fr := <-sink.frames; fr.kind != "heartbeat" {
					t.Fatalf("%s: got %+v, want a heartbeat", what, fr)
				}
				if d := time.Since(last); d < period*7/8 || d > period {
					t.Fatalf("%s came %v after the last write, want 7/8 of %v to %v", what, d, period, period)
				}
			}
			sink.next(t) // init: the stream's last write
			last := time.Now()
			for beat := range 3 {
				heartbeat(fmt.Sprintf("heartbeat %d", beat), last)
				last = time.Now()
			}
			time.Sleep(period / 2)
			f.publish(t, "u1", "comment") // a write: the idle period starts again
			if fr := <-sink.frames; fr.kind != "event" {
				t.Fatalf("got %+v, want the event", fr)
			}
			<-sink.frames // its unread count
			heartbeat("the heartbeat after a write", time.Now())
		})
	})
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
	t.Parallel()
	f := newFixture(t, Config{QueueSize: 4})
	slow := &blockingSink{recSink: newRecSink()}
	st, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1"}, slow)
	if err != nil {
		t.Fatal(err)
	}
	slow.wake = st.Wake
	slowDone := make(chan error, 1)
	st.Go(func(err error) { slowDone <- err })
	fast := newRecSink()
	f.in(true).serve(t, SubscribeRequest{UserID: "u1"}, fast)
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
	wantEnd(t, slowDone, ErrSlowConsumer)
	waitStreams(t, f.h, 1)
}

// runStream runs a begun stream with the runner of the mode: Live on a goroutine of
// its own, or Go. The channel yields what the stream ended with.
func runStream(ctx context.Context, st *Stream, driven bool) <-chan error {
	done := make(chan error, 1)
	if driven {
		context.AfterFunc(ctx, st.Stop)
		st.Go(func(err error) { done <- err })
		return done
	}
	go func() { done <- st.Live(ctx) }()
	return done
}

// What is scheduled between Begin and the hand-over (events, a kick) is done once
// the runner has the stream: Begin's caller owns it until then.
func TestWhatComesBeforeTheHandOverIsDone(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		t.Run("events", func(t *testing.T) {
			f := newFixture(t, Config{})
			sink := newRecSink()
			st, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1"}, asyncSink{sink})
			if err != nil {
				t.Fatal(err)
			}
			sink.next(t) // init
			f.publish(t, "u1", "comment")
			f.publish(t, "u1", "comment")
			ctx, cancel := context.WithCancel(context.Background())
			done := runStream(ctx, st, driven)
			for want := uint64(1); want <= 2; want++ {
				if fr := sink.next(t); fr.seq != want {
					t.Fatalf("got %+v, want seq %d", fr, want)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("stream ended with %v, want nil", err)
			}
		})
		t.Run("kick", func(t *testing.T) {
			f := newFixture(t, Config{})
			sink := newRecSink()
			st, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1"}, asyncSink{sink})
			if err != nil {
				t.Fatal(err)
			}
			f.h.Shutdown()
			if err := <-runStream(context.Background(), st, driven); !errors.Is(err, ErrShutdown) {
				t.Fatalf("stream ended with %v, want ErrShutdown", err)
			}
			if n := f.h.OpenStreams(); n != 0 {
				t.Fatalf("%d streams open", n)
			}
		})
	})
}

// The context of a stream run by Live ends it at once, idle as it is: cancelled
// with nil (the client went away), past its deadline with the deadline's error.
func TestLiveEndsWithItsContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		end  time.Duration // when the context ends; 0: cancelled after init
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, 0, nil},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 3*time.Second)
		}, 3 * time.Second, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, Config{})
				sink := newRecSink()
				ctx, cancel := tc.ctx()
				defer cancel()
				start := time.Now()
				done := make(chan error, 1)
				go func() { done <- f.h.Serve(ctx, SubscribeRequest{UserID: "u1"}, sink) }()
				sink.next(t)
				if tc.end == 0 {
					cancel()
				}
				err := <-done
				if err != tc.want {
					t.Fatalf("Live returned %v, want %v", err, tc.want)
				}
				if d := time.Since(start); d != tc.end {
					t.Fatalf("Live returned %v after it began, want %v", d, tc.end)
				}
				if n := f.h.OpenStreams(); n != 0 {
					t.Fatalf("%d streams open", n)
				}
			})
		})
	}
}

// Go runs a stream on the workers, which must never wait for a client: a sink that
// may block is refused.
func TestGoNeedsAnAsyncSink(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	st, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1"}, newRecSink())
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Go with a plain Sink did not panic")
			}
		}()
		st.Go(func(error) {})
	}()
	// The stream is still Begin's caller's: Live runs it.
	ctx, cancel := context.WithCancel(context.Background())
	done := runStream(ctx, st, false)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Live returned %v, want nil", err)
	}
}

// A heartbeat runs the stream's Check first (a token revoked on another node): the
// heartbeat is written while it passes, and the stream ends with its error when it
// fails. On the workers the check is bounded by checkTimeout; under Live it has
// Live's context.
func TestHeartbeatChecksTheStream(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			const period = 40 * time.Millisecond
			f := newFixture(t, Config{Heartbeat: period}).in(driven)
			revoked := errors.New("revoked elsewhere")
			checks := 0
			check := func(ctx context.Context) error {
				checks++
				deadline, bounded := ctx.Deadline()
				if bounded != driven || bounded && time.Until(deadline) != checkTimeout {
					t.Errorf("check %d: deadline %v (set: %v), want one %v away on the workers only", checks, deadline, bounded, checkTimeout)
				}
				if checks == 2 {
					return revoked
				}
				return nil
			}
			sink := newRecSink()
			_, done := f.serve(t, SubscribeRequest{UserID: "u1", Check: check}, sink)
			sink.next(t)
			if fr := <-sink.frames; fr.kind != "heartbeat" {
				t.Fatalf("got %+v, want the heartbeat after the first check", fr)
			}
			if err := <-done; err != revoked {
				t.Fatalf("stream ended with %v, want the check's error", err)
			}
			synctest.Wait()
			select {
			case fr := <-sink.frames:
				t.Fatalf("got %+v after the check failed", fr)
			default:
			}
			if checks != 2 {
				t.Fatalf("%d checks, want 2", checks)
			}
		})
	})
}
