package tocsin

import (
	"encoding/json"
	"errors"
	"time"
)

// TimestampLayout is the one form of every time the server emits (REST bodies,
// stream events, webhooks, push payloads): RFC 3339 in UTC with exactly three
// fraction digits, e.g. 2026-01-02T03:04:05.000Z. A fixed width sorts as text and
// parses everywhere (JavaScript's Date, every RFC 3339 parser). What the server
// reads stays any RFC 3339 time, in any offset.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// errTimestampYear is the failure of a time outside years 0…9999, which RFC 3339
// cannot write (encoding/json refuses them too).
var errTimestampYear = errors.New("timestamp: year outside 0…9999")

// AppendTimestamp appends t in TimestampLayout (converted to UTC, truncated to the
// millisecond) to b, without allocating when b has room. It is
// t.UTC().AppendFormat(b, TimestampLayout), written out because it runs for every
// time of every notification event. Years outside 0…9999 are written as AppendFormat
// writes them; AppendTimestampJSON refuses them.
func AppendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimestampLayout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// FormatTimestamp is t in TimestampLayout, for strings built outside JSON encoders.
func FormatTimestamp(t time.Time) string {
	return string(AppendTimestamp(make([]byte, 0, len(TimestampLayout)), t))
}

// AppendTimestampJSON appends t as a JSON string in TimestampLayout. It fails (b
// unchanged) for a UTC year outside 0…9999, as encoding/json does for time.Time.
func AppendTimestampJSON(b []byte, t time.Time) ([]byte, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return b, errTimestampYear
	}
	return append(AppendTimestamp(append(b, '"'), t), '"'), nil
}

// Timestamp is a time.Time whose JSON is TimestampLayout, for the time fields of
// response types: declare the field as Timestamp (or *Timestamp for an optional,
// null when nil) and convert with one call, Timestamp(t) or (*Timestamp)(p). It
// reads any RFC 3339 time, as time.Time does.
type Timestamp time.Time

// MarshalJSON writes t in TimestampLayout.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return AppendTimestampJSON(make([]byte, 0, len(TimestampLayout)+2), time.Time(t))
}

// UnmarshalJSON reads any RFC 3339 time (any offset, any fraction).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	return (*time.Time)(t).UnmarshalJSON(b)
}

// Time is t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// The MarshalJSON methods below write the time fields of the root types in
// TimestampLayout. Each marshals a copy whose type has no methods (so no recursion)
// with its time fields shadowed by Timestamp fields of the same JSON name: the
// shallower field wins in encoding/json. Shadowed keys come after the others.

// MarshalJSON writes p with updatedAt in TimestampLayout.
func (p Profile) MarshalJSON() ([]byte, error) {
	type plain Profile
	return json.Marshal(struct {
		plain
		UpdatedAt Timestamp `json:"updatedAt"`
	}{plain(p), Timestamp(p.UpdatedAt)})
}

// MarshalJSON writes p with mutedUntil and updatedAt in TimestampLayout.
func (p Preferences) MarshalJSON() ([]byte, error) {
	type plain Preferences
	return json.Marshal(struct {
		plain
		MutedUntil *Timestamp `json:"mutedUntil"`
		UpdatedAt  Timestamp  `json:"updatedAt"`
	}{plain(p), (*Timestamp)(p.MutedUntil), Timestamp(p.UpdatedAt)})
}

// MarshalJSON writes d with at in TimestampLayout.
func (d Delivery) MarshalJSON() ([]byte, error) {
	type plain Delivery
	return json.Marshal(struct {
		plain
		At Timestamp `json:"at"`
	}{plain(d), Timestamp(d.At)})
}

// MarshalJSON writes w with createdAt in TimestampLayout.
func (w WebhookEndpoint) MarshalJSON() ([]byte, error) {
	type plain WebhookEndpoint
	return json.Marshal(struct {
		plain
		CreatedAt Timestamp `json:"createdAt"`
	}{plain(w), Timestamp(w.CreatedAt)})
}

// MarshalJSON writes s with createdAt in TimestampLayout.
func (s PushSubscription) MarshalJSON() ([]byte, error) {
	type plain PushSubscription
	return json.Marshal(struct {
		plain
		CreatedAt Timestamp `json:"createdAt"`
	}{plain(s), Timestamp(s.CreatedAt)})
}
