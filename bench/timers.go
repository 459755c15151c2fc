package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxTimers bounds one timers run (the bench keeps one entry per timer).
const MaxTimers = 1_000_000

// timersPerPublish is how many recipients one bulk publish of the timers scenario
// names (the server's own limit of userIds).
const timersPerPublish = 10_000

// timersDrain is how long the timers scenario waits after the due instant for the
// last timer before it gives up, and timersQuiet how long it listens after the
// last expected one for any repeat.
const (
	timersDrain = 10 * time.Minute
	timersQuiet = time.Second
)

// TimerResult is what the timers scenario measured.
type TimerResult struct {
	Timers int `json:"timers"`
	// Fired counts distinct notifications whose notification.deliver arrived;
	// Repeats the arrivals beyond the first of one notification.
	Fired   int64 `json:"fired"`
	Repeats int64 `json:"repeats"`
	// DueInMs is how far ahead of the publishing's start the timers were due;
	// PublishMs how long publishing them took.
	DueInMs   float64 `json:"dueInMs"`
	PublishMs float64 `json:"publishMs"`
	// LatenessMs: per fired timer, its arrival at the bench's endpoint minus its due
	// time (createdAt + delay). It includes the outbox: the fired timer queues a
	// webhook job, which a worker then sends.
	LatenessMs Latency `json:"latenessMs"`
	// LastFiredMs: from the common due instant to the last arrival.
	LastFiredMs float64 `json:"lastFiredMs"`
	// The server's RSS and goroutines before publishing, with every timer pending
	// (just before they are due), and after the last fired.
	RSSBeforeKiB      int64   `json:"rssBeforeKiB,omitempty"`
	RSSPendingKiB     int64   `json:"rssPendingKiB,omitempty"`
	RSSAfterKiB       int64   `json:"rssAfterKiB,omitempty"`
	RSSPerTimerBytes  float64 `json:"rssPerTimerBytes,omitempty"`
	GoroutinesBefore  int     `json:"goroutinesBefore,omitempty"`
	GoroutinesPending int     `json:"goroutinesPending,omitempty"`
	GoroutinesAfter   int     `json:"goroutinesAfter,omitempty"`
	// CPUPublishSeconds and CPUFireSeconds: the server's CPU time while publishing,
	// and from the due instant until the last arrival.
	CPUPublishSeconds float64 `json:"cpuPublishSeconds,omitempty"`
	CPUFireSeconds    float64 `json:"cpuFireSeconds,omitempty"`
}

// Timers: cfg.Timers notifications, each with one escalation timer (the webhook
// channel) due at one instant cfg.DueIn after the start, published in bulks of
// 10,000 userIds; the bench serves the webhook endpoint itself and times every
// notification.deliver that arrives. The server needs --webhook-allow-private.
func Timers(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	if cfg.Timers <= 0 || cfg.Timers > MaxTimers || cfg.DueIn <= 0 {
		return Result{}, fmt.Errorf("timers: want 1 to %d timers and a positive due-in", MaxTimers)
	}
	sink, err := newTimerSink(cfg.Timers)
	if err != nil {
		return Result{}, err
	}
	defer sink.close()
	c := client(1)
	epID, err := createWebhook(ctx, c, &cfg, sink.url)
	if err != nil {
		return Result{}, err
	}
	defer deleteWebhook(c, &cfg, epID)

	tr := TimerResult{Timers: cfg.Timers, DueInMs: ms(cfg.DueIn)}
	tr.RSSBeforeKiB, _ = proc(cfg.ServerPID)
	tr.GoroutinesBefore = goroutines(ctx, c, &cfg)
	_, cpu0 := proc(cfg.ServerPID)
	rec := &recorder{}
	start := time.Now()
	due := start.Add(cfg.DueIn).Truncate(time.Millisecond)
	run := rand.Uint32()
	err = bulks(ctx, cfg.Timers, func(i int) string { return fmt.Sprintf("timer-%d-%d", run, i) }, func(_ int, list []byte) error {
		// The delay is relative to the notification's createdAt, a moment after
		// now: the timers of one bulk are due within a few ms of the instant, and
		// each arrival is measured against its own createdAt + delay.
		delay := time.Until(due).Milliseconds()
		if delay < 0 {
			return fmt.Errorf("timers: publishing took longer than --due-in %s", cfg.DueIn)
		}
		body := fmt.Sprintf(`{"userIds":%s,"type":"bench","title":"timer","channels":{"webhook":"%dms"},"data":{"delayMs":%d}}`,
			list, delay, delay)
		if _, ok := publish(ctx, c, &cfg, body, rec); !ok {
			return fmt.Errorf("timers: publish failed: %v", rec.firstErr.Load())
		}
		return nil
	})
	if err != nil {
		return rec.result("timers", time.Since(start), 0), err
	}
	tr.PublishMs = ms(time.Since(start))
	_, cpu1 := proc(cfg.ServerPID)
	tr.CPUPublishSeconds = cpu1 - cpu0

	// Measure the pending state just before the instant (the store's writes of the
	// publishes have settled by then when due-in leaves room).
	if d := time.Until(due.Add(-500 * time.Millisecond)); d > 0 {
		sleep(ctx, d)
	}
	if sink.arrived.Load() > 0 {
		rec.fail(errors.New("a timer fired before its due time was measured"))
	}
	tr.RSSPendingKiB, _ = proc(cfg.ServerPID)
	tr.GoroutinesPending = goroutines(ctx, c, &cfg)
	if tr.RSSPendingKiB > 0 {
		tr.RSSPerTimerBytes = float64(tr.RSSPendingKiB-tr.RSSBeforeKiB) * 1024 / float64(cfg.Timers)
	}
	sleep(ctx, time.Until(due))
	_, cpu2 := proc(cfg.ServerPID)

	deadline := due.Add(timersDrain)
	for sink.distinct() < int64(cfg.Timers) && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 20*time.Millisecond)
	}
	last := sink.lastArrival()
	_, cpu3 := proc(cfg.ServerPID)
	sleep(ctx, timersQuiet) // any repeat arrives now
	tr.RSSAfterKiB, _ = proc(cfg.ServerPID)
	tr.GoroutinesAfter = goroutines(ctx, c, &cfg)
	tr.CPUFireSeconds = cpu3 - cpu2
	tr.Fired, tr.Repeats = sink.distinct(), sink.repeats()
	tr.LatenessMs = summarise(sink.lateness())
	if !last.IsZero() {
		tr.LastFiredMs = ms(last.Sub(due))
	}
	if e := sink.bad.Load(); e > 0 {
		rec.fail(fmt.Errorf("%d webhook requests the bench could not read: %v", e, sink.firstBad.Load()))
	}
	res := rec.result("timers", time.Since(start), tr.Fired)
	res.Delivered, res.Expected = tr.Fired, int64(cfg.Timers)
	res.LatencyMs = tr.LatenessMs
	res.ServerRSSKiB = tr.RSSAfterKiB
	res.Timers = &tr
	if tr.Fired < int64(cfg.Timers) {
		return res, fmt.Errorf("timers: %d of %d fired within %s of their due time", tr.Fired, cfg.Timers, timersDrain)
	}
	return res, nil
}

// bulks calls publish with the JSON list of each run of up to timersPerPublish
// (the server's limit of userIds) of the n recipients user names, b counting the
// bulks from 0; it stops at the first error.
func bulks(ctx context.Context, n int, user func(i int) string, publish func(b int, list []byte) error) error {
	for b, first := 0, 0; first < n; b, first = b+1, first+timersPerPublish {
		if err := ctx.Err(); err != nil {
			return err
		}
		ids := make([]string, min(timersPerPublish, n-first))
		for i := range ids {
			ids[i] = user(first + i)
		}
		list, _ := json.Marshal(ids)
		if err := publish(b, list); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// timerSink is the bench's webhook endpoint: it timestamps each notification.deliver
// on arrival and keeps, per notification, how many times it came.
type timerSink struct {
	url string
	srv *http.Server
	ln  net.Listener

	arrived  atomic.Int64
	bad      atomic.Int64
	firstBad atomic.Value

	mu    sync.Mutex
	seen  map[string]int
	late  []time.Duration
	last  time.Time
	limit int
}

func newTimerSink(timers int) (*timerSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &timerSink{ln: ln, url: "http://" + ln.Addr().String() + "/hook", seen: make(map[string]int, timers), limit: timers}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *timerSink) close() { s.srv.Close() }

// deliverMsg is the part of a notification.deliver body the sink reads.
type deliverMsg struct {
	Type string `json:"type"`
	Data struct {
		Notification struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"createdAt"`
			Data      struct {
				DelayMs int64 `json:"delayMs"`
			} `json:"data"`
		} `json:"notification"`
	} `json:"data"`
}

func (s *timerSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	s.arrived.Add(1)
	var m deliverMsg
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m)
	if err == nil && (m.Type != "notification.deliver" || m.Data.Notification.ID == "") {
		err = fmt.Errorf("unexpected message %q", m.Type)
	}
	if err != nil {
		s.bad.Add(1)
		s.firstBad.CompareAndSwap(nil, err.Error())
		w.WriteHeader(http.StatusNoContent) // not retried: the error is counted
		return
	}
	n := &m.Data.Notification
	dueAt := n.CreatedAt.Add(time.Duration(n.Data.DelayMs) * time.Millisecond)
	s.mu.Lock()
	if s.seen[n.ID]++; s.seen[n.ID] == 1 && len(s.late) < s.limit {
		s.late = append(s.late, at.Sub(dueAt))
	}
	if at.After(s.last) {
		s.last = at
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *timerSink) distinct() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.seen))
}

func (s *timerSink) repeats() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r int64
	for _, c := range s.seen {
		r += int64(c - 1)
	}
	return r
}

func (s *timerSink) lateness() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.late...)
}

func (s *timerSink) lastArrival() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// createWebhook registers url for notification.deliver and returns its id.
func createWebhook(ctx context.Context, c *http.Client, cfg *Config, url string) (string, error) {
	req, _ := newJSONRequest(ctx, cfg, "/api/webhooks", fmt.Sprintf(`{"url":%q,"events":["notification.deliver"]}`, url))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create webhook (the server needs --webhook-allow-private): %s %v", resp.Status, err)
	}
	return out.ID, nil
}

func deleteWebhook(c *http.Client, cfg *Config, id string) {
	req, _ := http.NewRequest("DELETE", cfg.URL+"/api/webhooks/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
}

// goroutines reads go_goroutines from the server's /metrics; 0 when it is not
// served.
func goroutines(ctx context.Context, c *http.Client, cfg *Config) int {
	req, _ := http.NewRequestWithContext(ctx, "GET", cfg.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n)
		}
	}
	return 0
}
