// Package membus is the in-process tocsin.Bus: the default for a single node. It calls
// the hub's handler exactly as the Redis and NATS buses do, so one node runs the same
// code path as a cluster.
package membus

import (
	"context"
	"errors"
	"sync"

	"github.com/tocsin/tocsin"
)

// Bus delivers every published event to the handler registered with Start, in the
// caller's goroutine and in order. The handler must not block (the hub only enqueues).
type Bus struct {
	mu      sync.RWMutex
	handler tocsin.BusHandler
	closed  bool
}

var _ tocsin.Bus = (*Bus)(nil)

// New returns a bus with no handler yet.
func New() *Bus { return &Bus{} }

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("membus: closed")

// errStarted is a second Start's answer.
var errStarted = errors.New("membus: started twice")

// Start registers h.
func (b *Bus) Start(_ context.Context, h tocsin.BusHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handler != nil {
		return errStarted
	}
	b.handler = h
	return nil
}

// Publish hands each event to the handler, in order.
func (b *Bus) Publish(_ context.Context, events []tocsin.Event) error {
	b.mu.RLock()
	h, closed := b.handler, b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if h == nil {
		return nil
	}
	for _, ev := range events {
		h(ev)
	}
	return nil
}

// Subscribe is a no-op: one process sees every event anyway.
func (b *Bus) Subscribe(context.Context, tocsin.StreamID) error { return nil }

// Unsubscribe is a no-op.
func (b *Bus) Unsubscribe(context.Context, tocsin.StreamID) error { return nil }

// Close stops delivery; closing again is a no-op.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}
