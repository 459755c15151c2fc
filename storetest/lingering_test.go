package storetest

import (
	"testing"
	"time"
)

// lingerer stands for a store whose Close forgot a goroutine.
type lingerer struct{ stop chan struct{} }

func (l *lingerer) start() { go func() { <-l.stop }() }

func TestLingeringSeesAGoroutineOfTheStoresPackage(t *testing.T) {
	l := &lingerer{stop: make(chan struct{})}
	l.start()
	if gs := Lingering(l, 10*time.Millisecond); len(gs) != 1 {
		t.Fatalf("Lingering found %d goroutines, want the one left running", len(gs))
	}
	close(l.stop)
	deadline := time.Now().Add(5 * time.Second)
	for len(Lingering(l, 10*time.Millisecond)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Lingering still finds the goroutine once it ended")
		}
		time.Sleep(time.Millisecond)
	}
}
