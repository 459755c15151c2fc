package delivery

import "time"

// Observer receives the engine's measurements; the metrics package implements it
// with Prometheus collectors. Implementations must be cheap and must not block.
type Observer interface {
	// Delivered: a delivery-log row was written for channel with status.
	Delivered(channel, status string)
	// JobLateness: how long after its DueAt a job of kind started running.
	JobLateness(kind string, d time.Duration)
	// JobsClaimed: one claim leased n jobs.
	JobsClaimed(n int)
	// JobFinished: a job of kind ended done or failed.
	JobFinished(kind, state string)
	// Error: an operation (claim, a job kind, committed, lease) failed and was logged.
	Error(op string)
}

// NopObserver ignores every measurement.
type NopObserver struct{}

func (NopObserver) Delivered(string, string)          {}
func (NopObserver) JobLateness(string, time.Duration) {}
func (NopObserver) JobsClaimed(int)                   {}
func (NopObserver) JobFinished(string, string)        {}
func (NopObserver) Error(string)                      {}
