package webhook

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/outbound"
)

// The Standard Webhooks test vector (libraries v1.3.0, go/webhook_test.go
// TestWebhookSign; the same vector is in the other languages' tests).
func TestSignVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// Sub-second parts of the timestamp do not count: the header is unix seconds.
	got2, _ := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 999_000_000), []byte(`{"test": 2432232314}`))
	if got2 != want {
		t.Fatalf("Sign with milliseconds = %s, want %s", got2, want)
	}
}

func TestSignBadSecret(t *testing.T) {
	for _, secret := range []string{"", "whsec_", "whsec_not base64!", "whsec_%%%"} {
		_, err := Sign(secret, "msg_1", time.Unix(1, 0), []byte("{}"))
		if tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("Sign with secret %q: %v, want EInvalid", secret, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, SecretPrefix) {
			t.Fatalf("secret %q lacks %s", s, SecretPrefix)
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil || len(k) != 32 {
			t.Fatalf("secret %q: %d bytes, %v", s, len(k), err)
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
		if _, err := Sign(s, "msg_1", time.Now(), nil); err != nil {
			t.Fatalf("Sign with a new secret: %v", err)
		}
	}
}

func TestBody(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	cases := []struct {
		event string
		ts    time.Time
		data  json.RawMessage
		want  string
	}{
		{tocsin.WebhookCreated, time.Date(2026, 12, 3, 10, 4, 5, 123_456_789, time.UTC), json.RawMessage(`{"id":"n1"}`),
			`{"type":"notification.created","timestamp":"2026-12-03T10:04:05.123Z","data":{"id":"n1"}}`},
		{tocsin.WebhookDeliver, time.Date(2026, 1, 2, 3, 4, 5, 0, berlin), json.RawMessage(`{"a":[1,2],"b":"ü"}`),
			`{"type":"notification.deliver","timestamp":"2026-01-02T02:04:05.000Z","data":{"a":[1,2],"b":"ü"}}`},
		{tocsin.WebhookCustom, time.Unix(0, 0), nil,
			`{"type":"event.custom","timestamp":"1970-01-01T00:00:00.000Z","data":null}`},
		{`we"ird`, time.Unix(0, 1_000_000), json.RawMessage(`[]`),
			`{"type":"we\"ird","timestamp":"1970-01-01T00:00:00.001Z","data":[]}`},
	}
	for _, c := range cases {
		got := Body(c.event, c.ts, c.data)
		if string(got) != c.want {
			t.Errorf("Body(%q) =\n %s\nwant\n %s", c.event, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("Body(%q) is not JSON", c.event)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"3600", time.Hour},
		{"3601", time.Hour},
		{"99999999999999999999", time.Hour},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"Thu, 03 Dec 2026 10:00:30 GMT", 30 * time.Second},
		{"Thursday, 03-Dec-26 10:01:00 GMT", time.Minute}, // RFC 850
		{"Thu Dec  3 10:02:00 2026", 2 * time.Minute},     // asctime
		{"Thu, 03 Dec 2026 09:00:00 GMT", 0},              // past
		{"Fri, 04 Dec 2026 10:00:00 GMT", time.Hour},      // capped
	}
	for _, c := range cases {
		if got := RetryAfter(c.v, now); got != c.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("é", maxSnippet) // 2 bytes each: the cut falls inside one
	cases := []struct {
		body      string
		truncated bool
		want      string
	}{
		{"", false, ""},
		{"  \n", false, ""},
		{" nope \n", false, "nope"},
		{"nope", true, "nope…"},
		{"bad \xff byte", false, "bad \ufffd byte"},
		{long, false, strings.Repeat("é", maxSnippet/2) + "…"},
	}
	for _, c := range cases {
		got := snippet(&outbound.Response{Body: []byte(c.body), Truncated: c.truncated})
		want := "" // the quoted start of the body, or nothing
		if c.want != "" {
			want = ": " + strconv.Quote(c.want)
		}
		if got != want {
			t.Errorf("snippet(%q) = %s, want %s", c.body, got, want)
		}
	}
}
