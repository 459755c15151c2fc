package bench

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTimerSink: the endpoint of tocsin bench timers counts each notification once,
// counts its repeats, measures lateness against createdAt + delayMs, and counts a
// message it cannot read instead of taking it for a fired timer.
func TestTimerSink(t *testing.T) {
	s, err := newTimerSink(10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	created := time.Now().Add(-3 * time.Second).UTC()
	msg := func(typ, id string) string {
		return fmt.Sprintf(`{"type":%q,"timestamp":"x","data":{"notification":{"id":%q,"createdAt":%q,"data":{"delayMs":1000}},"user":{}}}`,
			typ, id, created.Format(time.RFC3339Nano))
	}
	for _, body := range []string{
		msg("notification.deliver", "a"),
		msg("notification.deliver", "b"),
		msg("notification.deliver", "a"), // a repeat
		msg("notification.created", "c"), // not a timer's message
		`{not json`,
	} {
		resp, err := http.Post(s.url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if d, r, bad := s.distinct(), s.repeats(), s.bad.Load(); d != 2 || r != 1 || bad != 2 {
		t.Fatalf("distinct %d, repeats %d, bad %d; want 2, 1, 2", d, r, bad)
	}
	late := s.lateness()
	if len(late) != 2 {
		t.Fatalf("%d lateness samples, want one per notification", len(late))
	}
	for _, l := range late {
		// due 2 s ago (created 3 s ago, delay 1 s)
		if l < 2*time.Second || l > 4*time.Second {
			t.Errorf("lateness %v, want ~2s", l)
		}
	}
	if s.lastArrival().IsZero() {
		t.Error("no last arrival")
	}
}
