package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/sse"
)

// follower reads one user's stream and remembers the positions of the notification
// events it got, to check a resume lost and repeated nothing.
type follower struct {
	user, token string

	mu   sync.Mutex
	last string   // the last event id seen (resume point)
	seqs []uint64 // positions of notification events, in arrival order
	got  chan struct{}
}

// run reads the stream once (from f.last) until ctx ends or the connection does; it
// signals ready when the response has started. It reads a rawStream (raw.go), whole
// frames at a time, so it can follow ids exactly.
func (f *follower) run(ctx context.Context, url string, ready func()) error {
	var extra []string
	f.mu.Lock()
	if f.last != "" {
		extra = append(extra, "Last-Event-ID: "+f.last)
	}
	f.mu.Unlock()
	s, err := dialStream(ctx, url, f.token, extra...)
	if err != nil {
		return err
	}
	ready()
	return s.read(func(data []byte, _ time.Time) int {
		return scanFrames(data, f.frame)
	})
}

// frame takes one SSE frame (without its blank line): a notification event's id is
// its stream position.
func (f *follower) frame(b []byte) {
	ev, err := sse.NewDecoder(io.MultiReader(bytes.NewReader(b), strings.NewReader("\n\n"))).Next()
	if err != nil || ev.ID == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = ev.ID
	if ev.Name == "notification" {
		if id, err := tocsin.ParseEventID(ev.ID); err == nil {
			f.seqs = append(f.seqs, id.Seq)
		}
		select {
		case f.got <- struct{}{}:
		default:
		}
	}
}

// Storm: cfg.Streams users each streaming; every connection is dropped at once,
// cfg.Rate×cfg.Duration notifications are published while they are away, and all of
// them reconnect at once with Last-Event-ID. It reports how long until every stream
// was back and caught up, and checks that no stream lost or repeated an event.
func Storm(ctx context.Context, cfg Config) (Result, error) {
	if err := checkTargets(cfg); err != nil {
		return Result{}, err
	}
	run := rand.Uint32()
	url := cfg.URL + "/api/notifications/stream"
	fs := make([]*follower, cfg.Streams)
	for i := range fs {
		tok, err := cfg.Token(fmt.Sprintf("storm-%d-%d", run, i))
		if err != nil {
			return Result{}, err
		}
		fs[i] = &follower{user: fmt.Sprintf("storm-%d-%d", run, i), token: tok, got: make(chan struct{}, 1)}
	}
	rec := &recorder{}
	connect := func(ctx context.Context) time.Duration {
		start := time.Now()
		var ready sync.WaitGroup
		ready.Add(len(fs))
		sem := make(chan struct{}, 256)
		for _, f := range fs {
			go func() {
				sem <- struct{}{}
				once := sync.OnceFunc(func() { <-sem; ready.Done() })
				if err := f.run(ctx, url, once); err != nil && ctx.Err() == nil {
					rec.fail(err)
				}
				once()
			}()
		}
		ready.Wait()
		return time.Since(start)
	}
	ctx1, drop := context.WithCancel(ctx)
	connect(ctx1)
	drop() // every connection at once
	time.Sleep(200 * time.Millisecond)

	// Publish while everyone is away.
	n := int(cfg.Rate * cfg.Duration.Seconds())
	expected := make([]int, len(fs))
	pc := client(cfg.Publishers)
	pub := &recorder{}
	var wg sync.WaitGroup
	jobs := make(chan int, 256)
	for range max(cfg.Publishers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				publish(ctx, pc, &cfg, sentBody(`"userId":"`+fs[i].user+`"`), pub)
			}
		}()
	}
	for range n {
		i := rand.IntN(len(fs))
		expected[i]++
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	// Everyone comes back at once.
	ctx2, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	reconnected := connect(ctx2)
	var total int64
	for i := range fs {
		total += int64(expected[i])
	}
	deadline := time.Now().Add(30 * time.Second)
	var delivered int64
	for {
		delivered = 0
		for _, f := range fs {
			f.mu.Lock()
			delivered += int64(len(f.seqs))
			f.mu.Unlock()
		}
		if delivered >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	caughtUp := time.Since(start)
	res := rec.result("reconnect-storm", caughtUp, int64(len(fs)))
	res.Streams, res.Sent, res.Acked, res.Delivered, res.Expected = len(fs), pub.sent.Load(), pub.acked.Load(), delivered, total
	res.Errors += pub.errors.Load()
	res.AllConnectedMs = float64(reconnected.Microseconds()) / 1000
	res.AllCaughtUpMs = float64(caughtUp.Microseconds()) / 1000
	for i, f := range fs {
		f.mu.Lock()
		for k := 1; k < len(f.seqs); k++ {
			if f.seqs[k] != f.seqs[k-1]+1 {
				res.Errors++
				rec.fail(fmt.Errorf("stream %d: position %d after %d: a gap or a repeat", i, f.seqs[k], f.seqs[k-1]))
			}
		}
		if len(f.seqs) != expected[i] {
			res.Errors++
			rec.fail(fmt.Errorf("stream %d: %d events, want %d", i, len(f.seqs), expected[i]))
		}
		f.mu.Unlock()
	}
	if e, ok := rec.firstErr.Load().(string); ok {
		res.FirstError = e
	}
	return res, nil
}
