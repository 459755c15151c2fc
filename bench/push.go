package bench

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxPushes bounds one push run (the bench keeps one entry per push).
const MaxPushes = 100_000

// pushDrain is how long the push scenario waits after the last publish for the
// last push; pushSubscribers how many subscriptions are created at once.
const (
	pushDrain       = 5 * time.Minute
	pushSubscribers = 16
)

// PushResult is what the push scenario measured.
type PushResult struct {
	Pushes int `json:"pushes"`
	// Arrived counts distinct subscriptions that got their push; Repeats the
	// arrivals beyond the first; BadRequests the pushes without aes128gcm or a
	// vapid Authorization.
	Arrived     int64 `json:"arrived"`
	Repeats     int64 `json:"repeats"`
	BadRequests int64 `json:"badRequests"`
	// SubscribeMs: creating the subscriptions; PublishMs: the bulk publishes.
	SubscribeMs float64 `json:"subscribeMs"`
	PublishMs   float64 `json:"publishMs"`
	// PushesPerSecond: from the first publish sent to the last push arrived.
	PushesPerSecond float64 `json:"pushesPerSecond"`
	// CPUSecondsPer1k: the server's CPU from the first publish to the last push,
	// per 1,000 pushes (publishing included).
	CPUSecondsPer1k float64 `json:"cpuSecondsPer1k,omitempty"`
	// EarlyArrivals: pushes that arrived before their publish was acknowledged
	// (the engine fires a 0s channel as soon as the notification commits); their
	// latency counts as 0.
	EarlyArrivals int64 `json:"earlyArrivals"`
}

// Push: cfg.Pushes users, one Web Push subscription each whose endpoint is the
// bench's own loopback push service (a distinct path per subscription), then
// publishes to them in bulks of 10,000 userIds with "channels": {"push": "0s"}
// and times every push that arrives. The server needs --push-allow-insecure.
// The bench does not decrypt: it checks the aes128gcm and vapid headers and
// counts (e2e TestWebPush proves the content).
func Push(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	if cfg.Pushes <= 0 || cfg.Pushes > MaxPushes || cfg.Token == nil {
		return Result{}, fmt.Errorf("push: want 1 to %d pushes and a JWT secret", MaxPushes)
	}
	sink, err := newPushSink(cfg.Pushes)
	if err != nil {
		return Result{}, err
	}
	defer sink.close()
	run := mrand.Uint32()
	user := func(i int) string { return fmt.Sprintf("push-%d-%d", run, i) }
	pr := PushResult{Pushes: cfg.Pushes}
	rec := &recorder{}

	t0 := time.Now()
	if err := subscribeAll(ctx, &cfg, sink, user); err != nil {
		return rec.result("push", 0, 0), err
	}
	pr.SubscribeMs = ms(time.Since(t0))

	c := client(1)
	_, cpu0 := proc(cfg.ServerPID)
	start := time.Now()
	acks := make([]time.Time, (cfg.Pushes+timersPerPublish-1)/timersPerPublish)
	err = bulks(ctx, cfg.Pushes, user, func(b int, list []byte) error {
		body := fmt.Sprintf(`{"userIds":%s,"type":"bench","title":"push","channels":{"push":"0s"}}`, list)
		if _, ok := publish(ctx, c, &cfg, body, rec); !ok {
			return fmt.Errorf("push: publish failed: %v", rec.firstErr.Load())
		}
		acks[b] = time.Now()
		return nil
	})
	if err != nil {
		return rec.result("push", time.Since(start), 0), err
	}
	pr.PublishMs = ms(time.Since(start))

	deadline := time.Now().Add(pushDrain)
	for sink.distinct.Load() < int64(cfg.Pushes) && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 10*time.Millisecond)
	}
	_, cpu1 := proc(cfg.ServerPID)
	sleep(ctx, timersQuiet) // any repeat arrives now

	arrivals, last := sink.snapshot()
	lat := make([]time.Duration, 0, len(arrivals))
	for i, at := range arrivals {
		if at.IsZero() {
			continue
		}
		d := at.Sub(acks[i/timersPerPublish])
		if d < 0 {
			pr.EarlyArrivals++
			d = 0
		}
		lat = append(lat, d)
	}
	pr.Arrived, pr.Repeats, pr.BadRequests = sink.distinct.Load(), sink.repeats.Load(), sink.bad.Load()
	elapsed := last.Sub(start)
	if last.IsZero() {
		elapsed = time.Since(start)
	}
	if elapsed > 0 {
		pr.PushesPerSecond = float64(pr.Arrived) / elapsed.Seconds()
	}
	if cfg.ServerPID != 0 && pr.Arrived > 0 {
		pr.CPUSecondsPer1k = (cpu1 - cpu0) / float64(pr.Arrived) * 1000
	}
	if pr.BadRequests > 0 {
		rec.fail(fmt.Errorf("%d pushes without aes128gcm or vapid: %v", pr.BadRequests, sink.firstBad.Load()))
	}
	res := rec.result("push", elapsed, pr.Arrived)
	res.Delivered, res.Expected = pr.Arrived, int64(cfg.Pushes)
	res.LatencyMs = summarise(lat)
	res.ServerRSSKiB, _ = proc(cfg.ServerPID)
	res.Push = &pr
	if pr.Arrived < int64(cfg.Pushes) {
		return res, fmt.Errorf("push: %d of %d arrived within %s", pr.Arrived, cfg.Pushes, pushDrain)
	}
	return res, nil
}

// subscribeAll creates one subscription per user, pushSubscribers at a time, each
// with its own endpoint path; one key pair and auth secret serve them all (the
// bench does not decrypt).
func subscribeAll(ctx context.Context, cfg *Config, sink *pushSink, user func(int) string) error {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	keys := fmt.Sprintf(`{"p256dh":%q,"auth":%q}`, base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		base64.RawURLEncoding.EncodeToString(auth))
	c := client(pushSubscribers)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range pushSubscribers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && firstErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= sink.limit {
					return
				}
				if err := subscribe(ctx, c, cfg, user(i), fmt.Sprintf(`{"endpoint":"%s/p/%d","keys":%s}`, sink.url, i, keys)); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return fmt.Errorf("push: subscribe (the server needs --push-allow-insecure): %w", err)
	}
	return ctx.Err()
}

func subscribe(ctx context.Context, c *http.Client, cfg *Config, user, body string) error {
	tok, err := cfg.Token(user)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", cfg.URL+"/api/push/subscriptions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return nil
}

// pushSink is the bench's push service: /p/<i> is subscription i. It timestamps
// each subscription's first push, counts repeats, and answers 201 Created.
type pushSink struct {
	url   string
	srv   *http.Server
	limit int

	distinct atomic.Int64
	repeats  atomic.Int64
	bad      atomic.Int64
	firstBad atomic.Value

	mu    sync.Mutex
	first []time.Time
	last  time.Time
}

func newPushSink(n int) (*pushSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &pushSink{url: "http://" + ln.Addr().String(), limit: n, first: make([]time.Time, n)}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *pushSink) close() { s.srv.Close() }

func (s *pushSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	io.Copy(io.Discard, io.LimitReader(r.Body, 8192))
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
	if err != nil || i < 0 || i >= s.limit {
		s.badRequest(fmt.Sprintf("unknown endpoint %q", r.URL.Path))
		http.NotFound(w, r) // 404: the server drops the subscription, and it counts
		return
	}
	if ce, a := r.Header.Get("Content-Encoding"), r.Header.Get("Authorization"); ce != "aes128gcm" || !strings.HasPrefix(a, "vapid t=") {
		s.badRequest(fmt.Sprintf("Content-Encoding %q, Authorization %.20q", ce, a))
	}
	s.mu.Lock()
	if s.first[i].IsZero() {
		s.first[i] = at
		s.distinct.Add(1)
	} else {
		s.repeats.Add(1)
	}
	if at.After(s.last) {
		s.last = at
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func (s *pushSink) badRequest(msg string) {
	s.bad.Add(1)
	s.firstBad.CompareAndSwap(nil, msg)
}

// snapshot returns each subscription's first arrival (zero: none) and the last.
func (s *pushSink) snapshot() ([]time.Time, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.first...), s.last
}
