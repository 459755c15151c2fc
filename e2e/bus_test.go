package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tocsin/tocsin/internal/testenv"
)

// TestEveryBusServesTheStream runs one node on each bus: the node's own events come
// back to it through the bus, so this is the cluster's code path on one node.
func TestEveryBusServesTheStream(t *testing.T) {
	t.Parallel()
	for _, bus := range []struct{ name, env string }{
		{"memory", ""}, {"redis", "TOCSIN_TEST_REDIS_URL"}, {"nats", "TOCSIN_TEST_NATS_URL"},
	} {
		t.Run(bus.name, func(t *testing.T) {
			t.Parallel()
			url := "memory"
			if bus.env != "" {
				url = testenv.URL(t, bus.env)
			}
			n := startNode(t, "--bus", url)
			if r := n.do("GET", "/readyz", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"ready"`) {
				t.Fatalf("readyz on %s: %d %s", bus.name, r.Status, r.Body)
			}
			user := "bus-" + bus.name
			tok := userToken(t, user)
			s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
			s.expect("init")
			var last string
			for range 3 {
				pub := n.publish(user, nil)
				ev := s.expect("notification")
				if decode[notification](t, ev.Data).ID != pub.ID {
					t.Fatalf("got %s", ev.Data)
				}
				s.expect("unread")
				last = ev.ID
			}
			s.close()
			missed := n.publish(user, nil)
			s2 := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", last)
			if got := decode[notification](t, s2.expect("notification").Data); got.ID != missed.ID {
				t.Fatalf("resume on %s: %s, want %s", bus.name, got.ID, missed.ID)
			}
			s2.expect("unread")
			s2.expect("unread")
			live := n.publish(user, nil)
			if got := decode[notification](t, s2.expect("notification").Data); got.ID != live.ID {
				t.Fatalf("live after resume on %s: %s", bus.name, got.ID)
			}
		})
	}
}

// TestBusDownDegradesButServes: with the bus unreachable the node is ready but
// degraded, publishes succeed and its own streams still get their events.
func TestBusDownDegradesButServes(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"redis://127.0.0.1:1/0", "nats://127.0.0.1:1"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			t.Parallel()
			n := startNode(t, "--bus", url)
			r := n.do("GET", "/readyz", "", nil)
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"degraded"`) {
				t.Fatalf("readyz with the bus down: %d %s", r.Status, r.Body)
			}
			tok := userToken(t, "down")
			s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
			s.expect("init")
			pub := n.publish("down", nil)
			if got := decode[notification](t, s.expect("notification").Data); got.ID != pub.ID {
				t.Fatalf("local delivery with the bus down: %s", got.ID)
			}
		})
	}
}
