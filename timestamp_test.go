package tocsin

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

// timestampPattern is TimestampLayout as a pattern: what every emitted time matches.
var timestampPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestAppendTimestamp(t *testing.T) {
	west := time.FixedZone("west", -(3*3600 + 30*60))
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 100e6, time.UTC), "2026-01-02T03:04:05.100Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), "2026-01-02T03:04:05.999Z"},
		{time.Date(2026, 12, 31, 22, 0, 0, 7e6, west), "2027-01-01T01:30:00.007Z"},
		{time.Time{}, "0001-01-01T00:00:00.000Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), "9999-12-31T23:59:59.999Z"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "10000-01-01T00:00:00.000Z"},
	} {
		got := string(AppendTimestamp([]byte("x"), tc.in))
		if got != "x"+tc.want {
			t.Errorf("AppendTimestamp(%v) = %q, want %q", tc.in, got, "x"+tc.want)
		}
		if ref := tc.in.UTC().Format(TimestampLayout); ref != tc.want {
			t.Errorf("the test's own want %q differs from Format's %q", tc.want, ref)
		}
		if tc.in.Year() <= 9999 && !timestampPattern.MatchString(FormatTimestamp(tc.in)) {
			t.Errorf("FormatTimestamp(%v) = %q does not match the pattern", tc.in, FormatTimestamp(tc.in))
		}
	}
}

// TestTimestampJSON: Timestamp writes TimestampLayout, refuses what RFC 3339 cannot
// write, and reads any RFC 3339 time.
func TestTimestampJSON(t *testing.T) {
	in := time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 2*3600))
	b, err := json.Marshal(struct {
		A Timestamp  `json:"a"`
		B *Timestamp `json:"b"`
		C *Timestamp `json:"c"`
	}{Timestamp(in), (*Timestamp)(&in), nil})
	if err != nil || string(b) != `{"a":"2026-05-06T05:08:09.000Z","b":"2026-05-06T05:08:09.000Z","c":null}` {
		t.Fatalf("got %s, %v", b, err)
	}
	if _, err := json.Marshal(Timestamp(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC))); err == nil {
		t.Fatal("year -1 encoded")
	}
	var got Timestamp
	if err := json.Unmarshal([]byte(`"2026-05-06T07:08:09.5+02:00"`), &got); err != nil ||
		!got.Time().Equal(in.Add(500*time.Millisecond)) {
		t.Fatalf("read %v, %v", got.Time(), err)
	}
}

func BenchmarkAppendTimestamp(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	now := time.Now()
	for b.Loop() {
		buf = AppendTimestamp(buf[:0], now)
	}
}

// TestRootTypesTimestamps: the root types the API returns as they are write their
// times in TimestampLayout and keep every other key (secrets still hidden).
func TestRootTypesTimestamps(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("x", -4*3600))
	const want = "2026-05-06T11:08:09.000Z"
	for _, tc := range []struct {
		v     any
		times []string
		keys  int
	}{
		{Profile{UserID: "u", UpdatedAt: at}, []string{"updatedAt"}, 5},
		{Preferences{MutedUntil: &at, UpdatedAt: at}, []string{"mutedUntil", "updatedAt"}, 6},
		{Preferences{}, []string{"updatedAt"}, 6},
		{Delivery{NotificationID: "n", Channel: "email", At: at}, []string{"at"}, 5},
		{WebhookEndpoint{ID: "w", Secret: "whsec_x", CreatedAt: at}, []string{"createdAt"}, 4},
		{PushSubscription{ID: "p", P256dh: "k", Auth: "a", CreatedAt: at}, []string{"createdAt"}, 5},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != tc.keys {
			t.Errorf("%T: %d keys, want %d: %s", tc.v, len(m), tc.keys, b)
		}
		for _, k := range tc.times {
			if s, _ := m[k].(string); s != want && !(k == "updatedAt" && s == "0001-01-01T00:00:00.000Z") {
				t.Errorf("%T: %s is %v, want %s", tc.v, k, m[k], want)
			}
		}
		if m["mutedUntil"] == nil && tc.times[0] == "mutedUntil" {
			t.Errorf("%T: mutedUntil missing", tc.v)
		}
	}
}
