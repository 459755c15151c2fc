// Package natsbus is the tocsin.Bus over core NATS: one subject per stream, and each
// node subscribes only to the subjects of the streams it has connections for. The
// store is the truth, so plain at-most-once NATS is enough: a node that misses an
// event finds the gap by sequence and reads the store.
package natsbus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/buswire"
)

// SubjectPrefix begins every subject: tocsin.stream.<base64url of the stream id>
// (stream ids may hold any character; subjects may not).
const SubjectPrefix = "tocsin.stream."

// inboxSize bounds the messages waiting for the hub; the hub's handler only
// enqueues, so this fills only if the process stalls.
const inboxSize = 1 << 16

// Bus is safe for concurrent use.
type Bus struct {
	nc  *nats.Conn
	log *slog.Logger
	in  chan *nats.Msg

	mu       sync.Mutex
	subs     map[tocsin.StreamID]*nats.Subscription
	handler  tocsin.BusHandler
	onResync func()
	started  bool
	closed   bool
	stop     chan struct{} // closed by Close
	done     chan struct{} // closed when delivery has stopped
}

var (
	_ tocsin.Bus         = (*Bus)(nil)
	_ tocsin.BusPinger   = (*Bus)(nil)
	_ tocsin.BusResyncer = (*Bus)(nil)
)

func subject(s tocsin.StreamID) string {
	return SubjectPrefix + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// Open connects to the NATS server at url (nats://host:4222, several comma-separated
// for a NATS cluster). The connection reconnects forever and resubscribes by itself.
func Open(ctx context.Context, url string, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{log: log, in: make(chan *nats.Msg, inboxSize), subs: map[tocsin.StreamID]*nats.Subscription{},
		stop: make(chan struct{}), done: make(chan struct{})}
	nc, err := nats.Connect(url,
		nats.Name("tocsin"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true), // start even when NATS is down; the store is the truth
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats bus connection lost; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			log.Info("nats bus connection back; resyncing streams from the store")
			b.mu.Lock()
			f := b.onResync
			b.mu.Unlock()
			if f != nil {
				go f()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats bus error", "err", err)
			if errors.Is(err, nats.ErrSlowConsumer) {
				// Messages were dropped: let the hub check its streams against the store.
				b.mu.Lock()
				f := b.onResync
				b.mu.Unlock()
				if f != nil {
					go f()
				}
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	b.nc = nc
	return b, nil
}

// OnResync registers f, called after the connection recovers.
func (b *Bus) OnResync(f func()) {
	b.mu.Lock()
	b.onResync = f
	b.mu.Unlock()
}

// Start delivers the subscribed subjects' messages to h, in arrival order.
func (b *Bus) Start(_ context.Context, h tocsin.BusHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("natsbus: started twice")
	}
	b.started, b.handler = true, h
	go func() {
		defer close(b.done)
		for {
			var m *nats.Msg
			select {
			case <-b.stop:
				return
			case m = <-b.in:
			}
			ev, err := buswire.Unmarshal(m.Data)
			if err != nil {
				b.log.Warn("dropping a message that is not a tocsin event", "subject", m.Subject, "err", err)
				continue
			}
			h(ev)
		}
	}()
	return nil
}

// errDisconnected is Publish's answer while the connection is down: rather than
// have NATS buffer the events for later, the hub delivers them to its own streams at
// once, and other nodes catch up from the store when they resync.
var errDisconnected = errors.New("natsbus: not connected")

// Publish sends the events in order.
func (b *Bus) Publish(_ context.Context, events []tocsin.Event) error {
	if !b.nc.IsConnected() {
		return errDisconnected
	}
	for _, ev := range events {
		payload, err := buswire.Marshal(ev)
		if err != nil {
			return err
		}
		if err := b.nc.Publish(subject(ev.Stream), payload); err != nil {
			return fmt.Errorf("natsbus: publish: %w", err)
		}
	}
	return nil
}

// Subscribe subscribes to the stream's subject and returns once the server has the
// subscription (a flush round trip), so the hub may read the store right after
// without a window where an event could slip by. While disconnected the
// subscription is kept and made on reconnect; the error is for logging.
func (b *Bus) Subscribe(ctx context.Context, s tocsin.StreamID) error {
	b.mu.Lock()
	if b.subs[s] == nil {
		sub, err := b.nc.ChanSubscribe(subject(s), b.in)
		if err != nil {
			b.mu.Unlock()
			return fmt.Errorf("natsbus: subscribe: %w", err)
		}
		b.subs[s] = sub
	}
	b.mu.Unlock()
	if err := b.flush(ctx); err != nil {
		return fmt.Errorf("natsbus: subscribe: %w", err)
	}
	return nil
}

// flush waits for a round trip to the server (FlushWithContext needs a deadline).
func (b *Bus) flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	return b.nc.FlushWithContext(ctx)
}

// Unsubscribe drops the stream's subscription.
func (b *Bus) Unsubscribe(_ context.Context, s tocsin.StreamID) error {
	b.mu.Lock()
	sub := b.subs[s]
	delete(b.subs, s)
	b.mu.Unlock()
	if sub == nil {
		return nil
	}
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("natsbus: unsubscribe: %w", err)
	}
	return nil
}

// Ping checks the server answers.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats bus: %s", b.nc.Status())
	}
	if err := b.flush(ctx); err != nil {
		return fmt.Errorf("nats bus: %w", err)
	}
	return nil
}

// Close drains nothing (the store is the truth): it closes the connection and stops
// delivery. Closing again is a no-op.
func (b *Bus) Close() error {
	b.mu.Lock()
	started, closed := b.started, b.closed
	b.closed = true
	b.mu.Unlock()
	if closed {
		return nil
	}
	b.nc.Close()
	close(b.stop) // b.in stays open: the NATS reader may still hold a message for it
	if started {
		<-b.done
	}
	return nil
}
