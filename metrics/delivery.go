package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery is the delivery engine's collectors (it implements delivery.Observer):
// the delivery log's outcomes per channel, how late timers fire, claims, finished
// jobs and errors.
type Delivery struct {
	deliveries *prometheus.CounterVec
	lateness   *prometheus.HistogramVec
	claimed    prometheus.Counter
	finished   *prometheus.CounterVec
	errors     *prometheus.CounterVec
}

// NewDelivery registers the delivery engine's collectors on m's registry.
func (m *Metrics) NewDelivery() *Delivery {
	d := &Delivery{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_deliveries_total", Help: "Delivery-log outcomes, by channel (push, email, webhook) and status (scheduled, sent, skipped, failed).",
		}, []string{"channel", "status"}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tocsin_job_lateness_seconds", Help: "How long after its due time a durable job (scheduled, channel, webhook, digest, push) started, by kind.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, .75, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind"}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_jobs_claimed_total", Help: "Durable jobs this node leased to run.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_jobs_finished_total", Help: "Durable jobs that ended, by kind and state (done, failed).",
		}, []string{"kind", "state"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_delivery_errors_total", Help: "Delivery-engine operations that failed and were logged, by operation.",
		}, []string{"op"}),
	}
	m.Registry.MustRegister(d.deliveries, d.lateness, d.claimed, d.finished, d.errors)
	return d
}

func (d *Delivery) Delivered(channel, status string) {
	d.deliveries.WithLabelValues(channel, status).Inc()
}

func (d *Delivery) JobLateness(kind string, late time.Duration) {
	d.lateness.WithLabelValues(kind).Observe(late.Seconds())
}

func (d *Delivery) JobsClaimed(n int)              { d.claimed.Add(float64(n)) }
func (d *Delivery) JobFinished(kind, state string) { d.finished.WithLabelValues(kind, state).Inc() }
func (d *Delivery) Error(op string)                { d.errors.WithLabelValues(op).Inc() }
