package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestFanoutBytesLimit: one publish may not store more than --max-fanout-bytes
// (default 64 MiB): 2,500 users × a 32 KiB notification is refused with 413 before
// anything is stored; a bulk under it goes through.
func TestFanoutBytesLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	big := func(users int) map[string]any {
		ids := make([]string, users)
		for i := range ids {
			ids[i] = fmt.Sprintf("fan-%04d", i)
		}
		return map[string]any{
			"userIds": ids, "title": "big",
			"body": strings.Repeat("b", 16<<10),
			"data": map[string]string{"blob": strings.Repeat("d", 15<<10)},
		}
	}
	r := n.do("POST", "/api/notifications", apiKey, big(2500))
	if r.Status != http.StatusRequestEntityTooLarge || r.errCode(t) != "payload_too_large" || !strings.Contains(string(r.Body), "--max-fanout-bytes") {
		t.Fatalf("2,500 × 32 KiB: %d %.300s", r.Status, r.Body)
	}
	var page struct{ Notifications []notification }
	n.do("GET", "/api/users/fan-0000/notifications", apiKey, nil).json(t, &page)
	if len(page.Notifications) != 0 {
		t.Fatalf("the refused publish stored %d notifications", len(page.Notifications))
	}
	if r := n.do("POST", "/api/notifications", apiKey, big(100)); r.Status != http.StatusCreated {
		t.Fatalf("100 × 32 KiB: %d %.300s", r.Status, r.Body)
	}
	t.Run("configured", func(t *testing.T) {
		t.Parallel()
		n := startNode(t, "--max-fanout-bytes", "1MiB")
		if r := n.do("POST", "/api/notifications", apiKey, big(40)); r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("40 × 32 KiB over 1 MiB: %d %.300s", r.Status, r.Body)
		}
		if r := n.do("POST", "/api/notifications", apiKey, big(20)); r.Status != http.StatusCreated {
			t.Fatalf("20 × 32 KiB under 1 MiB: %d %.300s", r.Status, r.Body)
		}
	})
}
