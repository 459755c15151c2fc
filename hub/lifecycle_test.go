package hub

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/stacks"
)

// hubGoroutines counts the goroutines running one of the hub's own loops
// (housekeeping, the sweep, a run queue worker), in any hub of the process.
func hubGoroutines() int {
	count := 0
	for _, g := range stacks.All() {
		for _, fn := range []string{"hub.(*Hub).maintain(", "hub.(*Hub).sweep(", "hub.(*runQueue).work("} {
			if strings.Contains(g, "tocsin/"+fn) {
				count++
				break
			}
		}
	}
	return count
}

// Close returns only once every goroutine the hub started has ended, and the driven
// streams it ended have had their done called; a second Close is safe. Not
// parallel: it counts the hub goroutines of the whole process.
func TestCloseWaitsForWhatTheHubStarted(t *testing.T) {
	if n := hubGoroutines(); n != 0 {
		t.Fatalf("%d hub goroutines before the test", n)
	}
	f := newFixture(t, Config{})
	plain := newRecSink()
	_, plainDone := f.serve(t, SubscribeRequest{UserID: "u1"}, plain)
	plain.next(t)
	// A driven stream (the workers and the sweep start) whose token expires later.
	driven := newRecSink()
	st, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u2", Expires: time.Now().Add(time.Hour)}, asyncSink{driven})
	if err != nil {
		t.Fatal(err)
	}
	drivenDone := make(chan error, 1)
	st.Go(func(err error) { drivenDone <- err })
	driven.next(t)
	waitStreams(t, f.h, 2)
	// A goroutine just started may not have entered its function yet (its stack
	// shows only sync.(*WaitGroup).Go's wrapper): wait for all to be seen.
	for deadline := time.Now().Add(5 * time.Second); hubGoroutines() < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d hub goroutines with a driven stream open, want housekeeping, the sweep and workers", hubGoroutines())
		}
		time.Sleep(time.Millisecond)
	}

	f.h.Close()
	if n := hubGoroutines(); n != 0 {
		t.Fatalf("%d hub goroutines still running after Close returned", n)
	}
	select {
	case err := <-drivenDone:
		if !errors.Is(err, ErrShutdown) {
			t.Fatalf("driven stream ended with %v, want ErrShutdown", err)
		}
	default:
		t.Fatal("Close returned before the driven stream's done was called")
	}
	// A stream on the caller's goroutine is the caller's: it ends as it notices.
	wantEnd(t, plainDone, ErrShutdown)

	closed := make(chan struct{})
	go func() { f.h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("a second Close did not return")
	}
	_, err = f.h.Begin(context.Background(), SubscribeRequest{UserID: "u3"}, asyncSink{newRecSink()})
	if tocsin.ErrorCodeOf(err) != tocsin.EUnavailable {
		t.Fatalf("stream after Close: %v, want EUnavailable", err)
	}
}

// A driven stream that began before Close but is handed over (Go) after it, on a
// hub whose workers never started, ends at once with ErrShutdown.
func TestDrivenStreamHandedOverAfterClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	sink := newRecSink()
	st, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1"}, asyncSink{sink})
	if err != nil {
		t.Fatal(err)
	}
	f.h.Close()
	done := make(chan error, 1)
	st.Go(func(err error) { done <- err })
	select {
	case err := <-done:
		if !errors.Is(err, ErrShutdown) {
			t.Fatalf("ended with %v, want ErrShutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
	if n := f.h.OpenStreams(); n != 0 {
		t.Fatalf("%d streams open", n)
	}
}

// The sweep ends a stream, in either mode, whose credential expired, at most one
// sweep period after the instant; one that expired before it began is refused.
func TestStreamEndsWhenItsCredentialExpires(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}).in(driven)
			expires := time.Now().Add(3 * time.Second)
			sink := newRecSink()
			_, done := f.serve(t, SubscribeRequest{UserID: "u1", Expires: expires}, sink)
			sink.next(t)
			err := <-done
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("stream ended with %v, want ErrExpired", err)
			}
			if late := time.Since(expires); late < 0 || late > f.h.sweepEvery() {
				t.Fatalf("stream ended %v after its credential expired, want within %v", late, f.h.sweepEvery())
			}
			_, err = f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1", Expires: time.Now()}, newRecSink())
			if tocsin.ErrorCodeOf(err) != tocsin.EUnauthorized {
				t.Fatalf("stream with an expired credential: %v, want EUnauthorized", err)
			}
		})
	})
}

// The hub reads time from Config.Now only: a credential that has expired by the
// hub's clock (an hour ahead) is refused, and the sweep ends a stream by it.
func TestTheHubsClockIsConfigNow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ahead := func() time.Time { return time.Now().Add(time.Hour) }
		f := newFixture(t, Config{Now: ahead}).in(true)
		_, err := f.h.Begin(context.Background(), SubscribeRequest{UserID: "u1", Expires: time.Now().Add(time.Minute)}, newRecSink())
		if tocsin.ErrorCodeOf(err) != tocsin.EUnauthorized {
			t.Fatalf("stream whose credential expired by the hub's clock: %v, want EUnauthorized", err)
		}
		sink := newRecSink()
		_, done := f.serve(t, SubscribeRequest{UserID: "u1", Expires: time.Now().Add(time.Hour + time.Second)}, sink)
		sink.next(t)
		start := time.Now()
		if err := <-done; !errors.Is(err, ErrExpired) {
			t.Fatalf("stream ended with %v, want ErrExpired", err)
		}
		if d := time.Since(start); d > time.Second+f.h.sweepEvery() {
			t.Fatalf("stream ended %v after it began, want about 1s by the hub's clock", d)
		}
		n := f.publish(t, "u1", "comment")
		if want := ahead().UTC().Truncate(time.Millisecond); !n.CreatedAt.Equal(want) {
			t.Fatalf("notification created at %v, want the hub's clock %v", n.CreatedAt, want)
		}
	})
}
