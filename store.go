package tocsin

import (
	"context"
	"time"
)

// PublishRequest asks the store to create notifications, one per recipient, and
// append one event per notification to each recipient's stream, in one transaction.
type PublishRequest struct {
	// Notifications are complete (ID, UserID, CreatedAt set by the hub) and ready to
	// insert, one per recipient, in the order of the request.
	Notifications []Notification
	// IdempotencyScope and IdempotencyKey, when Key is non-empty, make the request
	// idempotent for 24 hours within the scope (the API key): a repeat with the same
	// RequestHash returns the first result with Replayed set and changes nothing; a
	// repeat with another RequestHash fails with EConflict.
	IdempotencyScope string
	IdempotencyKey   string
	RequestHash      string
	// Topic, when set, publishes the one notification of the request (its Topic set,
	// its UserID empty) to the topic's stream: an event, not an inbox item.
	Topic string
}

// PublishResult is what a publish stored: the notifications as stored and the events
// appended, in commit order. On a replayed idempotent request Events is empty.
//
// Contract where bytes cross packages (storetest's EventDataIsTheEncoding checks
// it): Events[i] is the event of Notifications[i], one for one, and its Data, as
// returned and as stored, is exactly AppendNotificationJSON of Notifications[i].
// That is the "notification" event of a new item, or the "notification:updated"
// of a group-key publish folded into the user's unread item with that key (which
// Notifications[i] then is). httpapi answers a publish with these bytes instead of
// encoding the notifications again, and a replay's notifications encode to them.
type PublishResult struct {
	Notifications []Notification
	Events        []Event
	Replayed      bool
}

// Ticket is a single-use credential that opens one user's stream.
type Ticket struct {
	Hash      string // hex SHA-256 of the ticket; the ticket itself is never stored
	UserID    string
	ExpiresAt time.Time
}

// Token scopes.
const (
	ScopeSubscribe = "subscribe" // GET /api/stream/{token}
	ScopePublish   = "publish"   // POST /api/hooks/{token}
)

// StreamToken is a capability: whoever holds the token may subscribe to, or publish
// to, one stream. Only the token's hash is stored.
type StreamToken struct {
	ID        string // public, for listing and revoking
	Hash      string // hex SHA-256 of the token
	Stream    StreamID
	Scope     string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// APIKeyRecord is an API key created with tocsin keys: only its hash is stored.
type APIKeyRecord struct {
	ID        string
	Hash      string // hex SHA-256 of the key
	Name      string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// IdempotencyWindow is how long an Idempotency-Key is remembered.
const IdempotencyWindow = 24 * time.Hour

// Store is the durable truth: notifications, the per-stream event logs, idempotency
// records and credentials. It is the union of the roles below, which sqlite and
// postgres implement and storetest checks; each consumer names only the roles it uses
// (the hub: Inbox, EventLog and Retention; the HTTP API: InboxReader, StreamTokens
// and Tickets), and only the code that opens a store holds all of it.
//
// Contract, which every implementation honours and storetest checks:
//   - A method that changes data returns only after the change is durable (committed
//     and synced as configured). Concurrent changes may be committed together in one
//     transaction (group commit), but each request's change is atomic.
//   - Each change appends its events to the affected streams in the same transaction.
//     Sequences per stream start at 1 and increase by exactly 1 in commit order: a
//     reader never sees seq N+1 without seq N.
//   - The events returned by a change carry their Stream, Seq, Time and, on the last
//     event of a stream in that transaction when the unread count changed, Unread.
//   - Every method that names a user only ever reads or changes that user's data: a
//     notification of another user is ENotFound, exactly as a missing one.
//   - Forget: a notification that is deleted, expires or is pruned takes its content
//     out of the event log in the same transaction: each earlier event of it in its
//     stream (its "notification", every "notification:updated") becomes
//     "notification:deleted" with data {"id": "..."} at the same Seq (Type and
//     Unread kept), so a resume from before replays that, never its title, body or
//     data, and event ids and order stay exact.
//   - Errors meant for clients are *Error; an unreachable store is EUnavailable.
type Store interface {
	Inbox
	EventLog
	Retention
	StreamTokens
	Tickets
	APIKeyRecords
	// DeliveryStore: the delivery engine's jobs, delivery log, profiles and
	// webhook endpoints (delivery.go).
	DeliveryStore
	// PushSubscriptions: the users' Web Push subscriptions (push.go).
	PushSubscriptions

	// Ping checks the store answers (for /readyz).
	Ping(ctx context.Context) error
	// Close flushes pending changes and releases the store.
	Close() error
}

// Inbox is the users' notifications: their changes, each appending its events
// (InboxWriter), and their reads (InboxReader). The Store contract applies.
type Inbox interface {
	InboxReader
	InboxWriter
}

// InboxWriter makes the changes that append events. Only the hub calls it, so that
// every change it commits is also put on the bus.
type InboxWriter interface {
	// Publish stores the notifications of req and their "notification" events, each
	// event's data the notification's JSON (see PublishResult).
	Publish(ctx context.Context, req *PublishRequest) (PublishResult, error)
	// AppendCustom appends a custom event (not an inbox item) to a stream.
	AppendCustom(ctx context.Context, stream StreamID, name string, data []byte, now time.Time) (Event, error)
	// Update applies p to the user's notification id and, when anything changed, appends
	// a "notification:updated" event. It returns the notification after the change and
	// the events appended (none when p changed nothing). A change of SnoozedUntil
	// removes the item's pending JobWake and, for a snooze, adds one due at it, in the
	// same transaction.
	Update(ctx context.Context, userID, id string, p Patch, now time.Time) (Notification, []Event, error)
	// UpdateMany applies p (read, seen, archived only) to each of the user's
	// notifications ids (distinct; at most MaxBulkIDs) in one transaction; ids that
	// are missing, expired or another user's are passed over exactly as absent ones.
	// When anything changed it appends ONE "notifications:updated" event
	// (EventUpdatedMany, data UpdatedManyData of the changed items, in the order of
	// ids) carrying the unread count when it moved, and returns the changed items.
	UpdateMany(ctx context.Context, userID string, ids []string, p Patch, now time.Time) ([]Notification, []Event, error)
	// Delete removes the user's notification id and appends "notification:deleted". In
	// the same transaction it forgets the notification's earlier events (see Forget).
	Delete(ctx context.Context, userID, id string, now time.Time) ([]Event, error)
	// ReadAll marks every unread, unarchived (and unexpired) notification of the user
	// read and returns how many it read. However many that is, it appends ONE
	// "notifications:read" event (EventRead, data ReadAllData: the ids, or the newest
	// id as "before" past ReadAllMaxIDs), which carries the user's unread count; it
	// appends nothing when nothing was unread. One event per item would flood every
	// stream of the user with thousands of events and cut them as slow consumers.
	ReadAll(ctx context.Context, userID string, now time.Time) (read int, evs []Event, err error)
}

// InboxReader reads one user's notifications.
type InboxReader interface {
	// Get returns the user's notification id.
	Get(ctx context.Context, userID, id string) (Notification, error)
	// List returns a page of the user's notifications, newest first, with the unread
	// count; with q.Q, the page of the user's notifications that match the search,
	// best first (search.go), under the same filters.
	List(ctx context.Context, userID string, q ListQuery) (Page, error)
	// UnreadCount returns the user's unread count.
	UnreadCount(ctx context.Context, userID string) (int, error)
	// Snapshot returns, read at one instant, the first page of q (which the caller sets
	// to status unread), the unread count and the head of the user's stream.
	Snapshot(ctx context.Context, userID string, q ListQuery) (Snapshot, error)
}

// EventLog reads the per-stream event logs that changes append to.
type EventLog interface {
	// Epoch identifies this store's history; it is part of every public event id.
	Epoch() string
	// Events returns up to limit events of stream with Seq > after, in order. It fails
	// with EGone when after is no longer resumable: older than the oldest kept event
	// (minus one) or beyond the stream's head.
	Events(ctx context.Context, stream StreamID, after uint64, limit int) ([]Event, error)
	// Head returns the Seq of the newest event of stream, 0 for an empty stream.
	Head(ctx context.Context, stream StreamID) (uint64, error)
	// Heads returns the heads of streams as Head would, aligned with them: heads[i]
	// is the head of streams[i], 0 for a stream without events. It reads them with
	// one query per HeadsBatch ids, so a node checks every stream it serves at
	// little cost (the hub's periodic head check, and its resync after a bus
	// reconnect).
	Heads(ctx context.Context, streams []StreamID) ([]uint64, error)
}

// HeadsBatch is how many stream ids one query of EventLog.Heads reads.
const HeadsBatch = 500

// Retention removes what is past its time: expired notifications (with events, for
// connected clients) and what retention no longer keeps (without).
type Retention interface {
	// Expire removes up to limit notifications whose ExpiresAt is at or before now and
	// appends a "notification:deleted" event for each, carrying the user's unread count
	// (reads hide expired items already; the event tells connected clients); it
	// forgets their earlier events. A topic notification (no inbox item) whose
	// ExpiresAt has passed is forgotten in its topic's stream, which gets a
	// "notification:deleted" too.
	Expire(ctx context.Context, now time.Time, limit int) ([]Event, error)
	// Prune enforces retention without appending events: it removes notifications
	// created before before (forgetting their later events, which outlive them), and
	// stream events created before before or more than depth behind their stream's
	// head (depth 0: no depth limit). A resume point older than what is kept is then
	// EGone from Events. It returns how many notifications and events it removed.
	Prune(ctx context.Context, before time.Time, depth int) (notifications, events int, err error)
}

// StreamTokens keeps the capability tokens of streams (only their hashes).
type StreamTokens interface {
	// PutToken stores a new stream token.
	PutToken(ctx context.Context, t StreamToken) error
	// Token returns the token whose hash is hash, revoked or not; an unknown hash is
	// ENotFound.
	Token(ctx context.Context, hash string) (StreamToken, error)
	// Tokens lists every token, newest first.
	Tokens(ctx context.Context) ([]StreamToken, error)
	// RevokeToken marks the token with that id or hash revoked (once) and returns it;
	// an unknown one is ENotFound.
	RevokeToken(ctx context.Context, idOrHash string, now time.Time) (StreamToken, error)
}

// Tickets keeps the single-use stream tickets (only their hashes).
type Tickets interface {
	// PutTicket stores a new ticket.
	PutTicket(ctx context.Context, t Ticket) error
	// RedeemTicket consumes the ticket with hash and returns its user. An unknown, used
	// or expired ticket is EUnauthorized.
	RedeemTicket(ctx context.Context, hash string, now time.Time) (userID string, err error)
}

// APIKeyRecords keeps the API keys created with tocsin keys (only their hashes).
type APIKeyRecords interface {
	// PutAPIKey stores a new API key; APIKey finds one by hash (revoked or not; an
	// unknown hash is ENotFound); APIKeys lists them, newest first; RevokeAPIKey marks
	// the key with that id revoked (once) and returns it.
	PutAPIKey(ctx context.Context, k APIKeyRecord) error
	APIKey(ctx context.Context, hash string) (APIKeyRecord, error)
	APIKeys(ctx context.Context) ([]APIKeyRecord, error)
	RevokeAPIKey(ctx context.Context, id string, now time.Time) (APIKeyRecord, error)
}
