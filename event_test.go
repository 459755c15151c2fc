package tocsin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseEventID(t *testing.T) {
	tests := []struct {
		in   string
		want EventID
		ok   bool
	}{
		{"k7x2m9qa-42", EventID{"k7x2m9qa", 42}, true},
		{"a-0", EventID{"a", 0}, true},
		{"abc-18446744073709551615", EventID{"abc", 1<<64 - 1}, true},
		{"", EventID{}, false},
		{"42", EventID{}, false},
		{"-42", EventID{}, false},
		{"abc-", EventID{}, false},
		{"abc-042", EventID{}, false},                  // one spelling per id
		{"abc-18446744073709551616", EventID{}, false}, // overflow
		{"ABC-1", EventID{}, false},                    // epochs are lower case
		{"ab-c-1", EventID{}, false},                   // '-' only as the separator
		{"abc-1\n", EventID{}, false},
		{"abc\r\n-1", EventID{}, false},
		{"abc-+1", EventID{}, false},
		{"abc- 1", EventID{}, false},
		{strings.Repeat("a", 33) + "-1", EventID{}, false},
		{strings.Repeat("a", 200), EventID{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEventID(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseEventID(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				if ErrorCodeOf(err) != EInvalid {
					t.Fatalf("error code = %q, want %q", ErrorCodeOf(err), EInvalid)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String() = %q, want the input back", s)
			}
			if b := got.AppendTo(nil); string(b) != tt.in {
				t.Fatalf("AppendTo = %q", b)
			}
		})
	}
}

func TestStreamID(t *testing.T) {
	if u, ok := UserStream("42").UserID(); !ok || u != "42" {
		t.Fatalf("UserStream(42).UserID() = %q, %v", u, ok)
	}
	if u, ok := UserStream("a:b").UserID(); !ok || u != "a:b" {
		t.Fatalf("user ids may hold ':' (%q, %v)", u, ok)
	}
	if _, ok := TopicStream("deploys").UserID(); ok {
		t.Fatal("a topic stream is not a user's")
	}
}

func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"k7x2m9qa-42", "a-0", "", "-", "a--1", "abc-042"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseEventID(s)
		if err != nil {
			return
		}
		// Whatever parses is safe on an SSE id: line and round-trips exactly.
		if strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("accepted %q with a framing character", s)
		}
		if id.String() != s {
			t.Fatalf("%q parsed to %+v which prints %q", s, id, id.String())
		}
	})
}

func TestReservedEventName(t *testing.T) {
	for _, tt := range []struct {
		name     string
		reserved bool
	}{
		{"init", true}, {"reset", true}, {"unread", true},
		{"notification", true}, {"notification:updated", true}, {"notification:deleted", true},
		{"notifications:batch", true}, {"notifications:read", true}, {"notification_x", true},
		{"message", true}, {"error", true}, {"open", true},
		{"ping", true}, {"pong", true}, {"heartbeat", true},
		{"ORDER_SHIPPED", false}, {"Init", false}, {"NOTIFICATION", false},
		{"init2", false}, {"my.notification", false}, {"PING_1", false}, {"messages", false},
	} {
		if got := ReservedEventName(tt.name); got != tt.reserved {
			t.Errorf("ReservedEventName(%q) = %v, want %v", tt.name, got, tt.reserved)
		}
	}
	// The protocol's own names are all reserved.
	for _, n := range []string{EventNotification, EventUpdated, EventDeleted, EventBatch, EventInit, EventReset, EventUnread, EventRead} {
		if !ReservedEventName(n) {
			t.Errorf("protocol name %q is not reserved", n)
		}
	}
}

func TestReadAllData(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)
	var g IDGen
	many := make([]string, ReadAllMaxIDs+1)
	for i := range many {
		many[i] = g.New(at)
	}
	newest := many[len(many)-1]
	for _, tc := range []struct {
		name string
		ids  []string
		want string
	}{
		{"one", []string{"A"}, `{"ids":["A"],"readAt":"2026-12-02T10:00:00.123Z"}`},
		{"sorted", []string{"C", "A", "B"}, `{"ids":["A","B","C"],"readAt":"2026-12-02T10:00:00.123Z"}`},
		{"at the limit", many[:ReadAllMaxIDs], ""},
		{"past the limit", append([]string{newest}, many[:ReadAllMaxIDs]...), `{"before":"` + newest + `","readAt":"2026-12-02T10:00:00.123Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadAllData(tc.ids, at)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				var d struct{ IDs []string }
				if err := json.Unmarshal(got, &d); err != nil || len(d.IDs) != ReadAllMaxIDs {
					t.Fatalf("%s: want %d ids", got, ReadAllMaxIDs)
				}
				return
			}
			if string(got) != tc.want {
				t.Fatalf("ReadAllData = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNewEpoch(t *testing.T) {
	a, b := NewEpoch(), NewEpoch()
	if len(a) != 8 || !ValidEpoch(a) || !ValidEpoch(b) {
		t.Fatalf("NewEpoch made %q and %q: want 8 characters of [a-z0-9]", a, b)
	}
	if a == b {
		t.Fatalf("two new epochs are both %q", a)
	}
}
