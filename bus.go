package tocsin

import "context"

// BusHandler receives the events the bus carries. It must not block: the hub only
// enqueues them.
type BusHandler func(Event)

// Bus carries committed events from the node that made them to every node that has
// subscribers of their streams, this node included: even a single node receives its
// own events back through the bus, so one node runs the cluster's code path.
//
// Contract (bustest checks it against every implementation):
//   - Start registers the one handler before any Publish; events of one Publish call
//     reach each node's handler in the order given. A second Start is an error and
//     leaves the first handler in place.
//   - Delivery is at most once and best effort: the store is the truth, and a node
//     that misses an event (bus down, reordering between publishers) finds the gap by
//     its sequence number and reads the missing events from the store.
//   - Subscribe and Unsubscribe tell the bus which streams this node has subscribers
//     for; an implementation may deliver more than that (the memory bus delivers all).
//     The bus keeps that interest even when it returns an error (the network is
//     down), and re-establishes it when it reconnects.
//   - Publish does not fail the caller's request for a bus fault: it returns the error
//     for logging and metrics only.
//   - Close stops delivery: once it returns, the handler is not called again and
//     Publish returns an error. Close may be called again, started or not; later
//     calls return nil.
type Bus interface {
	Start(ctx context.Context, h BusHandler) error
	Publish(ctx context.Context, events []Event) error
	Subscribe(ctx context.Context, stream StreamID) error
	Unsubscribe(ctx context.Context, stream StreamID) error
	Close() error
}

// BusPinger is implemented by buses that can be unreachable. /readyz reports a bus
// whose Ping fails as degraded: publishes still succeed (the store is the truth).
type BusPinger interface {
	Ping(ctx context.Context) error
}

// BusResyncer is implemented by buses that may have lost events while disconnected.
// The bus calls f (on a goroutine of its own) after it reconnects and has its
// subscriptions back, so the hub checks its streams against the store and clients
// catch up without waiting for their next event. OnResync is called before Start.
type BusResyncer interface {
	OnResync(f func())
}
