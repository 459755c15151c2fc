package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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

// testCallerThatGivesUp: a publish whose ctx ends at any point (queued, taken by
// the writer, committing) returns with the store done with its request, so the
// caller may reuse it at once (under -race this caught writers still reading it).
// And the caller is told the truth: what reports success is stored as asked, what
// failed left nothing. A publish that committed but reported failure would never be
// announced on the bus: live streams would see it only when a later event revealed
// the gap.
func testCallerThatGivesUp(t *testing.T, s tocsin.Store) {
	const callers, users = 96, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[string]string{} // id → title of each publish reported stored
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := notification(fmt.Sprintf("giveup%d", i%users), func(n *tocsin.Notification) {
				n.Title = fmt.Sprintf("title %d", i)
				switch i % 3 {
				case 1:
					n.GroupKey = fmt.Sprintf("g%d", i) // not merged with the others
				case 2:
					n.Tags = nil // normalised by the store
				}
			})
			req := &tocsin.PublishRequest{Notifications: []tocsin.Notification{n, notification("giveup-shared")}}
			cctx, cancel := context.WithTimeout(ctx, time.Duration(i%16)*time.Millisecond)
			defer cancel()
			res, err := s.Publish(cctx, req)
			switch {
			case err == nil:
				mu.Lock()
				for _, n := range res.Notifications {
					stored[n.ID] = n.Title
				}
				mu.Unlock()
			case errors.Is(err, context.DeadlineExceeded) || tocsin.ErrorCodeOf(err) == tocsin.EUnavailable:
			default:
				t.Errorf("publish %d: %v", i, err)
			}
			for k := range req.Notifications { // the caller reuses its request at once
				req.Notifications[k] = tocsin.Notification{Title: "reused"}
			}
		}()
	}
	wg.Wait()
	found := map[string]string{}
	for u := range users + 1 {
		user := fmt.Sprintf("giveup%d", u)
		if u == users {
			user = "giveup-shared"
		}
		for k, ev := range events(t, s, tocsin.UserStream(user), 0) {
			if ev.Seq != uint64(k+1) {
				t.Fatalf("%s: event %d has seq %d", user, k+1, ev.Seq)
			}
			var n tocsin.Notification
			if err := json.Unmarshal(ev.Data, &n); err != nil {
				t.Fatal(err)
			}
			found[n.ID] = n.Title
		}
	}
	for id, title := range stored {
		if found[id] != title {
			t.Errorf("notification %s reported stored with title %q, stored %q", id, title, found[id])
		}
	}
	for id := range found {
		if _, ok := stored[id]; !ok {
			t.Errorf("notification %s is stored, but its publish failed", id)
		}
	}
	t.Logf("%d of %d publishes reported stored", len(stored)/2, callers)
}
