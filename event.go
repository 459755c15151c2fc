package tocsin

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StreamID names one ordered, persisted sequence of events: "user:<userId>" for a
// user's stream, "topic:<name>" for a topic's.
type StreamID string

// UserStream returns the stream of user id.
func UserStream(userID string) StreamID { return StreamID("user:" + userID) }

// TopicStream returns the stream of topic name.
func TopicStream(name string) StreamID { return StreamID("topic:" + name) }

// UserID returns the user of a user stream and true, or "" and false.
func (s StreamID) UserID() (string, bool) {
	rest, ok := strings.CutPrefix(string(s), "user:")
	return rest, ok
}

// Event names of the stream protocol (PRODUCT.md §4). Custom events use the
// application's own name, which must satisfy ValidName.
const (
	EventNotification = "notification"
	EventUpdated      = "notification:updated"
	EventDeleted      = "notification:deleted"
	EventBatch        = "notifications:batch"
	EventInit         = "init"
	EventReset        = "reset"
	EventUnread       = "unread"
	// EventRead is a read-all: one event however many notifications it read (its
	// data is ReadAllData's), never one per item.
	EventRead = "notifications:read"
	// EventUpdatedMany is a bulk update of selected items (PATCH
	// /api/notifications): one event, its data UpdatedManyData's, never one
	// "notification:updated" per item.
	EventUpdatedMany = "notifications:updated"
)

// ReservedEventName reports whether name belongs to the stream protocol, so that no
// custom event may take it (PRODUCT.md §4): a custom event named init would replace
// a client's inbox, unread would set its badge, notification would pass a
// capability stream's filter. Reserved are init, reset and unread; every name that
// starts with "notification" (notification, notification:updated,
// notifications:batch, notifications:read, notifications:updated, and those still
// to come); and the names
// an EventSource or the WebSocket frames give meaning to: message (EventSource's
// onmessage), error (EventSource's failure event, and the WebSocket error frame),
// open, ping, pong and heartbeat (keep-alive frames). Names are compared exactly, as
// EventSource compares them: ORDER_SHIPPED and Init are the application's.
func ReservedEventName(name string) bool {
	switch name {
	case EventInit, EventReset, EventUnread, "message", "error", "open", "ping", "pong", "heartbeat":
		return true
	}
	return strings.HasPrefix(name, "notification")
}

// ReservedEventNames lists the reserved names for error messages and docs.
const ReservedEventNames = "init, reset, unread, message, error, open, ping, pong, heartbeat and any name starting with notification"

// UnreadUnchanged is Event.Unread for an event that did not change the unread count.
const UnreadUnchanged = -1

// Event is one entry of a stream, as stored and as carried by the bus.
type Event struct {
	Stream StreamID `json:"stream"`
	// Seq is the event's position in its stream: 1, 2, 3, ... assigned in the
	// transaction that made the change, so the sequence has no gaps in commit order.
	Seq uint64 `json:"seq"`
	// Name is the SSE event name: one of the Event* constants or a custom name.
	Name string `json:"name"`
	// Type is the notification type (or the custom event's name) the event is about,
	// used by the ?types= filter; "" when it has none.
	Type string `json:"type,omitempty"`
	// Data is the event's JSON payload, one object on one line.
	Data json.RawMessage `json:"data"`
	// Unread is the stream owner's unread count right after the transaction that made
	// this event, on the last event of that transaction for that stream, or
	// UnreadUnchanged.
	Unread int       `json:"unread"`
	Time   time.Time `json:"time"`
}

// EventID is the public, opaque id of an event: the store's epoch and the event's
// sequence. The epoch makes ids of one store meaningless to another (a wiped or
// replaced database), so a client never resumes into a different history.
type EventID struct {
	Epoch string
	Seq   uint64
}

// String renders the id as "<epoch>-<seq>", e.g. "k7x2m9qa-42".
func (id EventID) String() string {
	return id.Epoch + "-" + strconv.FormatUint(id.Seq, 10)
}

// AppendTo appends the id's text to b without allocating.
func (id EventID) AppendTo(b []byte) []byte {
	b = append(b, id.Epoch...)
	b = append(b, '-')
	return strconv.AppendUint(b, id.Seq, 10)
}

// MaxEventIDLen bounds a Last-Event-ID a client may send.
const MaxEventIDLen = 128

// ParseEventID parses an id made by EventID.String. It refuses anything else,
// including ids with characters that could not have come from this server.
func ParseEventID(s string) (EventID, error) {
	bad := Errorf(EInvalid, "malformed event id")
	if len(s) == 0 || len(s) > MaxEventIDLen {
		return EventID{}, bad
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || i == len(s)-1 {
		return EventID{}, bad
	}
	epoch, num := s[:i], s[i+1:]
	if !ValidEpoch(epoch) {
		return EventID{}, bad
	}
	if len(num) > 1 && num[0] == '0' {
		return EventID{}, bad
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return EventID{}, bad
	}
	return EventID{Epoch: epoch, Seq: seq}, nil
}

// NewEpoch makes the epoch of a new store: 8 random characters of [a-z0-9], so the
// ids of a wiped or replaced database never resume into another history.
func NewEpoch() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// ValidEpoch reports whether s is a well-formed store epoch: 1 to 32 characters of
// [a-z0-9].
func ValidEpoch(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CustomEventInput is the body of POST /api/users/{userId}/events.
type CustomEventInput struct {
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

// ReadAllMaxIDs is how many notification ids a "notifications:read" event lists;
// a read-all of more names only the newest ("before").
const ReadAllMaxIDs = 100

// ReadAllData is the data of the "notifications:read" event of a read-all that read
// the notifications ids (in any order; at least one) at now:
// {"ids": [...], "readAt": "..."} with the ids in ascending order when there are at
// most ReadAllMaxIDs of them, else {"before": "<the newest id>", "readAt": "..."},
// which means every notification with an id up to and including before that was
// unread and not archived is now read (ids sort by creation time). It sorts ids.
func ReadAllData(ids []string, now time.Time) ([]byte, error) {
	slices.Sort(ids)
	at := now.UTC().Truncate(time.Millisecond)
	if len(ids) <= ReadAllMaxIDs {
		return json.Marshal(struct {
			IDs    []string  `json:"ids"`
			ReadAt Timestamp `json:"readAt"`
		}{ids, Timestamp(at)})
	}
	return json.Marshal(struct {
		Before string    `json:"before"`
		ReadAt Timestamp `json:"readAt"`
	}{ids[len(ids)-1], Timestamp(at)})
}

// UpdatedManyData is the data of the "notifications:updated" event of a bulk
// update: {"notifications": [...]}, each the item after the change, encoded by
// AppendNotificationJSON, in the order given.
func UpdatedManyData(ns []Notification) ([]byte, error) {
	b := append(make([]byte, 0, 64+len(ns)*512), `{"notifications":[`...)
	for i := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = AppendNotificationJSON(b, &ns[i]); err != nil {
			return nil, err
		}
	}
	return append(b, "]}"...), nil
}

// UpdatedManyEvent is the "notifications:updated" event of user's bulk update that
// changed ns at now (its Seq and Unread are the store's to fill). It has no Type:
// like a read-all it is about items of any type.
func UpdatedManyEvent(userID string, ns []Notification, now time.Time) (Event, error) {
	data, err := UpdatedManyData(ns)
	if err != nil {
		return Event{}, err
	}
	return Event{Stream: UserStream(userID), Name: EventUpdatedMany, Data: data, Unread: UnreadUnchanged, Time: now}, nil
}

// CheckBulk checks a bulk update (InboxWriter.UpdateMany) as the stores require
// it: 1 to MaxBulkIDs distinct ids, and a patch of read, seen and archived only,
// changing at least one.
func CheckBulk(ids []string, p Patch) error {
	if len(ids) == 0 || len(ids) > MaxBulkIDs {
		return Errorf(EInvalid, "ids must list 1 to %d notification ids", MaxBulkIDs)
	}
	if p.SnoozedUntil.Set || p.Wake {
		return Errorf(EInvalid, "a bulk update changes read, seen and archived only")
	}
	if p.Read == nil && p.Seen == nil && p.Archived == nil {
		return Errorf(EInvalid, "nothing to change: send read, seen or archived")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return Errorf(EInvalid, "ids must be distinct")
		}
		seen[id] = true
	}
	return nil
}

// ForgetInUpdatedMany takes the items whose ids are in gone out of the data of a
// "notifications:updated" event (UpdatedManyData), keeping the other items' bytes
// as they are, and reports whether it removed any: a deleted or expired item's
// content leaves every event that carried it (Store's Forget), and a bulk event
// carries many items, so only that item's copy goes ({"notifications": []} when
// it was the last).
func ForgetInUpdatedMany(data []byte, gone func(id string) bool) ([]byte, bool, error) {
	var d struct {
		Notifications []json.RawMessage `json:"notifications"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, false, err
	}
	out := append(make([]byte, 0, len(data)), `{"notifications":[`...)
	removed, kept := false, 0
	for _, raw := range d.Notifications {
		var n struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, false, err
		}
		if gone(n.ID) {
			removed = true
			continue
		}
		if kept > 0 {
			out = append(out, ',')
		}
		out = append(out, raw...)
		kept++
	}
	return append(out, "]}"...), removed, nil
}
