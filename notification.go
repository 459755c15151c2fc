package tocsin

import (
	"encoding/json"
	"time"
)

// Notification is one inbox item of one user, with its read state. Its JSON form is
// the public one: REST responses and stream events carry exactly this object.
//
// Optional strings are "" when unset; optional times are null when unset. Times are
// written in TimestampLayout (UTC, three fraction digits) by MarshalJSON, which is
// AppendNotificationJSON: a new time field is one entry there.
type Notification struct {
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
	// Topic is set (and UserID empty) on a notification published to a topic: an
	// event of the topic's stream, not an inbox item.
	Topic      string     `json:"topic,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	SeenAt     *time.Time `json:"seenAt"`
	ReadAt     *time.Time `json:"readAt"`
	ArchivedAt *time.Time `json:"archivedAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	// SnoozedUntil is set while the user has snoozed the item (PATCH snoozedUntil):
	// until its wake job clears it, the item is left out of the unread list, the
	// unread count and the init snapshot (see Unread).
	SnoozedUntil *time.Time `json:"snoozedUntil"`
}

// Unread reports whether n counts towards its user's unread count: not read, not
// archived, not snoozed. Expired items are removed by the store, so expiry is not
// checked here. A snoozed item counts again only once its wake job has cleared
// SnoozedUntil (normally within a second of it), not at the instant itself: the
// SQLite store keeps the count as a counter moved by each change, and the wake is
// the change that moves it, so every count, list and event agrees on one state.
func (n *Notification) Unread() bool {
	return n.ReadAt == nil && n.ArchivedAt == nil && n.SnoozedUntil == nil
}

// Normalize fills the defaults a stored notification always has (non-nil tags,
// "null"-free data, count 1, priority 3) so that every layer renders it the same way.
func (n *Notification) Normalize() {
	if n.Tags == nil {
		n.Tags = []string{}
	}
	if len(n.Data) == 0 {
		n.Data = json.RawMessage("{}")
	}
	if n.Count < 1 {
		n.Count = 1
	}
	if n.Priority == 0 {
		n.Priority = DefaultPriority
	}
}

// Event is the event of a change of n (EventNotification, EventUpdated) made at now:
// on its user's stream, carrying n's JSON (AppendNotificationJSON). Its Seq is the
// store's to assign. NotificationEncoder.Event makes the same for many copies.
func (n *Notification) Event(name string, now time.Time) (Event, error) {
	data, err := AppendNotificationJSON(make([]byte, 0, n.jsonSizeHint()), n)
	if err != nil {
		return Event{}, err
	}
	return n.event(name, data, now), nil
}

func (n *Notification) event(name string, data []byte, now time.Time) Event {
	return Event{
		Stream: UserStream(n.UserID), Name: name, Type: n.Type, Data: data,
		Unread: UnreadUnchanged, Time: now,
	}
}

// jsonSizeHint is about the length of n's JSON, so that Event allocates its data
// once and not much larger: the keys, punctuation, one-digit numbers, createdAt and
// null times (301 bytes), each time that is set instead (22 more: TimestampLayout
// quoted is 26 bytes, null 4), the topic's key, the strings unescaped, and room for a few
// escapes (an & in a URL is 6 bytes).
func (n *Notification) jsonSizeHint() int {
	size := 301 + 32 + len(n.ID) + len(n.UserID) + len(n.Type) + len(n.Title) + len(n.Body) + len(n.Data) +
		len(n.ActorID) + len(n.EntityType) + len(n.EntityID) + len(n.ActionURL) + len(n.ImageURL) + len(n.GroupKey)
	for _, t := range [...]*time.Time{n.SeenAt, n.ReadAt, n.ArchivedAt, n.ExpiresAt, n.SnoozedUntil} {
		if t != nil {
			size += 22
		}
	}
	if n.Topic != "" {
		size += len(`,"topic":""`) + len(n.Topic)
	}
	for _, t := range n.Tags {
		size += len(t) + 3
	}
	return size
}

// Patch is a change of read state made by the user (PATCH /api/notifications/{id}).
// A nil field leaves that state as it is.
type Patch struct {
	Read     *bool `json:"read"`
	Seen     *bool `json:"seen"`
	Archived *bool `json:"archived"`
	// SnoozedUntil, when present, snoozes the item until that time (see
	// ValidateSnooze) or, when null, ends its snooze. Absent leaves it as it is.
	SnoozedUntil OptionalTime `json:"snoozedUntil,omitzero"`
	// Wake is the snooze's wake job, never the user's: if the item is snoozed until
	// at or before now, the snooze ends and the item is unread and unseen again
	// ("it comes back as unread"); otherwise nothing changes, so a wake that runs
	// twice, or after a re-snooze, does nothing.
	Wake bool `json:"-"`
}

// Empty reports whether p asks for no change at all.
func (p Patch) Empty() bool {
	return p.Read == nil && p.Seen == nil && p.Archived == nil && !p.SnoozedUntil.Set && !p.Wake
}

// MaxSnooze is how far ahead a snooze may reach.
const MaxSnooze = 365 * 24 * time.Hour

// ValidateSnooze checks the snooze p asks for at now: a time after now and at most
// MaxSnooze ahead (null, ending a snooze, is always valid).
func (p Patch) ValidateSnooze(now time.Time) error {
	if !p.SnoozedUntil.Set || p.SnoozedUntil.Time == nil {
		return nil
	}
	t := *p.SnoozedUntil.Time
	if !t.After(now) {
		return Errorf(EInvalid, "snoozedUntil must be in the future")
	}
	if t.After(now.Add(MaxSnooze)) {
		return Errorf(EInvalid, "snoozedUntil must be at most a year ahead")
	}
	return nil
}

// Apply changes n as p says at time now and reports whether anything changed.
// Setting a state that is already set keeps its original time.
func (p Patch) Apply(n *Notification, now time.Time) bool {
	changed := false
	set := func(field **time.Time, want *bool) {
		if want == nil {
			return
		}
		switch {
		case *want && *field == nil:
			t := now
			*field = &t
			changed = true
		case !*want && *field != nil:
			*field = nil
			changed = true
		}
	}
	if p.Wake && n.SnoozedUntil != nil && !n.SnoozedUntil.After(now) {
		n.SnoozedUntil, n.ReadAt, n.SeenAt = nil, nil, nil
		changed = true
	}
	if p.SnoozedUntil.Set {
		want := p.SnoozedUntil.Time
		if want != nil {
			t := want.UTC().Truncate(time.Millisecond)
			want = &t
		}
		if (want == nil) != (n.SnoozedUntil == nil) || want != nil && !want.Equal(*n.SnoozedUntil) {
			n.SnoozedUntil = want
			changed = true
		}
	}
	set(&n.ReadAt, p.Read)
	set(&n.SeenAt, p.Seen)
	set(&n.ArchivedAt, p.Archived)
	// Reading implies seeing: a client that marks an item read has shown it.
	if n.ReadAt != nil && n.SeenAt == nil {
		t := *n.ReadAt
		n.SeenAt = &t
		changed = true
	}
	// So does snoozing: the user looked at the item and put it off, so no channel
	// escalates it meanwhile (channels fire unless seen). The wake clears seenAt:
	// it comes back unread and unseen.
	if p.SnoozedUntil.Set && n.SnoozedUntil != nil && n.SeenAt == nil {
		t := now
		n.SeenAt = &t
		changed = true
	}
	return changed
}

// OptionalTime is a JSON field that may be absent (Set false), null (Set, Time
// nil) or a time: a PATCH must tell "leave the snooze" from "end the snooze".
// Encoded with omitzero, an absent one is left out.
type OptionalTime struct {
	Set  bool
	Time *time.Time
}

// UnmarshalJSON is called only for a field that is present, null included.
func (o *OptionalTime) UnmarshalJSON(b []byte) error {
	o.Set, o.Time = true, nil
	if string(b) == "null" {
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return Errorf(EInvalid, "a time must be RFC 3339 (e.g. 2026-01-02T15:04:05Z) or null")
	}
	o.Time = &t
	return nil
}

// MarshalJSON writes null or the time.
func (o OptionalTime) MarshalJSON() ([]byte, error) {
	if o.Time == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*o.Time)
}

// IsZero reports an absent field (for omitzero).
func (o OptionalTime) IsZero() bool { return !o.Set }

// SnoozeUntil is an OptionalTime set to t (a snooze) or, for nil, to null (an
// unsnooze).
func SnoozeUntil(t *time.Time) OptionalTime { return OptionalTime{Set: true, Time: t} }

// MaxBulkIDs bounds the ids of one bulk update (PATCH /api/notifications).
const MaxBulkIDs = 100

// Status selects notifications by read state in a list.
type Status string

const (
	StatusAll      Status = "all"      // read and unread, not archived
	StatusUnread   Status = "unread"   // not read, not archived
	StatusRead     Status = "read"     // read, not archived
	StatusArchived Status = "archived" // archived only
)

// ListQuery selects a page of one user's notifications, newest first, or, with Q,
// the user's notifications that match a full-text search, best first (search.go).
type ListQuery struct {
	Status Status
	Types  []string // empty: any type
	Tag    string   // empty: any tag
	Limit  int      // 1..MaxListLimit
	// Before is the id of the last item of the previous page (exclusive); "" for the
	// first page. The HTTP layer wraps it into an opaque cursor. A search ignores it.
	Before string
	Now    time.Time // items that expired before Now are not listed
	// Q is a full-text search as the user typed it; "" lists without searching. Its
	// words (SearchTerms) are matched as prefixes of words of the title, body and
	// tags; a Q without any word matches nothing.
	Q string
	// Ceiling and Offset page a search: ranked results cannot be paged by id, so a
	// later page names the ranked position it starts at (Offset, below
	// MaxSearchResults) and the newest id the first page could see (Ceiling, from that
	// page's Page.Ceiling), so that items that arrive meanwhile do not shift the
	// pages. Both are zero for a first page.
	Ceiling string
	Offset  int
}

// Page is one page of a list. NextBefore is "" on the last page.
type Page struct {
	Notifications []Notification
	NextBefore    string
	UnreadCount   int
	// A search's next page starts at NextOffset (0: this is the last page) with
	// Ceiling as its ListQuery.Ceiling.
	NextOffset int
	Ceiling    string
}

// Snapshot is what a fresh stream connection starts from: the newest unread items,
// the unread count and the stream head, all read at one instant, so that the live
// events that follow begin exactly after Head.
type Snapshot struct {
	Notifications []Notification
	UnreadCount   int
	Head          uint64
}

// Limits of one notification and of one list.
const (
	DefaultPriority  = 3
	DefaultListLimit = 20
	MaxListLimit     = 100
	MaxUserIDs       = 10000
	MaxUserIDLen     = 256
	MaxTitleLen      = 1024
	MaxBodyLen       = 16 * 1024
	MaxTags          = 32
	MaxTagLen        = 64
	MaxURLLen        = 2048
	MaxShortFieldLen = 256 // actorId, entityType, entityId, groupKey
	MaxDataLen       = 32 * 1024
	MaxIdemKeyLen    = 255
)

// ApplyEach is the loop of a bulk update (InboxWriter.UpdateMany) that both stores
// run in their transaction: each of ids is read with get (ENotFound: missing or
// another user's, passed over as if absent), changed by p at now, and written
// with put when p changed it. It returns the changed items in the order of ids,
// how the kept unread count moves (delta), and whether any item's unread state
// changed (moved: the event then carries the count).
func ApplyEach(ids []string, p Patch, now time.Time, get func(id string) (Notification, error),
	put func(n *Notification) error) (changed []Notification, delta int, moved bool, err error) {
	for _, id := range ids {
		n, err := get(id)
		if ErrorCodeOf(err) == ENotFound {
			continue
		}
		if err != nil {
			return nil, 0, false, err
		}
		was := n.Unread()
		if !p.Apply(&n, now) {
			continue
		}
		if err := put(&n); err != nil {
			return nil, 0, false, err
		}
		switch is := n.Unread(); {
		case was && !is:
			delta--
		case !was && is:
			delta++
		}
		moved = moved || was != n.Unread()
		changed = append(changed, n)
	}
	return changed, delta, moved, nil
}
