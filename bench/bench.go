// Package bench is tocsin's load generator (tocsin bench): it drives a running server
// over loopback with real HTTP publishes and real SSE streams, measures what clients
// see (throughput, latency from a send time embedded in each notification, errors)
// and, when the server runs on this machine, its memory and CPU from /proc.
//
// Every scenario is bounded in count and in time, and talks only to the URL given.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run.
type Config struct {
	URL string // the server, e.g. http://127.0.0.1:8080
	// PublishURL, when set, receives the publishes while streams stay on URL: two
	// nodes of a cluster, the events crossing the bus.
	PublishURL string
	APIKey     string
	Token      func(user string) (string, error) // mints a user JWT
	ServerPID  int                               // for RSS and CPU; 0: not measured

	Publishers int           // concurrent publishers (publish, per-user)
	Duration   time.Duration // how long the load runs
	Streams    int           // open streams (idle, broadcast, per-user)
	Rate       float64       // publishes per second (broadcast, per-user)
	UserIDs    int           // recipients of one bulk publish
	Hold       time.Duration // how long idle streams are held before measuring
	Timers     int           // escalation timers (timers)
	DueIn      time.Duration // how far ahead the timers are due (timers)
	Pushes     int           // Web Push subscriptions, one push each (push)
}

// Result is what a run measured; it is written as JSON.
type Result struct {
	Scenario  string  `json:"scenario"`
	Streams   int     `json:"streams,omitempty"`
	Sent      int64   `json:"sent"`
	Acked     int64   `json:"acked"`
	Delivered int64   `json:"delivered"`
	Expected  int64   `json:"expected,omitempty"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	LatencyMs Latency `json:"latencyMs"`
	// PublishLatencyMs (broadcast, per-user): how long the publishes took to be
	// acknowledged (durable), the first part of LatencyMs.
	PublishLatencyMs *Latency `json:"publishLatencyMs,omitempty"`
	ServerRSSKiB     int64    `json:"serverRssKiB,omitempty"`
	// RSSPerStreamKiB is the server's RSS growth divided by the streams opened.
	RSSPerStreamKiB float64 `json:"rssPerStreamKiB,omitempty"`
	// CPUSecondsPer10k is the server's CPU time per 10,000 deliveries (or publishes).
	CPUSecondsPer10k float64 `json:"cpuSecondsPer10k,omitempty"`
	// AllConnectedMs and AllCaughtUpMs (reconnect-storm): from the moment every
	// client reconnects at once until all are connected, and until all have every
	// event they missed.
	AllConnectedMs float64 `json:"allConnectedMs,omitempty"`
	AllCaughtUpMs  float64 `json:"allCaughtUpMs,omitempty"`
	FirstError     string  `json:"firstError,omitempty"`
	// Timers (timers): memory, goroutines and lateness of pending escalation timers.
	Timers *TimerResult `json:"timers,omitempty"`
	// Push (push): Web Push throughput, arrivals and the server's CPU per push.
	Push *PushResult `json:"push,omitempty"`
}

// Latency summarises a sample in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// recorder collects latencies and errors from many goroutines.
type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	errors    atomic.Int64
	firstErr  atomic.Value
	sent      atomic.Int64
	acked     atomic.Int64
	delivered atomic.Int64
}

func (r *recorder) latency(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

func (r *recorder) fail(err error) {
	r.errors.Add(1)
	r.firstErr.CompareAndSwap(nil, err.Error())
}

func (r *recorder) result(name string, elapsed time.Duration, count int64) Result {
	r.mu.Lock()
	lat := append([]time.Duration(nil), r.lat...)
	r.mu.Unlock()
	res := Result{
		Scenario: name, Sent: r.sent.Load(), Acked: r.acked.Load(), Delivered: r.delivered.Load(),
		Errors: r.errors.Load(), Seconds: elapsed.Seconds(), LatencyMs: summarise(lat),
	}
	if elapsed > 0 {
		res.PerSecond = float64(count) / elapsed.Seconds()
	}
	if e, ok := r.firstErr.Load().(string); ok {
		res.FirstError = e
	}
	return res
}

func summarise(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	return Latency{P50: q(.5), P90: q(.9), P99: q(.99), Max: q(1), N: len(lat)}
}

// client returns an HTTP client (for publishes and tokens) whose connections come
// from 127.0.0.x source addresses in turn (dialLoopback). Loopback targets only.
func client(streams int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: dialLoopback, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0,
		DisableCompression: true, ForceAttemptHTTP2: false,
	}}
}

// checkTargets refuses any target but this machine.
func checkTargets(cfg Config) error {
	if err := checkLoopback(cfg.URL); err != nil {
		return err
	}
	if cfg.PublishURL != "" {
		return checkLoopback(cfg.PublishURL)
	}
	return nil
}

// checkLoopback refuses any target but this machine.
func checkLoopback(raw string) error {
	u := strings.TrimPrefix(strings.TrimPrefix(raw, "http://"), "https://")
	host := u
	if i := strings.IndexAny(u, ":/"); i >= 0 {
		host = u[:i]
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("bench talks to loopback only, not %q", host)
}

// publish sends one notification and records its latency.
func publish(ctx context.Context, c *http.Client, cfg *Config, body string, rec *recorder) (string, bool) {
	target := cfg.URL
	if cfg.PublishURL != "" {
		target = cfg.PublishURL
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", target+"/api/notifications", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	rec.sent.Add(1)
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			rec.fail(err)
		}
		return "", false
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		rec.fail(fmt.Errorf("publish: %d %s", resp.StatusCode, strings.TrimSpace(string(data))))
		return "", false
	}
	rec.latency(time.Since(start))
	rec.acked.Add(1)
	return string(data), true
}

// sentBody is a notification that carries its send time, for end-to-end latency.
func sentBody(recipient string) string {
	return fmt.Sprintf(`{%s,"type":"bench","title":"bench","data":{"sentNs":%d}}`, recipient, time.Now().UnixNano())
}

// openStream opens one SSE stream (a rawStream: one goroutine, no net/http) that
// counts the notifications it gets and records their latency from the embedded send
// time; ready is done once the server answered 200.
func openStream(ctx context.Context, url, token string, rec *recorder, ready *sync.WaitGroup) error {
	s, err := dialStream(ctx, url, token)
	if err != nil {
		return err
	}
	ready.Done()
	go func() {
		err := s.read(func(data []byte, now time.Time) int {
			return scanSent(data, func(ns int64) {
				rec.latency(now.Sub(time.Unix(0, ns)))
				rec.delivered.Add(1)
			})
		})
		// A stream that just ends (the run is over, or the server cut a slow
		// consumer off) is not an error; a response the reader cannot parse is.
		if err != nil && ctx.Err() == nil {
			rec.fail(err)
		}
	}()
	return nil
}

// proc reads a local process' RSS (KiB) and CPU time (seconds) from /proc.
func proc(pid int) (rssKiB int64, cpu float64) {
	if pid == 0 {
		return 0, 0
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+2:])
			if len(f) > 13 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				cpu = (ut + st) / 100 // clock ticks (USER_HZ = 100 on Linux)
			}
		}
	}
	return rssKiB, cpu
}

// Write writes res as indented JSON.
func Write(w io.Writer, res Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
