// Package bustest is the conformance suite of the tocsin.Bus contract, run against
// every implementation: membus, redisbus and natsbus. Proxy lets a suite cut a
// network bus's connections to test its recovery.
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
	// Cut, for a bus over a network, opens a node as Open does and returns with it a
	// function that breaks its connections at once (a Proxy's Cut): the bus must
	// reconnect by itself, subscribe again and call its tocsin.BusResyncer callback.
	// nil for an in-process bus, which has no connection to lose.
	Cut func(t *testing.T) (b tocsin.Bus, cut func())
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
	t.Run("SecondStartFails", func(t *testing.T) { testSecondStart(t, o) })
	t.Run("CloseStopsDelivery", func(t *testing.T) { testClose(t, o) })
	t.Run("CloseTwice", func(t *testing.T) { testCloseTwice(t, o) })
	if o.Cut != nil {
		t.Run("ResyncAfterOutage", func(t *testing.T) { testResync(t, o) })
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

// count is how many events of stream have arrived.
func (c *collector) count(stream tocsin.StreamID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ev := range c.events {
		if ev.Stream == stream {
			n++
		}
	}
	return n
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

// unique is a stream name no other run of the suite uses (network buses are shared
// by every test process).
func unique(name string) tocsin.StreamID {
	return tocsin.UserStream(fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
}

// testSecondStart: Start registers the one handler; a second Start is an error and
// leaves the first handler in place.
func testSecondStart(t *testing.T, o Options) {
	b, c := start(t, o)
	second := newCollector()
	if err := b.Start(context.Background(), second.handle); err == nil {
		t.Fatal("a second Start succeeded; the contract says it is an error")
	}
	s := unique("second-start")
	subscribe(t, o, b, s)
	if err := b.Publish(context.Background(), []tocsin.Event{ev(s, 1)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	c.wait(t, s, 1)
	if n := second.count(s); n != 0 {
		t.Fatalf("the second Start's handler got %d events", n)
	}
}

// testClose: after Close, Publish fails and the handler is not called again, for this
// node's publishes nor (on a network bus) another node's.
func testClose(t *testing.T, o Options) {
	b, c := start(t, o)
	s := unique("close")
	subscribe(t, o, b, s)
	if err := b.Publish(context.Background(), []tocsin.Event{ev(s, 1)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	c.wait(t, s, 1)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Publish(context.Background(), []tocsin.Event{ev(s, 2)}); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
	if o.Nodes > 1 {
		other, oc := start(t, o)
		subscribe(t, o, other, s)
		if err := other.Publish(context.Background(), []tocsin.Event{ev(s, 3)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		oc.wait(t, s, 1) // delivered to a live node, so the closed one had its chance
	}
	time.Sleep(50 * time.Millisecond)
	if n := c.count(s); n != 1 {
		t.Fatalf("the handler of a closed bus was called: %d events, want the 1 from before Close", n)
	}
}

// testCloseTwice: Close may be called again (the hub and its owner may both close the
// bus on the way out), with or without Start; later calls return nil.
func testCloseTwice(t *testing.T, o Options) {
	b, _ := start(t, o)
	for i := range 2 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	unstarted := o.Open(t)
	for i := range 2 {
		if err := unstarted.Close(); err != nil {
			t.Fatalf("Close #%d of a bus never started: %v", i+1, err)
		}
	}
}

// testResync: a bus whose connection is cut reconnects by itself, calls its resync
// callback (so the hub reads what it missed from the store), and has its streams'
// subscriptions back: another node's events reach it again.
func testResync(t *testing.T, o Options) {
	b, cut := o.Cut(t)
	r, ok := b.(tocsin.BusResyncer)
	if !ok {
		t.Fatal("a bus that can lose its connection must implement tocsin.BusResyncer")
	}
	resynced := make(chan struct{}, 1)
	r.OnResync(func() {
		select {
		case resynced <- struct{}{}:
		default:
		}
	})
	c := newCollector()
	if err := b.Start(context.Background(), c.handle); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	other, _ := start(t, o)
	s := unique("resync")
	subscribe(t, o, b, s)
	if err := other.Publish(context.Background(), []tocsin.Event{ev(s, 1)}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	c.wait(t, s, 1)
	select {
	case <-resynced:
		t.Fatal("resync called before any outage")
	default:
	}

	cut()
	select {
	case <-resynced:
	case <-time.After(15 * time.Second):
		t.Fatal("no resync within 15 s of the connection being cut")
	}
	// Delivery is at most once, and the bus may take a moment to subscribe again:
	// publish until one event arrives.
	deadline := time.Now().Add(10 * time.Second)
	for seq := uint64(2); c.count(s) < 2; seq++ {
		if time.Now().After(deadline) {
			t.Fatal("after the resync, another node's events no longer reach the bus: its subscription is lost")
		}
		_ = other.Publish(context.Background(), []tocsin.Event{ev(s, seq)})
		time.Sleep(50 * time.Millisecond)
	}
}
