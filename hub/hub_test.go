package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/sqlite"
)

// frame is one thing a sink was asked to write.
type frame struct {
	kind string // "event", "control", "heartbeat"
	name string
	id   string
	seq  uint64
	data string
}

// recSink records what the hub writes, and can be made to block on events.
type recSink struct {
	frames chan frame
	gate   chan struct{} // when non-nil, each Event waits for a value (or close)
	encode func(*Delivery) []byte
}

func newRecSink() *recSink { return &recSink{frames: make(chan frame, 4096)} }

func (s *recSink) Event(d *Delivery) error {
	if s.gate != nil {
		<-s.gate
	}
	var data string
	if s.encode != nil {
		data = string(d.Encoded(EncodingSSE, s.encode))
	}
	s.frames <- frame{kind: "event", name: d.Event.Name, id: d.ID, seq: d.Event.Seq, data: data}
	if d.Event.Unread != tocsin.UnreadUnchanged {
		s.frames <- frame{kind: "control", name: tocsin.EventUnread, data: string(unreadData(d.Event.Unread))}
	}
	return nil
}

func (s *recSink) Batch(ds []*Delivery, unread int) error {
	var seqs []string
	for _, d := range ds {
		seqs = append(seqs, fmt.Sprint(d.Event.Seq))
	}
	s.frames <- frame{kind: "batch", name: tocsin.EventBatch, id: ds[len(ds)-1].ID, seq: ds[len(ds)-1].Event.Seq, data: strings.Join(seqs, ",")}
	if unread != tocsin.UnreadUnchanged {
		s.frames <- frame{kind: "control", name: tocsin.EventUnread, data: string(unreadData(unread))}
	}
	return nil
}

func (s *recSink) Control(name, id string, data []byte) error {
	s.frames <- frame{kind: "control", name: name, id: id, data: string(data)}
	return nil
}

func (s *recSink) Heartbeat() error { s.frames <- frame{kind: "heartbeat"}; return nil }
func (s *recSink) Flush() error     { return nil }

// next returns the next frame other than heartbeats and unread counts.
func (s *recSink) next(t *testing.T) frame {
	t.Helper()
	for {
		select {
		case f := <-s.frames:
			if f.kind == "heartbeat" || f.name == tocsin.EventUnread {
				continue
			}
			return f
		case <-time.After(5 * time.Second):
			t.Fatal("timed out waiting for a frame")
		}
	}
}

// none checks that nothing but heartbeats and unread counts was written once the
// hub has done all it would do: it runs in a synctest bubble, lets time pass beyond
// the reorder wait (a held event would go then) and waits until every goroutine of
// the bubble is idle, so a frame cannot be merely late.
func (s *recSink) none(t *testing.T) {
	t.Helper()
	time.Sleep(2 * reorderWait)
	synctest.Wait()
	for {
		select {
		case f := <-s.frames:
			if f.kind == "heartbeat" || f.name == tocsin.EventUnread {
				continue
			}
			t.Fatalf("unexpected frame %+v", f)
		default:
			return
		}
	}
}

type fixture struct {
	h     *Hub
	store *sqlite.Store
	// driven makes serve run streams on the hub's workers (Begin, Go) instead of on
	// goroutines of their own (Serve: Begin, Live): the stream tests run with both
	// runners (modes).
	driven bool
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	return newFixtureStore(t, cfg, nil)
}

// newFixtureStore is newFixture with the hub's store wrapped by wrap (nil: none).
func newFixtureStore(t testing.TB, cfg Config, wrap func(tocsin.Store) tocsin.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/hub.db", sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	bus := membus.New()
	cfg.Store, cfg.Bus = st, bus
	if wrap != nil {
		cfg.Store = wrap(st)
	}
	h := New(cfg)
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		bus.Close()
		st.Close()
	})
	return &fixture{h: h, store: st}
}

// modes runs fn as two parallel subtests, one per runner of the live loop: streams
// on goroutines of their own ("goroutine": Live) and run by the hub's workers
// ("driven": Go). The two must write the same frames.
func modes(t *testing.T, fn func(t *testing.T, driven bool)) {
	t.Helper()
	for _, m := range []struct {
		name   string
		driven bool
	}{{"goroutine", false}, {"driven", true}} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			fn(t, m.driven)
		})
	}
}

// in sets the mode the fixture serves streams in.
func (f *fixture) in(driven bool) *fixture {
	f.driven = driven
	return f
}

// asyncSink makes a Sink an AsyncSink whose writes always complete at once.
type asyncSink struct{ Sink }

func (asyncSink) Blocked() (bool, error) { return false, nil }

// serve runs a stream in the background; the returned channel yields Serve's result.
func (f *fixture) serve(t *testing.T, req SubscribeRequest, sink Sink) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	if f.driven {
		go func() {
			st, err := f.h.Begin(ctx, req, asyncSink{sink})
			if err != nil {
				done <- err
				close(finished)
				return
			}
			context.AfterFunc(ctx, st.Stop)
			st.Go(func(err error) {
				done <- err
				close(finished)
			})
		}()
	} else {
		go func() {
			done <- f.h.Serve(ctx, req, sink)
			close(finished)
		}()
	}
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return cancel, done
}

func (f *fixture) publish(t *testing.T, user, typ string) tocsin.Notification {
	t.Helper()
	in := &tocsin.PublishInput{UserID: user, Type: typ, Title: "t"}
	if err := in.Validate(time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := f.h.Publish(context.Background(), in, Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Notifications[0]
}

// storeOnly commits a notification without announcing it on the bus, as if the bus
// had lost it.
func (f *fixture) storeOnly(t *testing.T, user string) tocsin.Event {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	res, err := f.store.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{{
		ID: f.h.ids.New(now), UserID: user, Type: "system", Title: "lost", Priority: 3, Count: 1, CreatedAt: now,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Events[0]
}

func waitStreams(t *testing.T, h *Hub, n int) {
	t.Helper()
	for i := 0; h.OpenStreams() != n; i++ {
		if i > 500 {
			t.Fatalf("open streams = %d, want %d", h.OpenStreams(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFreshConnectGetsInitThenLiveEvents(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		f := newFixture(t, Config{}).in(driven)
		f.publish(t, "u1", "comment")
		sink := newRecSink()
		f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
		init := sink.next(t)
		if init.name != tocsin.EventInit || init.id != f.h.EventID(1) {
			t.Fatalf("first frame = %+v, want init with id of seq 1", init)
		}
		n := f.publish(t, "u1", "mention")
		ev := sink.next(t)
		if ev.name != tocsin.EventNotification || ev.seq != 2 {
			t.Fatalf("live frame = %+v, want notification seq 2", ev)
		}
		_ = n
	})
}

func TestGapFromTheBusIsFilledFromTheStore(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}).in(driven)
			sink := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
			if fr := sink.next(t); fr.name != tocsin.EventInit {
				t.Fatalf("want init, got %+v", fr)
			}
			e1 := f.storeOnly(t, "u1") // the bus lost seq 1 and 2
			e2 := f.storeOnly(t, "u1")
			e3 := f.storeOnly(t, "u1")
			f.h.deliver(e3) // only seq 3 arrives live
			for _, want := range []uint64{e1.Seq, e2.Seq, e3.Seq} {
				if fr := sink.next(t); fr.seq != want {
					t.Fatalf("got seq %d, want %d", fr.seq, want)
				}
			}
			f.h.deliver(e2) // a late duplicate is dropped
			f.h.deliver(e3)
			sink.none(t)
		})
	})
}

func TestResumeReplaysExactlyThenGoesLive(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		f := newFixture(t, Config{}).in(driven)
		for range 5 {
			f.publish(t, "u1", "comment")
		}
		sink := newRecSink()
		f.serve(t, SubscribeRequest{UserID: "u1", LastEventID: f.h.EventID(2)}, sink)
		for want := uint64(3); want <= 5; want++ {
			if fr := sink.next(t); fr.kind != "event" || fr.seq != want {
				t.Fatalf("got %+v, want event seq %d", fr, want)
			}
		}
		f.publish(t, "u1", "comment")
		if fr := sink.next(t); fr.seq != 6 {
			t.Fatalf("got %+v, want seq 6", fr)
		}
	})
}

func TestUnhonourableResumePointResets(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		cases := map[string]string{
			"malformed":     "nope",
			"other epoch":   "zzzzzzzz-1",
			"beyond head":   "", // filled in below
			"garbage seq":   "x-y",
			"negative like": "-1",
		}
		for name, id := range cases {
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, Config{}).in(driven)
				f.publish(t, "u1", "comment")
				if id == "" {
					id = f.h.EventID(99)
				}
				sink := newRecSink()
				f.serve(t, SubscribeRequest{UserID: "u1", LastEventID: id}, sink)
				if fr := sink.next(t); fr.name != tocsin.EventReset || fr.id != "" {
					t.Fatalf("first frame = %+v, want reset without id", fr)
				}
				if fr := sink.next(t); fr.name != tocsin.EventInit || fr.id != f.h.EventID(1) {
					t.Fatalf("second frame = %+v, want init at seq 1", fr)
				}
			})
		}
	})
}

func TestSlowConsumerIsClosedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		f := newFixture(t, Config{QueueSize: 4}).in(driven)
		slow := newRecSink()
		slow.gate = make(chan struct{})
		fast := newRecSink()
		_, slowDone := f.serve(t, SubscribeRequest{UserID: "u1"}, slow)
		f.serve(t, SubscribeRequest{UserID: "u1"}, fast)
		slow.next(t)
		fast.next(t)
		waitStreams(t, f.h, 2)

		// Each publish returns, and the fast stream gets each event, while the slow
		// stream's writer stays blocked on its first event.
		const n = 20
		for want := uint64(1); want <= n; want++ {
			f.publish(t, "u1", "comment")
			if fr := fast.next(t); fr.seq != want {
				t.Fatalf("fast got %+v, want seq %d", fr, want)
			}
		}
		close(slow.gate) // let the slow writer notice it was kicked
		wantEnd(t, slowDone, ErrSlowConsumer)
		waitStreams(t, f.h, 1)
	})
}

func TestEachEventIsEncodedOnceForAllConnections(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		f := newFixture(t, Config{}).in(driven)
		var calls atomic.Int64
		encode := func(d *Delivery) []byte {
			calls.Add(1)
			return fmt.Appendf(nil, "seq=%d", d.Event.Seq)
		}
		const conns = 8
		sinks := make([]*recSink, conns)
		for i := range sinks {
			sinks[i] = newRecSink()
			sinks[i].encode = encode
			f.serve(t, SubscribeRequest{UserID: "u1"}, sinks[i])
			sinks[i].next(t)
		}
		waitStreams(t, f.h, conns)
		f.publish(t, "u1", "comment")
		for _, s := range sinks {
			if fr := s.next(t); fr.data != "seq=1" {
				t.Fatalf("got %+v", fr)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Fatalf("encoded %d times for %d connections, want once", got, conns)
		}
	})
}

func TestSlots(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		t.Run("refuse past the limit", func(t *testing.T) {
			f := newFixture(t, Config{MaxStreamsPerUser: 2}).in(driven)
			for range 2 {
				s := newRecSink()
				f.serve(t, SubscribeRequest{UserID: "u1"}, s)
				s.next(t)
			}
			err := f.h.Serve(context.Background(), SubscribeRequest{UserID: "u1"}, newRecSink())
			if tocsin.ErrorCodeOf(err) != tocsin.ETooMany {
				t.Fatalf("third stream: %v, want ETooMany", err)
			}
			// another user is not affected
			s := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u2"}, s)
			if fr := s.next(t); fr.name != tocsin.EventInit {
				t.Fatalf("u2 got %+v", fr)
			}
			waitStreams(t, f.h, 3)
		})
		t.Run("close oldest", func(t *testing.T) {
			f := newFixture(t, Config{MaxStreamsPerUser: 1, CloseOldest: true}).in(driven)
			old := newRecSink()
			_, oldDone := f.serve(t, SubscribeRequest{UserID: "u1"}, old)
			old.next(t)
			nu := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u1"}, nu)
			nu.next(t)
			wantEnd(t, oldDone, ErrReplaced)
			waitStreams(t, f.h, 1)
			if c := f.h.Connections("u1"); len(c) != 1 {
				t.Fatalf("connections = %v", c)
			}
		})
	})
}

func TestShutdownEndsStreamsAndRefusesNewOnes(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		f := newFixture(t, Config{}).in(driven)
		s := newRecSink()
		_, done := f.serve(t, SubscribeRequest{UserID: "u1"}, s)
		s.next(t)
		f.h.Shutdown()
		select {
		case err := <-done:
			if !errors.Is(err, ErrShutdown) {
				t.Fatalf("stream ended with %v, want ErrShutdown", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("stream did not end")
		}
		err := f.h.Serve(context.Background(), SubscribeRequest{UserID: "u1"}, newRecSink())
		if tocsin.ErrorCodeOf(err) != tocsin.EUnavailable {
			t.Fatalf("new stream after shutdown: %v, want EUnavailable", err)
		}
	})
}

func TestTypesFilterStillAdvancesAndReportsUnread(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		f := newFixture(t, Config{}).in(driven)
		s := newRecSink()
		f.serve(t, SubscribeRequest{UserID: "u1", Types: []string{"mention"}}, s)
		s.next(t)
		f.publish(t, "u1", "comment")
		f.publish(t, "u1", "mention")
		want := []frame{
			{kind: "control", name: tocsin.EventUnread, data: `{"unreadCount":1}`}, // the filtered comment
			{kind: "event", name: tocsin.EventNotification, id: f.h.EventID(2), seq: 2},
			{kind: "control", name: tocsin.EventUnread, data: `{"unreadCount":2}`},
		}
		for i, w := range want {
			var got frame
			for got.kind == "" || got.kind == "heartbeat" {
				select {
				case got = <-s.frames:
				case <-time.After(5 * time.Second):
					t.Fatalf("frame %d: timed out", i)
				}
			}
			if got != w {
				t.Fatalf("frame %d = %+v, want %+v", i, got, w)
			}
		}
	})
}

func TestConcurrentSubscribeAndPublishLoseNothing(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{QueueSize: 1024}).in(driven)
			const users, per = 8, 50
			var wg sync.WaitGroup
			sinks := make([]*recSink, users)
			for u := range users {
				sinks[u] = newRecSink()
				f.serve(t, SubscribeRequest{UserID: fmt.Sprint("u", u)}, sinks[u])
			}
			for u := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						f.publish(t, fmt.Sprint("u", u), "comment")
					}
				}()
			}
			wg.Wait()
			for u, s := range sinks {
				// Each stream started with init at some head h, then must see h+1..per exactly.
				init := s.next(t)
				if init.name != tocsin.EventInit {
					t.Fatalf("u%d first frame %+v", u, init)
				}
				id, err := tocsin.ParseEventID(init.id)
				if err != nil {
					t.Fatal(err)
				}
				for want := id.Seq + 1; want <= per; want++ {
					if fr := s.next(t); fr.seq != want {
						t.Fatalf("u%d got seq %d, want %d", u, fr.seq, want)
					}
				}
				s.none(t)
			}
		})
	})
}

func TestResyncCatchesUpWhatTheBusLost(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, driven bool) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, Config{}).in(driven)
			sink := newRecSink()
			f.serve(t, SubscribeRequest{UserID: "u1"}, sink)
			sink.next(t)
			waitStreams(t, f.h, 1)
			a := f.storeOnly(t, "u1") // committed while the bus was down
			b := f.storeOnly(t, "u1")
			sink.none(t)
			f.h.Resync()
			for _, want := range []uint64{a.Seq, b.Seq} {
				if fr := sink.next(t); fr.kind != "event" || fr.seq != want {
					t.Fatalf("got %+v, want event seq %d", fr, want)
				}
			}
			f.h.Resync() // up to date: nothing more
			sink.none(t)
		})
	})
}

// wantEnd waits for a stream's end and checks it ended with want.
func wantEnd(t *testing.T, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Fatalf("stream ended with %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("stream did not end (want %v)", want)
	}
}
