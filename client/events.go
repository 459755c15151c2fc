package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tocsin/tocsin"
)

// EventNotificationsRead is the name of the event a read-all emits: one event,
// however many notifications it read (never one notification:updated per item).
const EventNotificationsRead = "notifications:read"

// EventNotificationsUpdated is the name of the event of a bulk update
// (Client.UpdateMany): one event for all the items it changed.
const EventNotificationsUpdated = "notifications:updated"

// NotificationsUpdated decodes the data of a notifications:updated event
// ({"notifications": [...]}): the items that changed, each after the change, to
// replace the client's copies. An unread event follows when the count moved.
func (e Event) NotificationsUpdated() ([]tocsin.Notification, error) {
	if e.Name != EventNotificationsUpdated {
		return nil, fmt.Errorf("tocsin: a %q event is not %s", e.Name, EventNotificationsUpdated)
	}
	var d struct {
		Notifications *[]tocsin.Notification `json:"notifications"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, fmt.Errorf("tocsin: %s: %w", EventNotificationsUpdated, err)
	}
	if d.Notifications == nil {
		return nil, fmt.Errorf("tocsin: %s without notifications", EventNotificationsUpdated)
	}
	return *d.Notifications, nil
}

// NotificationsRead is the data of a notifications:read event. Exactly one of IDs
// and Before is set: IDs lists the notifications read (when there were at most 100);
// Before says that every notification whose id sorts at or before it (ids sort by
// creation time, compared as strings) and that was unread and not archived is now
// read. Either way their readAt is ReadAt. An unread event with the new count
// follows it on the stream.
type NotificationsRead struct {
	IDs    []string
	Before string
	ReadAt time.Time
}

// NotificationsRead decodes the event's data (notifications:read events).
func (e Event) NotificationsRead() (NotificationsRead, error) {
	if e.Name != EventNotificationsRead {
		return NotificationsRead{}, fmt.Errorf("tocsin: a %q event is not %s", e.Name, EventNotificationsRead)
	}
	return ParseNotificationsRead(e.Data)
}

// ParseNotificationsRead decodes a notifications:read event's data:
// {"ids": [...], "readAt": "..."} or {"before": "<id>", "readAt": "..."}. It refuses
// anything else (both or neither of ids and before, ids that are not notification
// ids, a missing readAt), so a handler never applies half an understanding.
func ParseNotificationsRead(data []byte) (NotificationsRead, error) {
	var raw struct {
		IDs    *[]string  `json:"ids"`
		Before *string    `json:"before"`
		ReadAt *time.Time `json:"readAt"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return NotificationsRead{}, fmt.Errorf("tocsin: notifications:read: %w", err)
	}
	if raw.ReadAt == nil {
		return NotificationsRead{}, errors.New("tocsin: notifications:read without readAt")
	}
	r := NotificationsRead{ReadAt: *raw.ReadAt}
	switch {
	case raw.IDs != nil && raw.Before != nil:
		return NotificationsRead{}, errors.New("tocsin: notifications:read has both ids and before")
	case raw.IDs != nil:
		r.IDs = slices.Clone(*raw.IDs)
		if r.IDs == nil {
			r.IDs = []string{}
		}
		for _, id := range r.IDs {
			if !tocsin.ValidNotificationID(id) {
				return NotificationsRead{}, fmt.Errorf("tocsin: notifications:read: %q is not a notification id", id)
			}
		}
	case raw.Before != nil:
		if !tocsin.ValidNotificationID(*raw.Before) {
			return NotificationsRead{}, fmt.Errorf("tocsin: notifications:read: before %q is not a notification id", *raw.Before)
		}
		r.Before = *raw.Before
	default:
		return NotificationsRead{}, errors.New("tocsin: notifications:read has neither ids nor before")
	}
	return r, nil
}

// Covers reports whether the read-all marked n read, n as the caller last knew it:
// listed in IDs, or (Before) its id sorts at or before Before and it was unread and
// not archived.
func (r NotificationsRead) Covers(n tocsin.Notification) bool {
	if r.IDs != nil {
		return slices.Contains(r.IDs, n.ID)
	}
	return r.Before != "" && n.ID <= r.Before && n.Unread()
}

// Apply marks n read at ReadAt when the read-all covers it and n is not read yet,
// and reports whether it changed n.
func (r NotificationsRead) Apply(n *tocsin.Notification) bool {
	if n.ReadAt != nil || !r.Covers(*n) {
		return false
	}
	t := r.ReadAt
	n.ReadAt = &t
	return true
}
