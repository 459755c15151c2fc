package tocsin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The delivery engine's durable work (ARCHITECTURE.md "Where the new capabilities
// go"): every timer and every outbound message is a Job row in the store, claimed by
// whichever node is due, so a pending timer costs a row, not a goroutine, and
// survives the loss of any node.

// JobKind says what a job does when it is due.
type JobKind string

const (
	// JobScheduled publishes a scheduled notification (deliverAt). Ref is the id the
	// notification gets; UserID its recipient ("" for a topic); Payload the
	// PublishInput (one recipient, DeliverAt cleared) as JSON.
	JobScheduled JobKind = "scheduled"
	// JobChannel is an escalation timer: send notification Ref of UserID on Channel,
	// unless it was seen, read, archived or deleted by then.
	JobChannel JobKind = "channel"
	// JobWebhook is one message to webhook endpoint Target, in order with the other
	// jobs of its OrderKey; Payload is the message's JSON body, Ref its webhook-id.
	JobWebhook JobKind = "webhook"
	// JobDigest sends UserID's email digest: every email escalation recorded as
	// scheduled with ReasonDigest and still unseen.
	JobDigest JobKind = "digest"
	// JobPush is one Web Push message to subscription Target of UserID: a
	// notification (Channel "push", Ref the notification id) or a dismiss (Channel
	// ""). Payload is the delivery engine's envelope of the message and its options.
	JobPush JobKind = "push"
	// JobWake ends a snooze: notification Ref of UserID comes back as unread
	// (Patch.Wake) if it is still snoozed until at or before now. The store adds it
	// in the transaction of the PATCH that snoozes, and removes it in the one that
	// re-snoozes or unsnoozes, so no crash loses it and no stale one fires.
	JobWake JobKind = "wake"
)

// Job states.
const (
	JobPending = "pending" // waiting for DueAt, or claimed and running
	JobDone    = "done"    // finished; kept for history and de-duplication
	JobFailed  = "failed"  // given up (permanent failure, or retried for too long)
)

// Job is one durable unit of the delivery engine's work.
type Job struct {
	ID   string // a notification-shaped id (time-sortable)
	Kind JobKind
	// Key de-duplicates: adding a job whose Key is already stored (in any state)
	// adds nothing, so a replayed publish re-enqueues without sending twice. "" is
	// never a duplicate.
	Key     string
	UserID  string
	Ref     string // the notification id (scheduled, channel), or the webhook-id (webhook)
	Channel string // JobChannel
	Target  string // JobWebhook: the endpoint id; JobPush: the subscription id
	// OrderKey, when set, makes jobs run one at a time in (Ord, ID) order: a pending
	// job is not claimed while an earlier pending one of its OrderKey exists (a
	// webhook endpoint × stream: messages in order per user).
	OrderKey string
	Ord      int64
	DueAt    time.Time
	Payload  []byte

	State      string // JobPending, JobDone, JobFailed
	Attempts   int    // claims so far
	LastError  string // why the last attempt failed ("" when it did not)
	LastStatus int    // the HTTP status of the last attempt (webhooks), 0 if none
	CreatedAt  time.Time
	FinishedAt *time.Time
}

// JobQuery selects jobs to list: of one kind, optionally of one user or one
// target, newest first, a page of Limit after the id Before ("" for the first).
type JobQuery struct {
	Kind   JobKind
	UserID string // "" any user
	Target string // "" any target
	State  string // "" any state
	Ref    string // "" any ref (a notification id: its channel timers)
	Before string
	Limit  int
}

// Jobs is the durable timer wheel and outbox of the delivery engine. Claims are
// leases: a node that dies holding one lets it go when the lease ends, and another
// node takes the job (at least once; the engine makes each kind's effect
// idempotent where the effect is the store's own).
type Jobs interface {
	// AddJobs stores jobs as pending, skipping those whose Key is already stored,
	// and returns how many it added.
	AddJobs(ctx context.Context, jobs []Job) (int, error)
	// ClaimJobs leases up to limit pending jobs whose DueAt is at or before now and
	// whose lease (if any) has ended, earliest due first, for lease: each one's
	// Attempts grows by one. A job is not claimed while an earlier pending job of its
	// OrderKey exists. Concurrent callers (nodes) never claim the same job while its
	// lease runs (PostgreSQL: FOR UPDATE SKIP LOCKED).
	ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Job, error)
	// FinishJob ends a job: done or failed (state), with a note (the error or the
	// outcome) and the last HTTP status (0: none).
	FinishJob(ctx context.Context, id, state, note string, status int, now time.Time) error
	// RetryJob releases a claimed job to run again at dueAt, recording why.
	RetryJob(ctx context.Context, id string, dueAt time.Time, note string, status int) error
	// CancelJob removes a pending job of kind whose Ref is ref (a scheduled
	// notification: DELETE /api/scheduled/{id}) and returns it; ENotFound when there
	// is none pending (never scheduled, or already delivered); EConflict when a claim
	// holds it at now (it is running: cancelling then would answer 204 for a
	// notification that is delivered anyway).
	CancelJob(ctx context.Context, kind JobKind, ref string, now time.Time) (Job, error)
	// ListJobs returns a page of jobs matching q, newest first, and the id to pass as
	// Before for the next page ("" on the last).
	ListJobs(ctx context.Context, q JobQuery) ([]Job, string, error)
	// NextDue returns the earliest DueAt (or lease end, for a claimed job) among
	// pending jobs; ok is false when none is pending.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// PruneJobs removes finished jobs whose FinishedAt is before before.
	PruneJobs(ctx context.Context, before time.Time) (int, error)
}

// Delivery statuses (GET /api/notifications/{id}/deliveries).
const (
	DeliveryScheduled = "scheduled"
	DeliverySent      = "sent"
	DeliverySkipped   = "skipped"
	DeliveryFailed    = "failed"
)

// ReasonDigest marks an email escalation waiting for the user's digest.
const ReasonDigest = "digest"

// Delivery is the delivery log's row of one notification on one channel: the
// latest status, why, when, and how many attempts it took.
type Delivery struct {
	NotificationID string    `json:"-"`
	UserID         string    `json:"-"`
	Channel        string    `json:"channel"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason"`
	At             time.Time `json:"at"`
	Attempts       int       `json:"attempts"`
}

// DeliveryLog records how each notification went out on each channel.
type DeliveryLog interface {
	// RecordDelivery sets the row of (d.UserID, d.NotificationID, d.Channel) to d
	// (inserting or replacing it).
	RecordDelivery(ctx context.Context, d Delivery) error
	// Deliveries returns the rows of the user's notification, in channel order
	// (push, email, webhook); none is an empty list, not an error.
	Deliveries(ctx context.Context, userID, notificationID string) ([]Delivery, error)
	// PendingDeliveries returns up to limit rows of the user on channel whose status
	// is scheduled and reason is reason (the email digest's items), oldest first.
	PendingDeliveries(ctx context.Context, userID, channel, reason string, limit int) ([]Delivery, error)
	// PruneDeliveries removes rows whose At is before before.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
}

// Profiles keeps the users' profiles and preferences.
type Profiles interface {
	// PutProfile stores p (replacing the user's profile).
	PutProfile(ctx context.Context, p Profile) error
	// Profile returns the user's profile; ENotFound when none was stored.
	Profile(ctx context.Context, userID string) (Profile, error)
	// PutPreferences stores the user's preferences (replacing them).
	PutPreferences(ctx context.Context, userID string, p Preferences) error
	// Preferences returns the user's preferences, normalised; the zero Preferences
	// (normalised) when none were stored.
	Preferences(ctx context.Context, userID string) (Preferences, error)
}

// Webhook events (PRODUCT.md §3).
const (
	WebhookCreated = "notification.created"
	WebhookUpdated = "notification.updated"
	WebhookDeleted = "notification.deleted"
	WebhookDeliver = "notification.deliver"
	WebhookCustom  = "event.custom"
)

// WebhookEventNames lists the events an endpoint may subscribe to.
var WebhookEventNames = [...]string{WebhookCreated, WebhookUpdated, WebhookDeleted, WebhookDeliver, WebhookCustom}

// WebhookEndpoint is an application's endpoint for outbound webhooks.
type WebhookEndpoint struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"-"` // whsec_<base64>: shown once, when created
	CreatedAt time.Time `json:"createdAt"`
}

// Wants reports whether the endpoint subscribed to event.
func (w *WebhookEndpoint) Wants(event string) bool {
	for _, e := range w.Events {
		if e == event {
			return true
		}
	}
	return false
}

// WebhookEndpoints keeps the registered endpoints.
type WebhookEndpoints interface {
	PutWebhook(ctx context.Context, w WebhookEndpoint) error
	// Webhook returns the endpoint id; ENotFound when there is none.
	Webhook(ctx context.Context, id string) (WebhookEndpoint, error)
	// Webhooks lists every endpoint, oldest first.
	Webhooks(ctx context.Context) ([]WebhookEndpoint, error)
	// DeleteWebhook removes the endpoint; ENotFound when there is none. Its pending
	// jobs are failed by the engine when it finds the endpoint gone.
	DeleteWebhook(ctx context.Context, id string) error
}

// DeliveryStore is what the delivery engine keeps in the store.
type DeliveryStore interface {
	Jobs
	DeliveryLog
	Profiles
	WebhookEndpoints
}

// SendError is a channel's failed send: Permanent when trying again cannot help
// (a refused address, a 4xx other than 408, 409, 425 and 429, a message the peer rejects);
// otherwise the outbox retries with backoff, or after RetryAfter when the peer said.
type SendError struct {
	Permanent  bool
	RetryAfter time.Duration
	Status     int // the peer's status (HTTP, or SMTP reply code), 0 if none
	Err        error
}

func (e *SendError) Error() string {
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s failure (status %d): %v", kind, e.Status, e.Err)
	}
	return fmt.Sprintf("%s failure: %v", kind, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// PermanentError wraps err as a permanent failure.
func PermanentError(status int, err error) error {
	return &SendError{Permanent: true, Status: status, Err: err}
}

// RetryableError wraps err as a failure worth retrying (after, when the peer said).
func RetryableError(status int, after time.Duration, err error) error {
	return &SendError{Status: status, RetryAfter: after, Err: err}
}

// IsPermanent reports whether err is a permanent SendError. Any other error
// (a timeout, a refused connection) is worth retrying.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}
