// Package bustest is the conformance suite of the tocsin.Bus contract, run against
// every implementation (memory now; Redis and NATS with the scale-out work).
package bustest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// Options describes the bus implementation under test.
type Options struct {
	// Open returns a new, unstarted bus connection. For distributed buses, every
	// call is another node on the same shared medium.
	Open func(t *testing.T) tocsin.Bus
	// Nodes is how many nodes the medium supports: 1 for in-process buses.
	Nodes int
	// Settle is how long a subscription may take to become effective (0 for memory).
	Settle time.Duration
}

// Run runs the suite.
func Run(t *testing.T, o Options) {
	t.Run("OrderWithinPublish", func(t *testing.T) { testOrder(t, o) })
	t.Run("EventFieldsSurvive", func(t *testing.T) { testFields(t, o) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { testConcurrent(t, o) })
	if o.Nodes > 1 {
		t.Run("CrossNode", func(t *testing.T) { testCrossNode(t, o) })
		t.Run("SubscribeIsEffectiveOnReturn", func(t *testing.T) { testSubscribeEffective(t, o) })
		t.Run("UnsubscribeStopsDelivery", func(t *testing.T) { testUnsubscribe(t, o) })
	}
}

type collector struct {
	mu     sync.Mutex
	events []tocsin.Event
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) handle(ev tocsin.Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// wait returns the events of stream once n have arrived, or fails after timeout.
func (c *collector) wait(t *testing.T, stream tocsin.StreamID, n int) []tocsin.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		var got []tocsin.Event
		for _, ev := range c.events {
			if ev.Stream == stream {
				got = append(got, ev)
			}
		}
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.notify:
		case <-deadline:
			t.Fatalf("stream %s: got %d events, want %d", stream, len(got), n)
		}
	}
}

func start(t *testing.T, o Options) (tocsin.Bus, *collector) {
	t.Helper()
	b := o.Open(t)
	c := newCollector()
	if err := b.Start(context.Background(), c.handle); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, c
}

func subscribe(t *testing.T, o Options, b tocsin.Bus, s tocsin.StreamID) {
	t.Helper()
	if err := b.Subscribe(context.Background(), s); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	time.Sleep(o.Settle)
}

func ev(stream tocsin.StreamID, seq uint64) tocsin.Event {
	return tocsin.Event{
		Stream: stream, Seq: seq, Name: tocsin.EventNotification, Type: "comment",
		Data:   json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq)),
		Unread: int(seq), Time: time.UnixMilli(1700000000000 + int64(seq)).UTC(),
	}
}

func testOrder(t *testing.T, o Options) {
	b, c := start(t, o)
	s := tocsin.UserStream("order")
	subscribe(t, o, b, s)
	var batch []tocsin.Event
	for i := uint64(1); i <= 100; i++ {
		batch = append(batch, ev(s, i))
	}
	if err := b.Publish(context.Background(), batch); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := c.wait(t, s, 100)
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: order not kept", i, e.Seq)
		}
	}
}

func testFields(t *testing.T, o Options) {
	b, c := start(t, o)
	s := tocsin.UserStream("fields: ü/x")
	subscribe(t, o, b, s)
	want := ev(s, 7)
	want.Unread = tocsin.UnreadUnchanged
	if err := b.Publish(context.Background(), []tocsin.Event{want}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := c.wait(t, s, 1)[0]
	if got.Stream != want.Stream || got.Seq != want.Seq || got.Name != want.Name ||
		got.Type != want.Type || string(got.Data) != string(want.Data) ||
		got.Unread != want.Unread || !got.Time.Equal(want.Time) {
		t.Fatalf("event changed in transit:\n got %+v\nwant %+v", got, want)
	}
}

func testConcurrent(t *testing.T, o Options) {
	b, c := start(t, o)
	const publishers, each = 8, 50
	streams := make([]tocsin.StreamID, publishers)
	for i := range streams {
		streams[i] = tocsin.UserStream(fmt.Sprintf("conc-%d", i))
		subscribe(t, o, b, streams[i])
	}
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := uint64(1); j <= each; j++ {
				if err := b.Publish(context.Background(), []tocsin.Event{ev(streams[i], j)}); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range streams {
		got := c.wait(t, s, each)
		for k, e := range got {
			if e.Seq != uint64(k+1) {
				t.Fatalf("%s: event %d has seq %d: one publisher's order not kept", s, k, e.Seq)
			}
		}
	}
}

func testCrossNode(t *testing.T, o Options) {
	a, _ := start(t, o)
	b, cb := start(t, o)
	s := tocsin.UserStream("cross")
	subscribe(t, o, b, s)
	if err := a.Publish(context.Background(), []tocsin.Event{ev(s, 1), ev(s, 2)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := cb.wait(t, s, 2)
	if got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("cross-node order: %d, %d", got[0].Seq, got[1].Seq)
	}
}

// testSubscribeEffective: once Subscribe returns, an event published by another node
// right after reaches this one. The hub relies on it: it subscribes, then reads the
// store, then goes live, and an event committed after the read must not slip by.
func testSubscribeEffective(t *testing.T, o Options) {
	a, _ := start(t, o)
	b, cb := start(t, o)
	const n = 50
	for i := range n {
		s := tocsin.UserStream(fmt.Sprintf("effective-%d-%d", i, time.Now().UnixNano()))
		if err := b.Subscribe(context.Background(), s); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if err := a.Publish(context.Background(), []tocsin.Event{ev(s, 1)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		cb.wait(t, s, 1)
	}
}

// testUnsubscribe: after Unsubscribe a node stops receiving the stream (a network bus
// must not carry every event of the cluster to every node).
func testUnsubscribe(t *testing.T, o Options) {
	a, _ := start(t, o)
	b, cb := start(t, o)
	s := tocsin.UserStream(fmt.Sprintf("unsub-%d", time.Now().UnixNano()))
	other := tocsin.UserStream(fmt.Sprintf("unsub-other-%d", time.Now().UnixNano()))
	subscribe(t, o, b, s)
	subscribe(t, o, b, other)
	if err := b.Unsubscribe(context.Background(), s); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	// The unsubscribed event is published first; the other stream's event after it
	// proves delivery went on, so the first had its chance to arrive.
	if err := a.Publish(context.Background(), []tocsin.Event{ev(s, 1), ev(other, 1)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	cb.wait(t, other, 1)
	time.Sleep(50 * time.Millisecond)
	cb.mu.Lock()
	defer cb.mu.Unlock()
	for _, e := range cb.events {
		if e.Stream == s {
			t.Fatalf("event of an unsubscribed stream delivered: %+v", e)
		}
	}
}
