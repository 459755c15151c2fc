package httpapi

import (
	"testing"
	"time"
)

func TestKeyedLimiter(t *testing.T) {
	if newKeyedLimiter(0) != nil {
		t.Fatal("rate 0 must mean no limiter")
	}
	var none *keyedLimiter
	if ok, _ := none.allow("k", time.Now()); !ok {
		t.Fatal("a nil limiter must allow everything")
	}
	l := newKeyedLimiter(2) // burst 4
	t0 := time.Unix(1000, 0)
	for i := range 4 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("call %d within the burst refused", i)
		}
	}
	ok, wait := l.allow("a", t0)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("past the burst: ok=%v wait=%v, want refused with a wait of at most 500ms", ok, wait)
	}
	if ok, _ := l.allow("b", t0); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("a refilled token was refused")
	}
	// Idle buckets are swept.
	for i := range sweepEvery {
		l.allow("a", t0.Add(time.Hour+time.Duration(i)))
	}
	l.mu.Lock()
	_, kept := l.buckets["b"]
	l.mu.Unlock()
	if kept {
		t.Fatal("an idle bucket survived the sweep")
	}
}
