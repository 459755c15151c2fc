// Package redisbus is the tocsin.Bus over Redis pub/sub: one channel per stream, and
// each node subscribes only to the channels of the streams it has connections for.
package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/buswire"
)

// Prefix begins every channel name: tocsin:stream:<stream id>.
const Prefix = "tocsin:stream:"

// Bus is safe for concurrent use.
type Bus struct {
	rdb *redis.Client
	ps  *redis.PubSub
	log *slog.Logger

	down atomic.Bool // the subscription connection is lost: Publish fails fast

	mu       sync.Mutex
	waiting  map[string][]chan struct{} // Subscribe calls awaiting the server's confirmation
	handler  tocsin.BusHandler
	onResync func()
	cancel   context.CancelFunc
	done     chan struct{}
	closed   bool
}

var (
	_ tocsin.Bus         = (*Bus)(nil)
	_ tocsin.BusPinger   = (*Bus)(nil)
	_ tocsin.BusResyncer = (*Bus)(nil)
)

// Open connects to the Redis server at url (redis://[user:pass@]host:port/db, or
// rediss:// for TLS).
func Open(ctx context.Context, url string, log *slog.Logger) (*Bus, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisbus: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Fail fast: a bus that is down must not hold up publishes (they are stored;
	// delivery falls back to this node's own streams and the store).
	opt.DialTimeout = 500 * time.Millisecond
	opt.MaxRetries = 1
	rdb := redis.NewClient(opt)
	b := &Bus{rdb: rdb, log: log, waiting: map[string][]chan struct{}{}}
	if err := rdb.Ping(ctx).Err(); err != nil {
		// Not fatal: the store is the truth and the bus reconnects by itself.
		log.Warn("redis bus unreachable at start; live delivery across nodes waits for it", "err", err)
	}
	return b, nil
}

// LogLibraryTo routes go-redis's own messages (dial retries and the like) to log at
// debug level instead of stderr: this package already logs outages once, at warn.
// go-redis has one logger for the whole process, so this sets process state: call
// it once, from main, never from a library or a test.
func LogLibraryTo(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Log(ctx, slog.LevelDebug, "go-redis: "+fmt.Sprintf(format, v...))
}

func channel(s tocsin.StreamID) string { return Prefix + string(s) }

// OnResync registers f, called after the subscription connection recovers.
func (b *Bus) OnResync(f func()) {
	b.mu.Lock()
	b.onResync = f
	b.mu.Unlock()
}

// Start opens the subscription connection and delivers its messages to h.
func (b *Bus) Start(_ context.Context, h tocsin.BusHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ps != nil {
		return errors.New("redisbus: started twice")
	}
	b.handler = h
	b.ps = b.rdb.Subscribe(context.Background()) // no channels yet
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go b.receive(ctx)
	return nil
}

// receiveTimeout is how long the receiver waits before it pings, so a dead
// connection is found even when no event flows.
const receiveTimeout = 10 * time.Second

// receive reads the subscription connection until Close. go-redis reconnects and
// resubscribes every channel after an error; the first message after that (the
// resubscription's confirmation) tells this loop the bus is back, and it asks the
// hub to resync from the store.
func (b *Bus) receive(ctx context.Context) {
	defer close(b.done)
	down := false
	backoff := 50 * time.Millisecond
	for {
		msg, err := b.ps.ReceiveTimeout(ctx, receiveTimeout)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !down {
				_ = b.ps.Ping(ctx) // its answer (or failure) is the next message
				continue
			}
			if !down {
				down = true
				b.down.Store(true)
				b.log.Warn("redis bus connection lost; reconnecting", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			// Reconnect now rather than on the next subscription change: a node with
			// no subscriptions would otherwise never notice the server is back, and
			// would keep its publishes off the bus. The PONG (or the resubscription
			// confirmations) is the next message and ends the outage.
			_ = b.ps.Ping(ctx)
			continue
		}
		backoff = 50 * time.Millisecond
		if down {
			down = false
			b.down.Store(false)
			b.log.Info("redis bus connection back; resyncing streams from the store")
			b.mu.Lock()
			f := b.onResync
			b.mu.Unlock()
			if f != nil {
				go f()
			}
		}
		if sub, ok := msg.(*redis.Subscription); ok && sub.Kind == "subscribe" {
			b.confirmed(sub.Channel)
			continue
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // unsubscribe confirmations, pongs
		}
		ev, err := buswire.Unmarshal([]byte(m.Payload))
		if err != nil {
			b.log.Warn("dropping a message that is not a tocsin event", "channel", m.Channel, "err", err)
			continue
		}
		b.handler(ev)
	}
}

// errDown is Publish's answer while the subscription connection is lost: the server
// is almost surely unreachable, and waiting for timeouts would only slow publishes.
var errDown = errors.New("redisbus: connection lost; reconnecting")

// Publish sends the events in one pipeline, in order.
func (b *Bus) Publish(ctx context.Context, events []tocsin.Event) error {
	if len(events) == 0 {
		return nil
	}
	if b.down.Load() {
		return errDown
	}
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ev := range events {
			payload, err := buswire.Marshal(ev)
			if err != nil {
				return err
			}
			p.Publish(ctx, channel(ev.Stream), payload)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	return nil
}

// Subscribe adds the stream's channel to the subscription and returns once the
// server confirmed it: from then on every event published anywhere reaches this
// node, which is what lets the hub read the store right after (register, subscribe,
// read, live) without a window where an event could slip by. go-redis keeps the
// channel in its set even when the server is unreachable and subscribes again on
// reconnect.
func (b *Bus) Subscribe(ctx context.Context, s tocsin.StreamID) error {
	ch := channel(s)
	ok := make(chan struct{})
	b.mu.Lock()
	b.waiting[ch] = append(b.waiting[ch], ok)
	b.mu.Unlock()
	err := b.ps.Subscribe(ctx, ch)
	if err == nil {
		select {
		case <-ok:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	b.mu.Lock()
	ws := b.waiting[ch]
	for i, w := range ws {
		if w == ok {
			b.waiting[ch] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(b.waiting[ch]) == 0 {
		delete(b.waiting, ch)
	}
	b.mu.Unlock()
	return fmt.Errorf("redisbus: subscribe: %w", err)
}

// confirmed releases the Subscribe calls waiting for channel.
func (b *Bus) confirmed(channel string) {
	b.mu.Lock()
	ws := b.waiting[channel]
	delete(b.waiting, channel)
	b.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// Unsubscribe removes the stream's channel.
func (b *Bus) Unsubscribe(ctx context.Context, s tocsin.StreamID) error {
	if err := b.ps.Unsubscribe(ctx, channel(s)); err != nil {
		return fmt.Errorf("redisbus: unsubscribe: %w", err)
	}
	return nil
}

// Ping checks the server answers.
func (b *Bus) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis bus: %w", err)
	}
	return nil
}

// Close stops receiving and closes both connections; closing again is a no-op.
func (b *Bus) Close() error {
	b.mu.Lock()
	cancel, done, ps, closed := b.cancel, b.done, b.ps, b.closed
	b.closed = true
	b.mu.Unlock()
	if closed {
		return nil
	}
	if cancel != nil {
		cancel()
		_ = ps.Close()
		<-done
	}
	return b.rdb.Close()
}
