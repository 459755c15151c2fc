package tocsin

import (
	"encoding/json"
	"time"
)

// Notification is one inbox item of one user, with its read state. Its JSON form is
// the public one: REST responses and stream events carry exactly this object.
//
// Optional strings are "" when unset; optional times are null when unset. Times are
// UTC with millisecond precision.
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
}

// Unread reports whether n counts towards its user's unread count: not read, not
// archived. Expired items are removed by the store, so expiry is not checked here.
func (n *Notification) Unread() bool { return n.ReadAt == nil && n.ArchivedAt == nil }

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
// null times (281 bytes), each time that is set instead (26 more at millisecond
// precision in UTC), the topic's key, the strings unescaped, and room for a few
// escapes (an & in a URL is 6 bytes).
func (n *Notification) jsonSizeHint() int {
	size := 281 + 32 + len(n.ID) + len(n.UserID) + len(n.Type) + len(n.Title) + len(n.Body) + len(n.Data) +
		len(n.ActorID) + len(n.EntityType) + len(n.EntityID) + len(n.ActionURL) + len(n.ImageURL) + len(n.GroupKey)
	for _, t := range [...]*time.Time{n.SeenAt, n.ReadAt, n.ArchivedAt, n.ExpiresAt} {
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
	set(&n.ReadAt, p.Read)
	set(&n.SeenAt, p.Seen)
	set(&n.ArchivedAt, p.Archived)
	// Reading implies seeing: a client that marks an item read has shown it.
	if n.ReadAt != nil && n.SeenAt == nil {
		t := *n.ReadAt
		n.SeenAt = &t
		changed = true
	}
	return changed
}

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
