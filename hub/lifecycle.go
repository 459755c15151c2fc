package hub

import (
	"context"
	"sync"
	"sync/atomic"
)

// The hub's lifecycle: New, Start, Shutdown, Close.
//
// Start begins housekeeping (maintain.go) and the head check (heads.go); the first stream handed to the workers
// (Go) starts the run queue's workers and the sweep (runq.go), the first stream run
// by Live or with an expiring credential the sweep. Every one of those goroutines is started through spawn,
// counted in one WaitGroup, and ends when the hub's quit channel is closed (the
// workers once the run queue is also empty of streams, see runQueue.work).
//
// Shutdown refuses new streams and kicks the open ones (ErrShutdown); it returns at
// once. Close does that too, then closes quit and waits for every goroutine the hub
// started; after it returns the hub touches neither the store nor the bus, so the
// caller may close them. Streams run on the caller's goroutines (Serve, Live) are
// the caller's to wait for; streams handed to the workers (Go) end there before
// Close returns (their done runs there).
type lifecycle struct {
	mu       sync.Mutex
	isClosed bool // Close began: spawn starts nothing more
	wg       sync.WaitGroup
	quit     chan struct{} // closed by Close

	// bg is housekeeping's context, cancelled at Shutdown: its store calls end then.
	bg     context.Context
	stopBG context.CancelFunc

	driving, sweeping bool // the workers, the sweep were started (guarded by mu)
	// The same, read without the lock on every stream's start.
	drivingFast, sweepingFast atomic.Bool
	closeOnce                 sync.Once
}

func (l *lifecycle) init() {
	l.quit = make(chan struct{})
	l.bg, l.stopBG = context.WithCancel(context.Background())
}

// spawn runs f on a goroutine that Close waits for, unless Close has begun; it
// reports whether f was started.
func (h *Hub) spawn(f func()) bool {
	l := &h.life
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isClosed {
		return false
	}
	l.wg.Go(f)
	return true
}

// spawnOnce is spawn for a goroutine the hub needs at most one set of: *started
// (guarded by life.mu) records it. It reports whether the goroutines run (now or
// from before); false once Close has begun.
func (h *Hub) spawnOnce(started *bool, fs ...func()) bool {
	l := &h.life
	l.mu.Lock()
	defer l.mu.Unlock()
	if *started {
		return true
	}
	if l.isClosed {
		return false
	}
	*started = true
	for _, f := range fs {
		l.wg.Go(f)
	}
	return true
}

func (l *lifecycle) stopHousekeeping() { l.stopBG() }

// closed reports whether Close has begun.
func (l *lifecycle) closed() bool {
	select {
	case <-l.quit:
		return true
	default:
		return false
	}
}

// Close shuts the hub down (Shutdown) and waits for every goroutine it started:
// housekeeping, the sweep, and the workers, which first finish the streams handed
// to them still open (kicked by Shutdown, each ends on its next step). Calls after the
// first wait the same way and return.
func (h *Hub) Close() {
	h.Shutdown()
	l := &h.life
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.isClosed = true
		l.mu.Unlock()
		close(l.quit)
		h.runq.close()
	})
	l.wg.Wait()
}
