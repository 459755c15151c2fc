package hub

import "time"

// Observer receives the hub's measurements; the metrics package implements it with
// Prometheus collectors. Calls are made on hot paths: implementations must be cheap
// and must not block.
type Observer interface {
	StreamOpened(transport string)
	StreamClosed(transport string)
	EventsPublished(n int)
	EventsDelivered(n int)
	PublishLatency(d time.Duration)
	SlowConsumer()
	// StreamHealed: the head check found a stream id behind the store (an event
	// committed but never announced) and made its open streams catch up.
	StreamHealed()
}

// NopObserver ignores every measurement.
type NopObserver struct{}

func (NopObserver) StreamOpened(string)          {}
func (NopObserver) StreamClosed(string)          {}
func (NopObserver) EventsPublished(int)          {}
func (NopObserver) EventsDelivered(int)          {}
func (NopObserver) PublishLatency(time.Duration) {}
func (NopObserver) SlowConsumer()                {}
func (NopObserver) StreamHealed()                {}
