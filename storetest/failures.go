package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tocsin/tocsin"
)

// testConcurrentBad: among concurrent publishes, which a store may commit together,
// the ones that cannot be stored (an id already taken) fail alone; the others are
// stored, each caller told its own events, the streams gap-free.
func testConcurrentBad(t *testing.T, s tocsin.Store) {
	taken := publish(t, s, notification("bad0")).Notifications[0].ID
	const writers, each = 16, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	told := map[tocsin.StreamID]map[uint64]string{} // stream → seq → notification id
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				users := []string{"bad0", fmt.Sprint("bad", 1+w%3)}
				ns := []tocsin.Notification{notification(users[i%2])}
				bad := (w+i)%5 == 0
				if bad {
					ns[0].ID = taken
				}
				res, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: ns})
				if bad {
					if err == nil {
						t.Errorf("a publish reusing id %s succeeded", taken)
					}
					continue
				}
				if err != nil {
					t.Errorf("a good publish failed beside bad ones: %v", err)
					return
				}
				ev := res.Events[0]
				if got := mustID(t, ev); got != ns[0].ID || res.Notifications[0].ID != ns[0].ID {
					t.Errorf("publish of %s was told about %s", ns[0].ID, got)
				}
				mu.Lock()
				if told[ev.Stream] == nil {
					told[ev.Stream] = map[uint64]string{}
				}
				if _, dup := told[ev.Stream][ev.Seq]; dup {
					t.Errorf("%s/%d told twice", ev.Stream, ev.Seq)
				}
				told[ev.Stream][ev.Seq] = ns[0].ID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for stream, bySeq := range told {
		evs := events(t, s, stream, 0)
		first := uint64(1)
		if stream == tocsin.UserStream("bad0") {
			first = 2 // after the publish whose id the bad ones reuse
		}
		if len(evs) != len(bySeq)+int(first)-1 {
			t.Fatalf("%s: %d events stored, %d told", stream, len(evs), len(bySeq))
		}
		for i, ev := range evs {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("%s: a gap at %d", stream, i+1)
			}
			if ev.Seq >= first && mustID(t, ev) != bySeq[ev.Seq] {
				t.Fatalf("%s/%d holds %s, its publisher was told %s", stream, ev.Seq, mustID(t, ev), bySeq[ev.Seq])
			}
		}
	}
}
