package tocsin

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var jsonTestTime = time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)

func fullNotification() Notification {
	seen, exp := jsonTestTime.Add(time.Minute), jsonTestTime.Add(time.Hour)
	return Notification{
		ID: "01jh0000000000000000000000", UserID: "u1", Type: "comment", Title: "Hi", Body: "text",
		Priority: 3, Tags: []string{"a", "b"}, Data: json.RawMessage(`{"k":1}`), ActorID: "act",
		EntityType: "post", EntityID: "p1", ActionURL: "https://x.test/p?a=1&b=2", ImageURL: "https://x.test/i.png",
		GroupKey: "g", Count: 2, CreatedAt: jsonTestTime, SeenAt: &seen, ExpiresAt: &exp,
	}
}

// mirrorNotification is Notification's fields with the times as the strings they
// must become, so that encoding/json's reflection encodes it independently of
// AppendNotificationJSON (json.Marshal of a Notification calls it).
type mirrorNotification struct {
	ID         string          `json:"id"`
	UserID     string          `json:"userId"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Body       string          `json:"body"`
	Priority   int             `json:"priority"`
	Tags       []string        `json:"tags"`
	Data       json.RawMessage `json:"data"`
	ActorID    string          `json:"actorId"`
	EntityType string          `json:"entityType"`
	EntityID   string          `json:"entityId"`
	ActionURL  string          `json:"actionUrl"`
	ImageURL   string          `json:"imageUrl"`
	GroupKey   string          `json:"groupKey"`
	Count      int             `json:"count"`
	Topic      string          `json:"topic,omitempty"`
	CreatedAt  string          `json:"createdAt"`
	SeenAt     *string         `json:"seenAt"`
	ReadAt     *string         `json:"readAt"`
	ArchivedAt *string         `json:"archivedAt"`
	ExpiresAt  *string         `json:"expiresAt"`
	Snoozed    *string         `json:"snoozedUntil"`
}

// errMirrorYear is the reference encoding's failure for a time RFC 3339 cannot write.
var errMirrorYear = errors.New("year outside 0…9999")

// referenceJSON is the JSON n must have: the mirror's, each time formatted by the
// time package in TimestampLayout after converting it to UTC.
func referenceJSON(n *Notification) ([]byte, error) {
	var failed bool
	text := func(t time.Time) string {
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			failed = true
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	opt := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := text(*t)
		return &s
	}
	m := mirrorNotification{
		n.ID, n.UserID, n.Type, n.Title, n.Body, n.Priority, n.Tags, n.Data, n.ActorID, n.EntityType, n.EntityID,
		n.ActionURL, n.ImageURL, n.GroupKey, n.Count, n.Topic,
		text(n.CreatedAt), opt(n.SeenAt), opt(n.ReadAt), opt(n.ArchivedAt), opt(n.ExpiresAt), opt(n.SnoozedUntil),
	}
	if failed {
		return nil, errMirrorYear
	}
	return json.Marshal(m)
}

// checkMarshal fails unless AppendNotificationJSON, json.Marshal and a
// NotificationEncoder (fresh, and after enc's earlier calls) write exactly the
// reference encoding, or fail where it fails.
func checkMarshal(t *testing.T, enc *NotificationEncoder, n *Notification) {
	t.Helper()
	want, wantErr := referenceJSON(n)
	if got, err := json.Marshal(n); (err != nil) != (wantErr != nil) || wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("json.Marshal %s (error %v)\nreference %s (error %v)", got, err, want, wantErr)
	}
	prefix := []byte("prefix")
	got, err := AppendNotificationJSON(append([]byte(nil), prefix...), n)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendNotificationJSON error %v, reference error %v\n%#v", err, wantErr, n)
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("AppendNotificationJSON lost what b held: %q", got)
	}
	if wantErr != nil {
		if string(got) != string(prefix) {
			t.Fatalf("a failed AppendNotificationJSON left %q, want b unchanged", got)
		}
	} else if got := got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("AppendNotificationJSON\n%s\nreference\n%s", got, want)
	}
	for _, e := range []*NotificationEncoder{enc, {}} {
		ev, err := e.Event(n, EventNotification, jsonTestTime)
		if (err != nil) != (wantErr != nil) || wantErr == nil && !bytes.Equal(ev.Data, want) {
			t.Fatalf("NotificationEncoder.Event data %s (error %v)\nreference %s (error %v)", ev.Data, err, want, wantErr)
		}
	}
	ev, err := n.Event(EventNotification, jsonTestTime)
	if (err != nil) != (wantErr != nil) || wantErr == nil && !bytes.Equal(ev.Data, want) {
		t.Fatalf("Notification.Event data %s (error %v)\nreference %s (error %v)", ev.Data, err, want, wantErr)
	}
}

func TestAppendNotificationJSON(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	for _, tc := range []struct {
		name   string
		change func(n *Notification)
	}{
		{"full", func(*Notification) {}},
		{"zero value", func(n *Notification) { *n = Notification{} }},
		{"normalized minimal", func(n *Notification) {
			*n = Notification{ID: "x", UserID: "u", CreatedAt: jsonTestTime}
			n.Normalize()
		}},
		{"nil tags, empty tags", func(n *Notification) { n.Tags = nil }},
		{"empty tags", func(n *Notification) { n.Tags = []string{} }},
		{"html in every string", func(n *Notification) {
			n.ID, n.UserID, n.Title, n.Body, n.Tags = "<a>", "u&v", "x < y > z & w", "</script>", []string{"<&>"}
		}},
		{"control characters", func(n *Notification) { n.Body = "a\x00b\x01\b\f\n\r\t\x1f\x7f\"\\/" }},
		{"invalid UTF-8", func(n *Notification) { n.Title, n.UserID = "a\xffb\xc3", "\xe2\x80" }},
		{"line and paragraph separators", func(n *Notification) { n.Body = "a\u2028b\u2029c\u2027" }},
		{"multi-byte text", func(n *Notification) { n.Title = "héllo wörld 日本 😀" }},
		{"data with whitespace", func(n *Notification) { n.Data = json.RawMessage(" {\n\t\"a\" : [1, 2 ,\r\n 3] , \"b\": \"x y\"} ") }},
		{"data with html and separators", func(n *Notification) {
			n.Data = json.RawMessage(`{"h":"<b>&amp;</b>","s":"a` + "\u2028\u2029" + `","e":"\" \\\" \u003c"}`)
		}},
		{"data with invalid UTF-8 in a string", func(n *Notification) { n.Data = json.RawMessage("{\"a\":\"\xff\"}") }},
		{"data null", func(n *Notification) { n.Data = json.RawMessage("null") }},
		{"data nil", func(n *Notification) { n.Data = nil }},
		{"data empty: an error", func(n *Notification) { n.Data = json.RawMessage{} }},
		{"data not JSON: an error", func(n *Notification) { n.Data = json.RawMessage(`{"a":}`) }},
		{"data two values: an error", func(n *Notification) { n.Data = json.RawMessage(`{} {}`) }},
		{"topic", func(n *Notification) { n.Topic, n.UserID = "deploys", "" }},
		{"negative numbers", func(n *Notification) { n.Priority, n.Count = -1, -2 }},
		{"every time set, another zone", func(n *Notification) {
			r, a := jsonTestTime.In(east), jsonTestTime.Add(time.Nanosecond)
			n.CreatedAt, n.ReadAt, n.ArchivedAt = jsonTestTime.In(east), &r, &a
		}},
		{"snoozed", func(n *Notification) {
			z := jsonTestTime.Add(time.Hour).In(east)
			n.SnoozedUntil = &z
		}},
		{"snoozed year 10000: an error", func(n *Notification) {
			z := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			n.SnoozedUntil = &z
		}},
		{"monotonic clock reading", func(n *Notification) { n.CreatedAt = time.Now() }},
		{"zero time", func(n *Notification) { n.CreatedAt = time.Time{} }},
		{"year 10000: an error", func(n *Notification) { n.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"negative year in a pointer: an error", func(n *Notification) {
			e := time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
			n.ExpiresAt = &e
		}},
		{"zone of 24 hours: written in UTC", func(n *Notification) { n.CreatedAt = jsonTestTime.In(time.FixedZone("x", 24*3600)) }},
		{"whole second: three zero digits", func(n *Notification) { n.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }},
		{"sub-millisecond: truncated", func(n *Notification) {
			n.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC)
		}},
		{"year 9999 in UTC from an eastern zone", func(n *Notification) {
			n.CreatedAt = time.Date(10000, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 2*3600))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := fullNotification()
			tc.change(&n)
			checkMarshal(t, &NotificationEncoder{}, &n)
		})
	}
}

// TestAppendNotificationsJSON: the array is what json.Marshal makes of the slice
// (so MarshalJSON's output needs no compacting or escaping), and a failure leaves b.
func TestAppendNotificationsJSON(t *testing.T) {
	a, b := fullNotification(), fullNotification()
	b.Title, b.Data = "x < y\u2028", json.RawMessage(" [1, 2] ")
	for _, ns := range [][]Notification{{}, {a}, {a, b, a}} {
		want, err := json.Marshal(ns)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendNotificationsJSON([]byte("p"), ns)
		if err != nil || string(got) != "p"+string(want) {
			t.Errorf("AppendNotificationsJSON\n%s (%v)\njson.Marshal\n%s", got, err, want)
		}
	}
	if got, err := AppendNotificationsJSON(nil, nil); err != nil || string(got) != "[]" {
		t.Errorf("nil: %s, %v", got, err)
	}
	bad := fullNotification()
	bad.Data = json.RawMessage("{")
	if got, err := AppendNotificationsJSON([]byte("p"), []Notification{a, bad}); err == nil || string(got) != "p" {
		t.Errorf("bad data: %s, %v; want an error and b unchanged", got, err)
	}
}

// TestNotificationEncoderReuse: copies that differ in id and user reuse the encoded
// rest; any other difference, in place or in a copy, is encoded anew.
func TestNotificationEncoderReuse(t *testing.T) {
	base := fullNotification()
	later := base.CreatedAt.Add(time.Millisecond)
	steps := []struct {
		name   string
		change func(n *Notification)
		reuse  bool
	}{
		{"first", func(*Notification) {}, false},
		{"other recipient", func(n *Notification) { n.ID, n.UserID = "02", "<u2>" }, true},
		{"same again", func(*Notification) {}, true},
		{"equal copies of tags and data", func(n *Notification) {
			n.Tags, n.Data = append([]string(nil), n.Tags...), append(json.RawMessage(nil), n.Data...)
		}, true},
		{"title", func(n *Notification) { n.Title = "other" }, false},
		{"tags", func(n *Notification) { n.Tags = []string{"a", "c"} }, false},
		{"nil tags", func(n *Notification) { n.Tags = nil }, false},
		{"empty tags", func(n *Notification) { n.Tags = []string{} }, false},
		{"data", func(n *Notification) { n.Data = json.RawMessage(`{"k":2}`) }, false},
		{"nil data", func(n *Notification) { n.Data = nil }, false},
		{"created", func(n *Notification) { n.CreatedAt = later }, false},
		{"created in another zone", func(n *Notification) { n.CreatedAt = later.In(time.FixedZone("z", 3600)) }, false},
		{"read", func(n *Notification) { n.ReadAt = &later }, false},
		{"an equal read time elsewhere", func(n *Notification) { r := later; n.ReadAt = &r }, true},
		{"seen cleared", func(n *Notification) { n.SeenAt = nil }, false},
		{"topic", func(n *Notification) { n.Topic = "t" }, false},
		{"count", func(n *Notification) { n.Count = 9 }, false},
		{"invalid data", func(n *Notification) { n.Data = json.RawMessage(`{`) }, false},
		{"valid again", func(n *Notification) { n.Data = json.RawMessage(`{}`) }, false},
	}
	var enc NotificationEncoder
	n := base
	for _, s := range steps {
		s.change(&n)
		reused := enc.tail != nil && n.SameButRecipient(&enc.prev)
		if reused != s.reuse {
			t.Errorf("%s: reused %v, want %v", s.name, reused, s.reuse)
		}
		checkMarshal(t, &enc, &n)
	}
}

func TestJSONSizeHint(t *testing.T) {
	r := jsonTestTime
	for _, tc := range []struct {
		name   string
		change func(n *Notification)
	}{
		{"full", func(*Notification) {}},
		{"every time, a topic", func(n *Notification) { n.ReadAt, n.ArchivedAt, n.SnoozedUntil, n.Topic = &r, &r, &r, "t" }},
		{"no optional time", func(n *Notification) { n.SeenAt, n.ExpiresAt = nil, nil }},
		{"normalized minimal", func(n *Notification) {
			*n = Notification{ID: "01jh0000000000000000000000", UserID: "u", Type: "t", CreatedAt: jsonTestTime}
			n.Normalize()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := fullNotification()
			n.ActionURL = "https://x.test/p" // no & to escape
			tc.change(&n)
			b, err := json.Marshal(&n)
			if err != nil {
				t.Fatal(err)
			}
			// ASCII text with one-digit numbers and millisecond UTC times: the hint is the
			// length plus room for escapes (give or take the tags' last comma), so Event
			// allocates its data once.
			if hint := n.jsonSizeHint(); hint < len(b)+32 || hint > len(b)+34 {
				t.Fatalf("hint %d for %d bytes of JSON", hint, len(b))
			}
		})
	}
}

// FuzzNotificationJSON checks AppendNotificationJSON, json.Marshal and
// NotificationEncoder against the reflection-based reference (referenceJSON): the
// same bytes, or an error where it fails. The encoder
// encodes n, a copy for another recipient, then n with the fuzzed title.
func FuzzNotificationJSON(f *testing.F) {
	f.Add("01jh", "u1", "Title", "Body", "a,b", []byte(`{"k":1}`), 3, int64(1767323045), 0, int64(0), "", "u2", false)
	f.Add("<id>", "u&1", "x < y", "\u2028\xff\x00", "", []byte(" { \"a\" : \"<\u2029>\" } "), -1, int64(-62135596801), 3600, int64(1), "top", "\xc3", true)
	f.Add("", "", "", "", ",", []byte(`null`), 0, int64(253402300800), -86400, int64(-5), "", "", false)
	f.Add("i", "u", "t", "b", "x", []byte(`[1,2`), 1, int64(0), 45296, int64(99), "", "v", false)
	f.Fuzz(func(t *testing.T, id, user, title, body, tags string, data []byte, prio int, createdSec int64,
		zoneSec int, readNs int64, topic, otherUser string, nilTags bool) {
		zone := time.FixedZone("z", zoneSec%(100*3600))
		n := Notification{
			ID: id, UserID: user, Type: "t", Title: title, Body: body, Priority: prio, Data: data,
			ActorID: title, Topic: topic, Count: prio / 2, CreatedAt: time.Unix(createdSec, createdSec&0xfffffff).In(zone),
		}
		if data == nil {
			n.Data = json.RawMessage{} // the fuzzer's empty input: an error for both
		}
		if !nilTags {
			n.Tags = strings.Split(tags, ",")
		}
		if readNs != 0 {
			r := time.Unix(readNs, readNs).UTC()
			n.ReadAt = &r
		}
		var enc NotificationEncoder
		checkMarshal(t, &enc, &n)
		other := n
		other.ID, other.UserID = otherUser, id
		checkMarshal(t, &enc, &other)
		other.Body = title
		checkMarshal(t, &enc, &other)
	})
}

func BenchmarkNotificationJSON(b *testing.B) {
	n := fullNotification()
	n.Data = json.RawMessage(`{"orderId": 4711, "items": [1, 2, 3], "note": "thanks & see you"}`)
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Into a reused buffer: the encoding itself allocates nothing.
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			var err error
			if buf, err = AppendNotificationJSON(buf[:0], &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Event", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := n.Event(EventNotification, jsonTestTime); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A page of 50 (an init snapshot): through MarshalJSON, and appended directly.
	page := slices.Repeat([]Notification{n}, 50)
	b.Run("50 json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("50 AppendNotificationsJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendNotificationsJSON(nil, page); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A publish's copies for many users: only the id and user differ.
	b.Run("Encoder copies", func(b *testing.B) {
		b.ReportAllocs()
		var enc NotificationEncoder
		m := n
		for i := 0; b.Loop(); i++ {
			m.UserID = strconvUser[i%len(strconvUser)]
			if _, err := enc.Event(&m, EventNotification, jsonTestTime); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var strconvUser = []string{"user-1", "user-22", "user-333"}
