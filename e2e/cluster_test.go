package e2e

import (
	"context"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/internal/testenv"
)

// streamReader follows one user's stream on one node and records what it gets.
type streamReader struct {
	t      *testing.T
	user   string
	events chan collected
	ended  chan error
	cancel context.CancelFunc
}

func follow(t *testing.T, url, user, lastID string) *streamReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamReader{t: t, user: user, events: make(chan collected, 4096), cancel: cancel}
	r.ended = readStream(ctx, t, url, userToken(t, user), lastID, r.events)
	t.Cleanup(cancel)
	return r
}

// expectNotifications reads until it has seen ids, in order, as notification events
// with consecutive positions after lastID ("" to start from the first one read); it
// returns the id of the last one. Anything out of order, repeated or missing fails.
func (r *streamReader) expectNotifications(lastID string, ids []string) string {
	r.t.Helper()
	var prev uint64
	if lastID != "" {
		prev = seqOf(r.t, lastID)
	}
	for i, want := range ids {
		var ev collected
		for {
			select {
			case ev = <-r.events:
			case <-time.After(10 * time.Second):
				r.t.Fatalf("%s: notification %d of %d (%s) never came", r.user, i+1, len(ids), want)
			}
			if ev.Name == "notification" {
				break
			}
		}
		if got := decode[notification](r.t, ev.Data).ID; got != want {
			r.t.Fatalf("%s: notification %d is %s, want %s", r.user, i+1, got, want)
		}
		seq := seqOf(r.t, ev.ID)
		if prev != 0 && seq != prev+1 {
			r.t.Fatalf("%s: position %d follows %d: gap or repeat", r.user, seq, prev)
		}
		prev = seq
		lastID = ev.ID
	}
	return lastID
}

func (r *streamReader) waitInit() string {
	r.t.Helper()
	for {
		select {
		case ev := <-r.events:
			if ev.Name == "init" {
				return ev.ID
			}
		case <-time.After(10 * time.Second):
			r.t.Fatalf("%s: no init", r.user)
		}
	}
}

func publishTo(t *testing.T, url, user string) string {
	t.Helper()
	n := &node{t: t, URL: url}
	return n.publish(user, nil).ID
}

// TestCluster runs three real tocsin processes on one PostgreSQL schema and one bus
// (Redis, then NATS): publishes on any node reach every subscriber on every node in
// order; a node killed with SIGKILL loses nothing, its clients resuming on another
// node exactly; concurrent publishers to one stream on different nodes leave no gap.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three server processes")
	}
	t.Parallel()
	for _, bus := range []struct{ name, env string }{{"redis", "TOCSIN_TEST_REDIS_URL"}, {"nats", "TOCSIN_TEST_NATS_URL"}} {
		t.Run(bus.name, func(t *testing.T) {
			t.Parallel()
			busURL := testenv.URL(t, bus.env)
			store := pgtest.FreshSchemaURL(t)
			var nodes []*proc
			for range 3 {
				nodes = append(nodes, startProc(t, freeAddr(t), t.TempDir(), "--store", store, "--bus", busURL))
			}
			users := []string{"c0", "c1", "c2"}
			// Every user followed on every node.
			readers := map[string][]*streamReader{}
			for _, u := range users {
				for _, n := range nodes {
					r := follow(t, n.URL, u, "")
					r.waitInit()
					readers[u] = append(readers[u], r)
				}
			}
			published := map[string][]string{}
			for i := range 12 {
				u := users[i%3]
				published[u] = append(published[u], publishTo(t, nodes[(i/3)%3].URL, u))
			}
			last := map[string]string{}
			for _, u := range users {
				for k, r := range readers[u] {
					id := r.expectNotifications("", published[u])
					if k == 0 {
						last[u] = id
					}
				}
			}

			// SIGKILL node 0 mid-stream; publish more on the others meanwhile.
			if err := nodes[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = nodes[0].wait()
			for _, u := range users {
				<-readers[u][0].ended
			}
			missed := map[string][]string{}
			for i := range 6 {
				u := users[i%3]
				missed[u] = append(missed[u], publishTo(t, nodes[1+i%2].URL, u))
			}
			// node 0's clients resume on node 1 (a load balancer would send them
			// anywhere): exactly what they missed, then live events.
			for _, u := range users {
				r := follow(t, nodes[1].URL, u, last[u])
				id := r.expectNotifications(last[u], missed[u])
				live := publishTo(t, nodes[2].URL, u)
				r.expectNotifications(id, []string{live})
				for _, other := range readers[u][1:] {
					other.expectNotifications("", append(append([]string{}, missed[u]...), live))
				}
			}

			// Concurrent publishers to one stream from both live nodes: every reader
			// sees positions 1..N with no gap, whatever the commit interleaving.
			hot := []*streamReader{follow(t, nodes[1].URL, "hot", ""), follow(t, nodes[2].URL, "hot", "")}
			for _, r := range hot {
				r.waitInit()
			}
			const per = 15
			var wg sync.WaitGroup
			for _, n := range nodes[1:] {
				for range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range per {
							req, _ := http.NewRequest("POST", n.URL+"/api/notifications", stringsReader(`{"userId":"hot","title":"h"}`))
							req.Header.Set("Authorization", "Bearer "+apiKey)
							resp, err := http.DefaultClient.Do(req)
							if err != nil || resp.StatusCode != http.StatusCreated {
								t.Errorf("hot publish: %v %v", err, resp)
								return
							}
							resp.Body.Close()
						}
					}()
				}
			}
			wg.Wait()
			for k, r := range hot {
				var prev uint64
				for got := 0; got < 4*per; {
					select {
					case ev := <-r.events:
						if ev.Name != "notification" {
							continue
						}
						seq := seqOf(t, ev.ID)
						if seq != prev+1 {
							t.Fatalf("hot reader %d: position %d after %d", k, seq, prev)
						}
						prev, got = seq, got+1
					case <-time.After(10 * time.Second):
						t.Fatalf("hot reader %d: %d of %d events", k, prev, 4*per)
					}
				}
			}
		})
	}
}
