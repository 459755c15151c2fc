package tocsin

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// PublishInput is the body of POST /api/notifications as the application sends it:
// the notification's fields plus exactly one recipient selector.
type PublishInput struct {
	UserID  string   `json:"userId"`
	UserIDs []string `json:"userIds"`
	Topic   string   `json:"topic"`

	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Body       string          `json:"body"`
	Message    string          `json:"message"` // alias of Body
	Priority   int             `json:"priority"`
	Tags       []string        `json:"tags"`
	Data       json.RawMessage `json:"data"`
	ActorID    string          `json:"actorId"`
	EntityType string          `json:"entityType"`
	EntityID   string          `json:"entityId"`
	ActionURL  string          `json:"actionUrl"`
	ImageURL   string          `json:"imageUrl"`
	GroupKey   string          `json:"groupKey"`
	ExpiresAt  *time.Time      `json:"expiresAt"`

	// DeliverAt schedules the notification (PRODUCT.md §3): it enters the inbox
	// and the stream at that time. Channels says how it reaches the user beyond
	// them (ParseChannelPlan); nil takes the server's defaults by priority.
	DeliverAt *time.Time        `json:"deliverAt"`
	Channels  map[string]string `json:"channels"`
}

// MaxScheduleAhead is how far ahead deliverAt may be.
const MaxScheduleAhead = 366 * 24 * time.Hour

// DefaultType is the type of a notification published without one.
const DefaultType = "system"

// Validate checks in and normalises it in place (message → body, default type and
// priority, de-duplicated userIds). The error is an *Error with code EInvalid whose
// message names the offending field.
func (in *PublishInput) Validate(now time.Time) error {
	n := 0
	if in.UserID != "" {
		n++
	}
	if in.UserIDs != nil {
		n++
	}
	if in.Topic != "" {
		n++
	}
	if n != 1 {
		return Errorf(EInvalid, "exactly one of userId, userIds or topic is required")
	}
	if in.UserID != "" {
		if err := ValidateUserID(in.UserID); err != nil {
			return err
		}
	}
	if in.UserIDs != nil {
		if len(in.UserIDs) == 0 {
			return Errorf(EInvalid, "userIds must not be empty")
		}
		if len(in.UserIDs) > MaxUserIDs {
			return Errorf(EInvalid, "userIds holds %d ids; at most %d are allowed", len(in.UserIDs), MaxUserIDs)
		}
		seen := make(map[string]struct{}, len(in.UserIDs))
		out := in.UserIDs[:0]
		for _, id := range in.UserIDs {
			if err := ValidateUserID(id); err != nil {
				return err
			}
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			out = append(out, id)
		}
		in.UserIDs = out
	}
	if in.Topic != "" {
		if err := ValidateTopic(in.Topic); err != nil {
			return err
		}
	}
	if in.Message != "" {
		if in.Body != "" && in.Body != in.Message {
			return Errorf(EInvalid, "body and message are aliases; send only one")
		}
		in.Body, in.Message = in.Message, ""
	}
	if in.Type == "" {
		in.Type = DefaultType
	}
	if !ValidName(in.Type) {
		return Errorf(EInvalid, "type must match [A-Za-z0-9_.:-]{1,64}")
	}
	if in.Priority == 0 {
		in.Priority = DefaultPriority
	}
	if in.Priority < 1 || in.Priority > 5 {
		return Errorf(EInvalid, "priority must be 1 to 5")
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"title", in.Title, MaxTitleLen},
		{"body", in.Body, MaxBodyLen},
		{"actorId", in.ActorID, MaxShortFieldLen},
		{"entityType", in.EntityType, MaxShortFieldLen},
		{"entityId", in.EntityID, MaxShortFieldLen},
		{"groupKey", in.GroupKey, MaxShortFieldLen},
		{"actionUrl", in.ActionURL, MaxURLLen},
		{"imageUrl", in.ImageURL, MaxURLLen},
	} {
		if err := validText(f.name, f.value, f.max, f.name == "body"); err != nil {
			return err
		}
	}
	if len(in.Tags) > MaxTags {
		return Errorf(EInvalid, "tags holds %d tags; at most %d are allowed", len(in.Tags), MaxTags)
	}
	for _, t := range in.Tags {
		if t == "" {
			return Errorf(EInvalid, "tags must not contain empty strings")
		}
		if err := validText("tags", t, MaxTagLen, false); err != nil {
			return err
		}
	}
	if err := validData(in.Data); err != nil {
		return err
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return Errorf(EInvalid, "expiresAt must be in the future")
	}
	if in.DeliverAt != nil {
		if !in.DeliverAt.After(now) {
			return Errorf(EInvalid, "deliverAt must be in the future (omit it to publish now)")
		}
		if in.DeliverAt.After(now.Add(MaxScheduleAhead)) {
			return Errorf(EInvalid, "deliverAt must be at most a year ahead")
		}
		if in.ExpiresAt != nil && !in.ExpiresAt.After(*in.DeliverAt) {
			return Errorf(EInvalid, "expiresAt must be after deliverAt")
		}
	}
	if in.Channels != nil {
		if in.Topic != "" {
			return Errorf(EInvalid, "channels apply to a user's notifications (userId or userIds), not to a topic")
		}
		if _, err := ParseChannelPlan(in.Channels); err != nil {
			return err
		}
	}
	return nil
}

// Template returns the notification that in describes, for one recipient still to be
// filled in (ID, UserID and CreatedAt are the store's and hub's to set).
func (in *PublishInput) Template() Notification {
	n := Notification{
		Type: in.Type, Title: in.Title, Body: in.Body, Priority: in.Priority,
		Tags: in.Tags, Data: in.Data, ActorID: in.ActorID, EntityType: in.EntityType,
		EntityID: in.EntityID, ActionURL: in.ActionURL, ImageURL: in.ImageURL,
		GroupKey: in.GroupKey, Count: 1,
	}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC().Truncate(time.Millisecond)
		n.ExpiresAt = &t
	}
	if isJSONNull(n.Data) {
		n.Data = nil
	}
	n.Normalize()
	return n
}

// Plan is the channel plan of in: its "channels", or defaults' plan for its
// priority when it has none. Validate has checked the channels.
func (in *PublishInput) Plan(defaults *ChannelDefaults) ChannelPlan {
	if in.Channels != nil {
		plan, _ := ParseChannelPlan(in.Channels)
		return plan
	}
	if defaults == nil || in.Priority < 1 || in.Priority > 5 {
		return nil
	}
	return defaults[in.Priority]
}

// Recipients returns the user ids in names, in order.
func (in *PublishInput) Recipients() []string {
	if in.UserID != "" {
		return []string{in.UserID}
	}
	return in.UserIDs
}

func validText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return Errorf(EInvalid, "%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(EInvalid, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r == 0 || (!multiline && (r == '\r' || r == '\n')) {
			return Errorf(EInvalid, "%s contains a forbidden control character", field)
		}
	}
	return nil
}

func validData(d json.RawMessage) error {
	if len(d) == 0 || isJSONNull(d) {
		return nil
	}
	if len(d) > MaxDataLen {
		return Errorf(EInvalid, "data is larger than %d bytes", MaxDataLen)
	}
	if bytes.TrimSpace(d)[0] != '{' {
		return Errorf(EInvalid, "data must be a JSON object")
	}
	return nil
}

func isJSONNull(d json.RawMessage) bool {
	return string(bytes.TrimSpace(d)) == "null"
}

// ValidName reports whether s is a valid notification type or event name:
// [A-Za-z0-9_.:-]{1,64}. Such names are safe to place on an SSE "event:" line.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateUserID checks an application-chosen user id: 1 to 256 bytes of UTF-8
// without control characters.
func ValidateUserID(id string) error {
	if id == "" {
		return Errorf(EInvalid, "userId must not be empty")
	}
	if len(id) > MaxUserIDLen {
		return Errorf(EInvalid, "userId is longer than %d bytes", MaxUserIDLen)
	}
	if !utf8.ValidString(id) {
		return Errorf(EInvalid, "userId is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return Errorf(EInvalid, "userId contains a control character")
		}
	}
	return nil
}

// ValidateTopic checks a topic name: [A-Za-z0-9_.:-]{1,64}.
func ValidateTopic(name string) error {
	if !ValidName(name) {
		return Errorf(EInvalid, "topic must match [A-Za-z0-9_.:-]{1,64}")
	}
	return nil
}
