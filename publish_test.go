package tocsin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPublishInputValidate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	many := make([]string, MaxUserIDs+1)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i%7)
	}
	tests := []struct {
		name string
		in   PublishInput
		err  string // substring of the message; "" means valid
	}{
		{"user", PublishInput{UserID: "42", Title: "hi"}, ""},
		{"users", PublishInput{UserIDs: []string{"1", "2"}}, ""},
		{"topic", PublishInput{Topic: "deploys"}, ""},
		{"no recipient", PublishInput{Title: "hi"}, "exactly one of"},
		{"two recipients", PublishInput{UserID: "1", Topic: "t"}, "exactly one of"},
		{"empty userIds", PublishInput{UserIDs: []string{}}, "must not be empty"},
		{"too many userIds", PublishInput{UserIDs: many}, "at most 10000"},
		{"control char in user", PublishInput{UserID: "a\nb"}, "control character"},
		{"user too long", PublishInput{UserID: strings.Repeat("u", MaxUserIDLen+1)}, "longer than"},
		{"bad topic", PublishInput{Topic: "a b"}, "topic must match"},
		{"bad type", PublishInput{UserID: "1", Type: "a\r\nevent: x"}, "type must match"},
		{"type too long", PublishInput{UserID: "1", Type: strings.Repeat("t", 65)}, "type must match"},
		{"priority low", PublishInput{UserID: "1", Priority: -1}, "priority"},
		{"priority high", PublishInput{UserID: "1", Priority: 6}, "priority"},
		{"title newline", PublishInput{UserID: "1", Title: "a\nb"}, "title contains"},
		{"title NUL", PublishInput{UserID: "1", Title: "a\x00b"}, "title contains"},
		{"body multiline ok", PublishInput{UserID: "1", Body: "a\nb"}, ""},
		{"body too long", PublishInput{UserID: "1", Body: strings.Repeat("b", MaxBodyLen+1)}, "body is longer"},
		{"body and message differ", PublishInput{UserID: "1", Body: "a", Message: "b"}, "aliases"},
		{"invalid utf8", PublishInput{UserID: "1", Title: "\xff"}, "UTF-8"},
		{"too many tags", PublishInput{UserID: "1", Tags: make([]string, MaxTags+1)}, "tags holds"},
		{"empty tag", PublishInput{UserID: "1", Tags: []string{""}}, "empty strings"},
		{"data array", PublishInput{UserID: "1", Data: json.RawMessage(`[1]`)}, "data must be a JSON object"},
		{"data null ok", PublishInput{UserID: "1", Data: json.RawMessage(`null`)}, ""},
		{"data too big", PublishInput{UserID: "1", Data: json.RawMessage(`{"a":"` + strings.Repeat("x", MaxDataLen) + `"}`)}, "data is larger"},
		{"expired", PublishInput{UserID: "1", ExpiresAt: &past}, "expiresAt"},
		{"expires later", PublishInput{UserID: "1", ExpiresAt: &future}, ""},
		{"url too long", PublishInput{UserID: "1", ActionURL: strings.Repeat("h", MaxURLLen+1)}, "actionUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.Validate(now)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.err)
			}
			if ErrorCodeOf(err) != EInvalid || !strings.Contains(ErrorMessageOf(err), tt.err) {
				t.Fatalf("Validate() = %v, want invalid with %q", err, tt.err)
			}
		})
	}
}

func TestPublishInputNormalises(t *testing.T) {
	now := time.Now()
	in := PublishInput{UserIDs: []string{"b", "a", "b"}, Message: "hello"}
	if err := in.Validate(now); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(in.Recipients(), ","); got != "b,a" {
		t.Fatalf("recipients = %q, want de-duplicated in order", got)
	}
	n := in.Template()
	if n.Body != "hello" || n.Type != DefaultType || n.Priority != DefaultPriority || n.Count != 1 ||
		n.Tags == nil || string(n.Data) != "{}" {
		t.Fatalf("template = %+v", n)
	}
}

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"comment": true, "ORDER_SHIPPED": true, "a.b:c-d_e": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a b": false, "a\nb": false, "é": false, "a/b": false,
	} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPatchApply(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	t2 := t1.Add(time.Hour)
	yes, no := true, false
	tests := []struct {
		name            string
		start           Notification
		p               Patch
		changed         bool
		read, seen, arc *time.Time
	}{
		{"read sets seen too", Notification{}, Patch{Read: &yes}, true, &t1, &t1, nil},
		{"read again keeps time", Notification{ReadAt: &t0, SeenAt: &t0}, Patch{Read: &yes}, false, &t0, &t0, nil},
		{"unread keeps seen", Notification{ReadAt: &t0, SeenAt: &t0}, Patch{Read: &no}, true, nil, &t0, nil},
		{"archive", Notification{}, Patch{Archived: &yes}, true, nil, nil, &t1},
		{"unarchive", Notification{ArchivedAt: &t0}, Patch{Archived: &no}, true, nil, nil, nil},
		{"empty patch", Notification{}, Patch{}, false, nil, nil, nil},
		{"seen only", Notification{}, Patch{Seen: &yes}, true, nil, &t1, nil},
		{"snooze sets seen", Notification{}, Patch{SnoozedUntil: OptionalTime{Set: true, Time: &t2}}, true, nil, &t1, nil},
		{"snooze keeps an earlier seen", Notification{SeenAt: &t0}, Patch{SnoozedUntil: OptionalTime{Set: true, Time: &t2}}, true, nil, &t0, nil},
		{"unsnooze leaves seen", Notification{SeenAt: &t0, SnoozedUntil: &t2}, Patch{SnoozedUntil: OptionalTime{Set: true}}, true, nil, &t0, nil},
		{"wake clears read and seen", Notification{ReadAt: &t0, SeenAt: &t0, SnoozedUntil: &t0}, Patch{Wake: true}, true, nil, nil, nil},
		{"early wake does nothing", Notification{SeenAt: &t0, SnoozedUntil: &t2}, Patch{Wake: true}, false, nil, &t0, nil},
	}
	eq := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.start
			if got := tt.p.Apply(&n, t1); got != tt.changed {
				t.Fatalf("changed = %v, want %v", got, tt.changed)
			}
			if !eq(n.ReadAt, tt.read) || !eq(n.SeenAt, tt.seen) || !eq(n.ArchivedAt, tt.arc) {
				t.Fatalf("after: read=%v seen=%v archived=%v", n.ReadAt, n.SeenAt, n.ArchivedAt)
			}
		})
	}
}

func TestIDGenIsSortableAndUnique(t *testing.T) {
	var g IDGen
	t0 := time.Now()
	prev := ""
	seen := map[string]bool{}
	for i := range 10000 {
		id := g.New(t0.Add(time.Duration(i/100) * time.Millisecond))
		if !ValidNotificationID(id) {
			t.Fatalf("id %q is not well-formed", id)
		}
		if id <= prev || seen[id] {
			t.Fatalf("id %d %q does not sort after %q", i, id, prev)
		}
		seen[id], prev = true, id
	}
	// A clock that steps back still yields increasing ids.
	if id := g.New(t0.Add(-time.Hour)); id <= prev {
		t.Fatalf("id after a clock step back %q <= %q", id, prev)
	}
}
