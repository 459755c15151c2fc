package httpapi

import (
	"context"
	"sync"
)

// streamSet counts the streams a Server runs outside net/http's handlers (taken-over
// SSE connections, WebSockets) and the goroutines they start, so that Close can wait
// for them. Unlike a sync.WaitGroup it may gain a stream while Close waits (a handler
// that was past its checks when shutdown began): Close then waits for that one too.
type streamSet struct {
	mu      sync.Mutex
	n       int
	waiters []chan struct{} // closed when n drops to 0
}

func (t *streamSet) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *streamSet) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 {
		for _, w := range t.waiters {
			close(w)
		}
		t.waiters = nil
	}
	t.mu.Unlock()
}

// goCounted runs f on a goroutine counted in t.
func (t *streamSet) goCounted(f func()) {
	t.add()
	go func() {
		defer t.done()
		f()
	}()
}

// wait returns once no stream is counted, or with ctx's error.
func (t *streamSet) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	t.waiters = append(t.waiters, w)
	t.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// open reports how many streams are counted.
func (t *streamSet) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}
