package tocsin

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendNotificationJSON appends the JSON of n to b. It is THE encoding of a
// notification: the data of its "notification" and "notification:updated" events,
// the REST bodies, an Idempotency-Key's remembered result; json.Marshal of a
// Notification calls it (MarshalJSON). It writes what encoding/json would write of
// Notification's fields (field order, <, > and & escaped as \u003c…, invalid UTF-8
// as \ufffd, U+2028/U+2029 escaped, Data compacted), except that times are in
// TimestampLayout (UTC, milliseconds); it fails where encoding/json would (Data that
// is not JSON, a time outside years 0…9999), leaving b as it was.
//
// A new time field is one more entry of the times in appendNotificationTail (and
// of the mirror in the tests), in field order.
//
// Bytes that one package encodes and another passes on (a store's event data, the
// 201 body httpapi builds from it) rely on this one function, not on a sniffed
// prefix.
func AppendNotificationJSON(b []byte, n *Notification) ([]byte, error) {
	start := len(b)
	b = appendNotificationHead(b, n)
	b, err := appendNotificationTail(b, n)
	if err != nil {
		return b[:start], err
	}
	return b, nil
}

// AppendNotificationsJSON appends ns as a JSON array of AppendNotificationJSON's
// encodings ("[]" when empty, nil too): the bytes json.Marshal makes of a non-nil
// []Notification, without encoding/json re-reading every byte MarshalJSON returns,
// which more than doubles the cost of a list or an init snapshot. On failure b is
// as it was.
func AppendNotificationsJSON(b []byte, ns []Notification) ([]byte, error) {
	start := len(b)
	b = append(b, '[')
	for i := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = AppendNotificationJSON(b, &ns[i]); err != nil {
			return b[:start], err
		}
	}
	return append(b, ']'), nil
}

// MarshalJSON is AppendNotificationJSON, so that a Notification inside any other
// response (a list page, the init snapshot) has the same bytes as its events. A value
// receiver, so that it applies to Notification values in maps and slices too.
func (n Notification) MarshalJSON() ([]byte, error) {
	return AppendNotificationJSON(make([]byte, 0, n.jsonSizeHint()), &n)
}

// NotificationEncoder makes the events of notifications as Notification.Event
// does, for the copies of one publish to many users: when a notification differs
// from the one encoded before only in ID and UserID, only those are encoded and the
// rest of the JSON (everything after "userId") is reused. A publish to 10,000 users
// encodes its title, body and data once, not 10,000 times.
//
// It remembers the previous notification's fields, sharing its Tags and Data (not
// copies): those must not be changed in place while the encoder is in use. The
// zero value is ready to use; an encoder is not safe for concurrent use.
type NotificationEncoder struct {
	prev Notification // the notification tail was encoded from; ID and UserID unused
	// tail is prev's JSON after its userId, nil when there is none. It is the end of
	// the data of the event that encoded it, so it is never written to.
	tail []byte
}

// Event is n.Event(name, now), its data encoded by e.
func (e *NotificationEncoder) Event(n *Notification, name string, now time.Time) (Event, error) {
	if e.tail != nil && n.SameButRecipient(&e.prev) {
		// Sized exactly (unless the head needs escapes): a stored event's data lives
		// as long as the event does in the hub's queues.
		data := make([]byte, 0, len(`{"id":"","userId":""`)+len(n.ID)+len(n.UserID)+len(e.tail))
		data = append(appendNotificationHead(data, n), e.tail...)
		return n.event(name, data, now), nil
	}
	e.tail = nil
	data := appendNotificationHead(make([]byte, 0, n.jsonSizeHint()), n)
	head := len(data)
	data, err := appendNotificationTail(data, n)
	if err != nil {
		return Event{}, err
	}
	e.prev, e.tail = *n, data[head:len(data):len(data)]
	return n.event(name, data, now), nil
}

// SameButRecipient reports whether n and p are copies of one notification for
// different recipients: every field but ID and UserID the same, so the same JSON
// after "userId". Slices are the same when they are the same memory (the hub's
// copies of one template share theirs) or hold the same values; nil and empty
// differ (null and [] in JSON). Times are compared with ==, not Equal (see sameTime).
func (n *Notification) SameButRecipient(p *Notification) bool {
	return n.Type == p.Type && n.Title == p.Title && n.Body == p.Body && n.Priority == p.Priority &&
		sameStrings(n.Tags, p.Tags) && sameBytes(n.Data, p.Data) &&
		n.ActorID == p.ActorID && n.EntityType == p.EntityType && n.EntityID == p.EntityID &&
		n.ActionURL == p.ActionURL && n.ImageURL == p.ImageURL && n.GroupKey == p.GroupKey &&
		n.Count == p.Count && n.Topic == p.Topic && n.CreatedAt == p.CreatedAt &&
		sameTime(n.SeenAt, p.SeenAt) && sameTime(n.ReadAt, p.ReadAt) &&
		sameTime(n.ArchivedAt, p.ArchivedAt) && sameTime(n.ExpiresAt, p.ExpiresAt) &&
		sameTime(n.SnoozedUntil, p.SnoozedUntil)
}

func sameStrings(a, b []string) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b)
}

func sameBytes(a, b []byte) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b)
}

// sameTime compares with ==: it implies the same text, and where it is stricter than
// Equal (another location, a monotonic reading) it only makes the encoder encode anew.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || *a == *b
}

// appendNotificationHead appends {"id":…,"userId":… — the part of a notification's
// JSON that differs between the recipients of one publish.
func appendNotificationHead(b []byte, n *Notification) []byte {
	b = appendStringField(b, `{"id":`, n.ID)
	return appendStringField(b, `,"userId":`, n.UserID)
}

// appendNotificationTail appends the rest of n's JSON, in the order of the fields of
// Notification (encoding/json's order).
func appendNotificationTail(b []byte, n *Notification) ([]byte, error) {
	b = appendStringField(b, `,"type":`, n.Type)
	b = appendStringField(b, `,"title":`, n.Title)
	b = appendStringField(b, `,"body":`, n.Body)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(n.Priority), 10)
	b = append(b, `,"tags":`...)
	if n.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range n.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"data":`...)
	b, err := appendRawJSON(b, n.Data)
	if err != nil {
		return b, err
	}
	b = appendStringField(b, `,"actorId":`, n.ActorID)
	b = appendStringField(b, `,"entityType":`, n.EntityType)
	b = appendStringField(b, `,"entityId":`, n.EntityID)
	b = appendStringField(b, `,"actionUrl":`, n.ActionURL)
	b = appendStringField(b, `,"imageUrl":`, n.ImageURL)
	b = appendStringField(b, `,"groupKey":`, n.GroupKey)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(n.Count), 10)
	if n.Topic != "" { // omitempty
		b = appendStringField(b, `,"topic":`, n.Topic)
	}
	b = append(b, `,"createdAt":`...)
	if b, err = AppendTimestampJSON(b, n.CreatedAt); err != nil {
		return b, err
	}
	for _, f := range [...]struct {
		key string
		t   *time.Time
	}{{`,"seenAt":`, n.SeenAt}, {`,"readAt":`, n.ReadAt}, {`,"archivedAt":`, n.ArchivedAt}, {`,"expiresAt":`, n.ExpiresAt},
		{`,"snoozedUntil":`, n.SnoozedUntil}} {
		b = append(b, f.key...)
		if f.t == nil {
			b = append(b, "null"...)
		} else if b, err = AppendTimestampJSON(b, *f.t); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendStringField appends key (`,"name":`) and s as a JSON string.
func appendStringField(b []byte, key, s string) []byte {
	return appendJSONString(append(b, key...), s)
}

// hexDigits are the digits of \u escapes, lower case as encoding/json writes them.
const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does with HTML
// escaping on (its default): ", \ and control characters escaped (\b \f \n \r \t by
// name), <, > and & as \u003c \u003e \u0026, each byte of invalid UTF-8 as \ufffd,
// U+2028 and U+2029 as \u2028 and \u2029.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// errNotJSON is the failure of a notification whose Data is not JSON.
var errNotJSON = errors.New("notification data is not valid JSON")

// appendRawJSON appends raw as encoding/json writes a json.RawMessage: null when
// nil, else compacted (whitespace outside strings dropped), with <, >, & and
// U+2028/U+2029 escaped; the bytes of strings are otherwise kept as they are. Data
// that is not JSON is an error, as it is for json.Marshal.
func appendRawJSON(b []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	if !json.Valid(raw) {
		return b, errNotJSON
	}
	// raw is valid JSON: a '"' outside a string opens one, and inside one a '"'
	// that is not escaped closes it.
	start, inString := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped byte is never a quote that ends the string
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			b = append(b, raw[start:i]...)
			start = i + 1
		case c == '<' || c == '>' || c == '&':
			b = append(b, raw[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8:
			b = append(b, raw[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(b, raw[start:]...), nil
}
