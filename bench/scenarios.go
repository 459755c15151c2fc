package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Scenarios are the loads tocsin bench runs, by name.
var Scenarios = map[string]func(ctx context.Context, cfg Config) (Result, error){
	"publish":   Publish,
	"bulk":      Bulk,
	"idle":      Idle,
	"broadcast": Broadcast,
	"per-user":  PerUser,
	// reconnect-storm: every stream dropped and resumed at once.
	"reconnect-storm": Storm,
	// timers: pending escalation timers, their memory and how late they fire.
	"timers": Timers,
	// push: Web Push to a local push service, throughput and CPU per push.
	"push": Push,
}

// Publish: cfg.Publishers concurrent publishers, each to its own users, for
// cfg.Duration; every acknowledgement is a durable notification.
func Publish(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	c := client(cfg.Publishers)
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	_, cpu0 := proc(cfg.ServerPID)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range cfg.Publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				publish(ctx, c, &cfg, sentBody(fmt.Sprintf(`"userId":"bench-%d-%d"`, p, i%100)), rec)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := rec.result("publish", elapsed, rec.acked.Load())
	res.cpu(cfg.ServerPID, cpu0, rec.acked.Load())
	return res, nil
}

// cpu fills CPUSecondsPer10k from the server's CPU time since cpu0.
func (r *Result) cpu(pid int, cpu0 float64, count int64) {
	if pid == 0 || count == 0 {
		return
	}
	rss, cpu1 := proc(pid)
	r.ServerRSSKiB = rss
	r.CPUSecondsPer10k = (cpu1 - cpu0) / float64(count) * 10000
}

// Bulk: one publish to cfg.UserIDs recipients.
func Bulk(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	ids := make([]string, cfg.UserIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("bulk-%d", i)
	}
	list, _ := json.Marshal(ids)
	rec := &recorder{}
	start := time.Now()
	publish(ctx, client(1), &cfg, sentBody(`"userIds":`+string(list)), rec)
	res := rec.result("bulk", time.Since(start), int64(cfg.UserIDs)*rec.acked.Load())
	return res, nil
}

// openStreams opens n streams, the i-th on url(i) with token(i), and waits until all
// answered 200.
func openStreams(ctx context.Context, cfg *Config, n int, url func(i int) string, user func(i int) string, rec *recorder) error {
	var ready sync.WaitGroup
	ready.Add(n)
	sem := make(chan struct{}, 64) // open at most 64 at once
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			tok := ""
			if user != nil {
				var err error
				if tok, err = cfg.Token(user(i)); err != nil {
					errs <- err
					ready.Done()
					return
				}
			}
			if err := openStream(ctx, url(i), tok, rec, &ready); err != nil {
				errs <- err
				ready.Done()
			}
		}()
	}
	ready.Wait()
	close(errs)
	for err := range errs {
		rec.fail(err)
	}
	if e := rec.errors.Load(); e > 0 {
		return fmt.Errorf("%d of %d streams failed to open: %v", e, n, rec.firstErr.Load())
	}
	return nil
}

// Idle: cfg.Streams user streams held open, then the server's RSS growth per stream.
func Idle(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	rss0, _ := proc(cfg.ServerPID)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	err := openStreams(ctx, &cfg, cfg.Streams,
		func(int) string { return cfg.URL + "/api/notifications/stream" },
		func(i int) string { return fmt.Sprintf("idle-%d", i) }, rec)
	opened := time.Since(start)
	select {
	case <-time.After(cfg.Hold):
	case <-ctx.Done():
	}
	res := rec.result("idle", opened, int64(cfg.Streams))
	res.Streams = cfg.Streams
	if rss1, _ := proc(cfg.ServerPID); rss1 > 0 {
		res.ServerRSSKiB = rss1
		res.RSSPerStreamKiB = float64(rss1-rss0) / float64(cfg.Streams)
	}
	return res, err
}

// Broadcast: cfg.Streams subscribers of one topic's capability URL, cfg.Rate
// publishes per second to the topic for cfg.Duration.
func Broadcast(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	topic := fmt.Sprintf("bench-%d", rand.Uint32())
	tok, err := mintToken(ctx, &cfg, "topic:"+topic)
	if err != nil {
		return Result{}, err
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := openStreams(ctx, &cfg, cfg.Streams, func(int) string { return cfg.URL + "/api/stream/" + tok }, nil, rec); err != nil {
		return Result{}, err
	}
	pub := &recorder{}
	sent, elapsed, cpu := paced(ctx, &cfg, pub, func(int) string { return sentBody(`"topic":"` + topic + `"`) })
	return drain(rec, pub, "broadcast", cfg, sent*int64(cfg.Streams), elapsed, cpu), nil
}

// PerUser: cfg.Streams users each with their own stream; cfg.Rate publishes per
// second, each to a random one of them, for cfg.Duration.
func PerUser(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	run := rand.Uint32()
	user := func(i int) string { return fmt.Sprintf("pu-%d-%d", run, i) }
	rec := &recorder{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := openStreams(ctx, &cfg, cfg.Streams, func(int) string { return cfg.URL + "/api/notifications/stream" }, user, rec); err != nil {
		return Result{}, err
	}
	pub := &recorder{}
	sent, elapsed, cpu := paced(ctx, &cfg, pub, func(i int) string {
		return sentBody(`"userId":"` + user(rand.IntN(cfg.Streams)) + `"`)
	})
	return drain(rec, pub, "per-user", cfg, sent, elapsed, cpu), nil
}

// paced publishes body(i) at cfg.Rate per second for cfg.Duration from
// cfg.Publishers workers, and returns how many were acknowledged, how long it took
// and the server's CPU time at the start.
func paced(ctx context.Context, cfg *Config, rec *recorder, body func(i int) string) (int64, time.Duration, float64) {
	c := client(cfg.Publishers)
	n := int(cfg.Rate * cfg.Duration.Seconds())
	jobs := make(chan int, 1024)
	var wg sync.WaitGroup
	for range max(cfg.Publishers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				publish(ctx, c, cfg, body(i), rec)
			}
		}()
	}
	_, cpu0 := proc(cfg.ServerPID)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return rec.acked.Load(), time.Since(start), cpu0
}

// drain waits (at most 10s) for the expected deliveries and builds the result.
func drain(rec, pub *recorder, name string, cfg Config, expected int64, elapsed time.Duration, cpu0 float64) Result {
	deadline := time.Now().Add(10 * time.Second)
	for rec.delivered.Load() < expected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	res := rec.result(name, elapsed, rec.delivered.Load())
	res.Streams, res.Expected = cfg.Streams, expected
	res.Sent, res.Acked = pub.sent.Load(), pub.acked.Load()
	pl := pub.result("", elapsed, 0).LatencyMs
	res.PublishLatencyMs = &pl
	res.Errors += pub.errors.Load()
	if e, ok := pub.firstErr.Load().(string); ok && res.FirstError == "" {
		res.FirstError = e
	}
	res.cpu(cfg.ServerPID, cpu0, res.Delivered)
	return res
}

// mintToken makes a subscribe token for stream.
func mintToken(ctx context.Context, cfg *Config, stream string) (string, error) {
	req, _ := newJSONRequest(ctx, cfg, "/api/tokens", fmt.Sprintf(`{"stream":%q,"scope":"subscribe"}`, stream))
	resp, err := client(1).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("mint token: %s %v", resp.Status, err)
	}
	return out.Token, nil
}

func newJSONRequest(ctx context.Context, cfg *Config, path, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", cfg.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
