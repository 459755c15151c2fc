package sqlite

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

// A caller whose ctx ends while its publish waits for the writer is told the truth:
// a publish reported failed left nothing, and one that committed is reported stored
// (so the hub announces its events: a committed event that is never announced
// reaches live streams only when a later event reveals the gap).
func TestCallerThatGivesUpIsToldTheTruth(t *testing.T) {
	s := openTest(t)
	const callers, users = 96, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[string]string{} // id → title of each publish reported stored
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := time.Now()
			n := note(fmt.Sprintf("u%d", i%users), now)
			n.Title = fmt.Sprintf("title %d", i)
			if i%3 == 1 {
				n.GroupKey = fmt.Sprintf("g%d", i) // not merged: run by its own fn
			}
			req := &tocsin.PublishRequest{Notifications: []tocsin.Notification{n, note("shared", now)}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%16)*500*time.Microsecond)
			defer cancel()
			res, err := s.Publish(ctx, req)
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
		user := fmt.Sprintf("u%d", u)
		if u == users {
			user = "shared"
		}
		evs, err := s.Events(context.Background(), tocsin.UserStream(user), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
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
