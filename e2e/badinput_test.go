package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadInputChangesNothing sends each kind of bad input of PRODUCT.md §6 and checks
// the 4xx JSON error and that the user's inbox and stream did not change.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	tok := userToken(t, "v")
	keep := n.publish("v", nil)
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	s.expect("init")

	big := strings.Repeat("x", 70<<10)
	manyIDs := make([]string, 10001)
	for i := range manyIDs {
		manyIDs[i] = "u" + strings.Repeat("1", i%5)
	}
	huge, _ := json.Marshal(map[string]any{"userIds": []string{"v"}, "body": strings.Repeat("y", 1100<<10)})
	cases := []struct {
		name, method, path, bearer string
		body                       any
		status                     int
		code                       string
	}{
		{"malformed JSON", "POST", "/api/notifications", apiKey, `{"userId": "v",`, 400, "invalid_request"},
		{"not an object", "POST", "/api/notifications", apiKey, `[1,2]`, 400, "invalid_request"},
		{"empty body", "POST", "/api/notifications", apiKey, ``, 400, "invalid_request"},
		{"trailing data", "POST", "/api/notifications", apiKey, `{"userId":"v"} {}`, 400, "invalid_request"},
		{"invalid UTF-8", "POST", "/api/notifications", apiKey, []byte("{\"userId\":\"v\",\"title\":\"\xff\xfe\"}"), 400, "invalid_request"},
		{"wrong field type", "POST", "/api/notifications", apiKey, `{"userId":"v","priority":"high"}`, 400, "invalid_request"},
		{"tags not an array", "POST", "/api/notifications", apiKey, `{"userId":"v","tags":"a"}`, 400, "invalid_request"},
		{"unknown field", "POST", "/api/notifications", apiKey, `{"userId":"v","titel":"typo"}`, 400, "invalid_request"},
		{"no recipient", "POST", "/api/notifications", apiKey, `{"title":"x"}`, 400, "invalid_request"},
		{"two recipients", "POST", "/api/notifications", apiKey, `{"userId":"v","userIds":["w"]}`, 400, "invalid_request"},
		{"priority out of range", "POST", "/api/notifications", apiKey, `{"userId":"v","priority":9}`, 400, "invalid_request"},
		{"type with CR/LF", "POST", "/api/notifications", apiKey, `{"userId":"v","type":"a\r\nevent: x"}`, 400, "invalid_request"},
		{"userId with LF", "POST", "/api/notifications", apiKey, `{"userId":"v\nw"}`, 400, "invalid_request"},
		{"title with LF", "POST", "/api/notifications", apiKey, `{"userId":"v","title":"a\nb"}`, 400, "invalid_request"},
		{"data not an object", "POST", "/api/notifications", apiKey, `{"userId":"v","data":[1]}`, 400, "invalid_request"},
		{"expiresAt in the past", "POST", "/api/notifications", apiKey, `{"userId":"v","expiresAt":"2000-01-01T00:00:00Z"}`, 400, "invalid_request"},
		{"expiresAt not a time", "POST", "/api/notifications", apiKey, `{"userId":"v","expiresAt":"tomorrow"}`, 400, "invalid_request"},
		{"too many userIds", "POST", "/api/notifications", apiKey, map[string]any{"userIds": manyIDs}, 400, "invalid_request"},
		{"too many tags", "POST", "/api/notifications", apiKey, map[string]any{"userId": "v", "tags": strings.Split(strings.Repeat("t,", 40), ",")}, 400, "invalid_request"},
		{"body over 64 KiB", "POST", "/api/notifications", apiKey, map[string]any{"userId": "v", "body": big}, 413, "payload_too_large"},
		{"bulk body over 1 MiB", "POST", "/api/notifications", apiKey, huge, 413, "payload_too_large"},
		{"idempotency key with control", "POST", "/api/notifications", apiKey, map[string]any{"userId": "v"}, 400, "invalid_request"},
		{"custom event bad type", "POST", "/api/users/v/events", apiKey, `{"type":"A\nB","body":{}}`, 400, "invalid_request"},
		{"custom event body not object", "POST", "/api/users/v/events", apiKey, `{"type":"A","body":"x"}`, 400, "invalid_request"},
		{"patch nothing", "PATCH", "/api/notifications/" + keep.ID, tok, `{}`, 400, "invalid_request"},
		{"patch wrong type", "PATCH", "/api/notifications/" + keep.ID, tok, `{"read":"yes"}`, 400, "invalid_request"},
		{"patch unknown field", "PATCH", "/api/notifications/" + keep.ID, tok, `{"deleted":true}`, 400, "invalid_request"},
		{"list bad status", "GET", "/api/notifications?status=maybe", tok, nil, 400, "invalid_request"},
		{"list bad limit", "GET", "/api/notifications?limit=1000", tok, nil, 400, "invalid_request"},
		{"list bad cursor", "GET", "/api/notifications?cursor=!!", tok, nil, 400, "invalid_request"},
		{"stream bad Last-Event-ID", "GET", "/api/notifications/stream?lastEventId=1%0D%0Aevent:%20x", tok, nil, 400, "invalid_request"},
		{"no such endpoint", "GET", "/api/nope", tok, nil, 404, "not_found"},
		{"wrong method", "PUT", "/api/notifications/" + keep.ID, tok, `{"read":true}`, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.name == "idempotency key with control" {
				hdr = []string{"Idempotency-Key", "a\tb"}
			}
			r := n.do(tc.method, tc.path, tc.bearer, tc.body, hdr...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if code := r.errCode(t); code != tc.code {
				t.Fatalf("code %q, want %q", code, tc.code)
			}
		})
	}
	// Nothing changed: one notification, unread, and no event on the stream.
	p := n.list(t, tok, "/api/notifications?status=all")
	if len(p.Notifications) != 1 || p.Notifications[0].ID != keep.ID || p.UnreadCount != 1 {
		t.Fatalf("bad input changed the inbox: %s unread %d", ids(p.Notifications), p.UnreadCount)
	}
	s.quiet(200 * time.Millisecond)
	if r := n.do("GET", "/api/users/v/notifications", apiKey, nil); r.Status != http.StatusOK {
		t.Fatal(r.Status)
	}
}

// TestWrongMethodSaysWhich: a method an endpoint does not take is a 405 naming the
// ones it does (Allow), not a 404 that suggests the path is wrong; under
// --base-path too.
func TestWrongMethodSaysWhich(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--base-path", "/notify")
	tok := userToken(t, "m")
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/notify/api/notifications", "GET, POST, PATCH"},
		{"POST", "/notify/api/notifications/01JD0000000000000000000000", "GET, PATCH, DELETE"},
		{"DELETE", "/notify/api/preferences", "GET, PUT, PATCH"},
	} {
		r := n.do(tc.method, tc.path, tok, nil)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != tc.allow ||
			!strings.Contains(string(r.Body), `"code":"method_not_allowed"`) {
			t.Errorf("%s %s: %d Allow %q %s; want 405 Allow %q", tc.method, tc.path, r.Status, r.Header.Get("Allow"), r.Body, tc.allow)
		}
	}
	if r := n.do("GET", "/notify/api/nope", tok, nil); r.Status != http.StatusNotFound || r.Header.Get("Allow") != "" {
		t.Errorf("GET /api/nope: %d Allow %q", r.Status, r.Header.Get("Allow"))
	}
}
