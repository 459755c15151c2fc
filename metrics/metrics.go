// Package metrics exposes tocsin's Prometheus metrics. It implements hub.Observer
// with collectors registered on a registry of its own (never the global one), so
// tests and several servers in one process do not collide.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tocsin/tocsin/hub"
)

// Metrics holds the collectors and their registry.
type Metrics struct {
	Registry *prometheus.Registry

	streamsOpen     *prometheus.GaugeVec
	streamsTotal    *prometheus.CounterVec
	published       prometheus.Counter
	delivered       prometheus.Counter
	publishLatency  prometheus.Histogram
	slowDisconnects prometheus.Counter
	heals           prometheus.Counter
	HTTPRequests    *prometheus.CounterVec
	// AuthFailuresRefused counts requests refused with 429 because their client
	// address failed too many credential checks (--auth-failure-limit).
	AuthFailuresRefused prometheus.Counter

	// Totals kept beside the collectors for the dashboard's live figures.
	totalPublished, totalDelivered atomic.Int64
}

// Totals returns the events published and delivered by this node since it started.
func (m *Metrics) Totals() (published, delivered int64) {
	return m.totalPublished.Load(), m.totalDelivered.Load()
}

var _ hub.Observer = (*Metrics)(nil)

// New registers tocsin's collectors, plus the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		streamsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tocsin_streams_open", Help: "Streams open on this node, by transport.",
		}, []string{"transport"}),
		streamsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_streams_opened_total", Help: "Streams opened on this node, by transport.",
		}, []string{"transport"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_events_published_total", Help: "Events committed to the store by this node.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_events_delivered_total", Help: "Events written to streams on this node (one per event per connection).",
		}),
		publishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tocsin_publish_duration_seconds", Help: "Time from a publish request's start to its durable commit and bus hand-off.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		slowDisconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_slow_consumer_disconnects_total", Help: "Streams closed because their queue was full.",
		}),
		heals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_stream_heals_total",
			Help: "Stream ids the periodic head check found behind the store (an event committed but never announced on the bus) and caught up.",
		}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_http_requests_total", Help: "HTTP requests answered, by route and status class.",
		}, []string{"route", "code"}),
		AuthFailuresRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_auth_failure_refused_total",
			Help: "Requests refused (429) because their client address failed too many credential checks (--auth-failure-limit).",
		}),
	}
	m.Registry.MustRegister(m.streamsOpen, m.streamsTotal, m.published, m.delivered,
		m.publishLatency, m.slowDisconnects, m.heals, m.HTTPRequests, m.AuthFailuresRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) StreamOpened(t string) {
	m.streamsOpen.WithLabelValues(t).Inc()
	m.streamsTotal.WithLabelValues(t).Inc()
}
func (m *Metrics) StreamClosed(t string) { m.streamsOpen.WithLabelValues(t).Dec() }
func (m *Metrics) EventsPublished(n int) {
	m.published.Add(float64(n))
	m.totalPublished.Add(int64(n))
}
func (m *Metrics) EventsDelivered(n int) {
	m.delivered.Add(float64(n))
	m.totalDelivered.Add(int64(n))
}
func (m *Metrics) PublishLatency(d time.Duration) { m.publishLatency.Observe(d.Seconds()) }
func (m *Metrics) SlowConsumer()                  { m.slowDisconnects.Inc() }
func (m *Metrics) StreamHealed()                  { m.heals.Inc() }
