package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// Channel carries one notification to its user on one channel, once the engine has
// decided it goes (not seen, allowed, outside quiet hours). It returns the
// delivery-log outcome (sent; skipped or scheduled with a reason), or an error: a
// tocsin.SendError that is permanent fails the delivery, any other is retried with
// backoff. Web Push registers one under tocsin.ChannelPush (Config.Channels).
type Channel interface {
	Deliver(ctx context.Context, d Escalation) (Outcome, error)
}

// Escalation is what a channel is given: the notification, its user's profile and
// the job (for its attempts).
type Escalation struct {
	Job          tocsin.Job
	Notification tocsin.Notification
	Profile      tocsin.Profile
}

// Outcome is a delivery-log status and reason. The zero Outcome says the channel
// logged the delivery itself, before queueing work that logs its end (a digest, a
// webhook message), so the engine's row never overwrites a later one.
type Outcome struct {
	Status, Reason string
}

// errDeferred: the escalation waits (quiet hours); its job was moved, not finished.
var errDeferred = errors.New("deferred")

// retryingReason starts the reason of a row whose send failed and will be retried.
const retryingReason = "retrying after: "

func skipped(reason string) Outcome { return Outcome{tocsin.DeliverySkipped, reason} }

// runChannel fires an escalation timer: unless the notification was seen, read,
// archived or deleted, or the user's preferences say no, it goes out on the
// channel now, or at the end of the user's quiet hours.
func (e *Engine) runChannel(ctx context.Context, j tocsin.Job) error {
	if j.LastError == tocsin.ReasonQuietHours {
		// The claim that deferred it to the end of the quiet hours was no attempt
		// to send: the log and the retry limit count only sends.
		j.Attempts--
	}
	out, err := e.escalate(ctx, j)
	if errors.Is(err, errDeferred) {
		return nil
	}
	if err != nil {
		if tocsin.ErrorCodeOf(err) == tocsin.EUnavailable || ctx.Err() != nil {
			return err // the store: the lease ends and the timer fires again
		}
		status := statusOf(err)
		if !tocsin.IsPermanent(err) {
			gaveUp, ferr := e.retry(ctx, j, err, status)
			if ferr != nil {
				return ferr
			}
			if !gaveUp { // the row says why it is still to come
				return e.record(ctx, j.UserID, j.Ref, j.Channel, tocsin.DeliveryScheduled, retryingReason+err.Error(), j.Attempts)
			}
		} else if ferr := e.finish(ctx, j, tocsin.JobFailed, err.Error(), status); ferr != nil {
			return ferr
		}
		return e.record(ctx, j.UserID, j.Ref, j.Channel, tocsin.DeliveryFailed, err.Error(), j.Attempts)
	}
	if out.Status != "" {
		if err := e.record(ctx, j.UserID, j.Ref, j.Channel, out.Status, out.Reason, j.Attempts); err != nil {
			return err
		}
	}
	return e.finish(ctx, j, tocsin.JobDone, strings.TrimSpace(out.Status+" "+out.Reason), 0)
}

func (e *Engine) escalate(ctx context.Context, j tocsin.Job) (Outcome, error) {
	n, err := e.store.Get(ctx, j.UserID, j.Ref)
	switch {
	case tocsin.ErrorCodeOf(err) == tocsin.ENotFound:
		return skipped(tocsin.ReasonDeleted), nil
	case err != nil:
		return Outcome{}, err
	}
	if reason := unseenOrWhy(&n); reason != "" {
		return skipped(reason), nil
	}
	prefs, prof, err := e.userSettings(ctx, j.UserID)
	if err != nil {
		return Outcome{}, err
	}
	now := e.now()
	if ok, reason := prefs.Allows(j.Channel, n.Type, n.Topic, now); !ok {
		return skipped(reason), nil
	}
	if q := prefs.QuietHours; q != nil && n.Priority < 5 {
		if end, quiet := q.Until(now, prof.Location()); quiet {
			// Not a failed attempt: the job waits, and the log says why.
			if err := ended(e.store.RetryJob(ctx, j.ID, end, tocsin.ReasonQuietHours, 0)); err != nil {
				return Outcome{}, err
			}
			if err := e.record(ctx, j.UserID, j.Ref, j.Channel, tocsin.DeliveryScheduled, tocsin.ReasonQuietHours, 0); err != nil {
				return Outcome{}, err
			}
			return Outcome{}, errDeferred
		}
	}
	c := e.channels[j.Channel]
	if c == nil {
		return skipped(tocsin.ReasonNoChannel), nil
	}
	return c.Deliver(ctx, Escalation{Job: j, Notification: n, Profile: prof})
}

// unseenOrWhy is "" while n still calls for its user, else why not.
func unseenOrWhy(n *tocsin.Notification) string {
	switch {
	case n.ArchivedAt != nil:
		return tocsin.ReasonArchived
	case n.ReadAt != nil:
		return tocsin.ReasonRead
	case n.SeenAt != nil:
		return tocsin.ReasonSeen
	}
	return ""
}

// userSettings loads the user's preferences and profile (a user without a stored
// profile has the zero one: no email, UTC).
func (e *Engine) userSettings(ctx context.Context, userID string) (tocsin.Preferences, tocsin.Profile, error) {
	prefs, err := e.store.Preferences(ctx, userID)
	if err != nil {
		return prefs, tocsin.Profile{}, err
	}
	prof, err := e.store.Profile(ctx, userID)
	if tocsin.ErrorCodeOf(err) == tocsin.ENotFound {
		prof, err = tocsin.Profile{UserID: userID}, nil
	}
	return prefs, prof, err
}

// emailChannel sends at once, or (with a digest window) leaves the notification for
// the user's digest job at the window's end.
type emailChannel struct{ e *Engine }

func (c emailChannel) Deliver(ctx context.Context, d Escalation) (Outcome, error) {
	e := c.e
	switch {
	case d.Profile.Email == "":
		return skipped(tocsin.ReasonNoAddress), nil
	case e.cfg.Email == nil:
		return skipped(tocsin.ReasonNoChannel), nil
	case e.cfg.Digest <= 0:
		unread, err := e.store.UnreadCount(ctx, d.Notification.UserID)
		if err != nil {
			return Outcome{}, err
		}
		if err := e.cfg.Email.Send(ctx, d.Profile, []tocsin.Notification{d.Notification}, unread); err != nil {
			return Outcome{}, err
		}
		return Outcome{Status: tocsin.DeliverySent}, nil
	}
	// Logged before the digest job is added, so the digest (due later) finds it.
	if err := e.record(ctx, d.Job.UserID, d.Job.Ref, tocsin.ChannelEmail, tocsin.DeliveryScheduled, tocsin.ReasonDigest, d.Job.Attempts); err != nil {
		return Outcome{}, err
	}
	w := e.now().UnixNano() / int64(e.cfg.Digest)
	key := "digest:" + d.Job.UserID + ":" + strconv.FormatInt(w, 10)
	return Outcome{}, e.addDigest(ctx, d.Job.UserID, key, time.Unix(0, (w+1)*int64(e.cfg.Digest)).UTC())
}

// addDigest adds the user's digest job (once per key: one per window).
func (e *Engine) addDigest(ctx context.Context, userID, key string, due time.Time) error {
	now := e.now()
	job := tocsin.Job{
		ID: e.ids.New(now), CreatedAt: now, Kind: tocsin.JobDigest, UserID: userID, Key: key, DueAt: due,
	}
	if _, err := e.store.AddJobs(ctx, []tocsin.Job{job}); err != nil {
		return err
	}
	e.added([]tocsin.Job{job})
	return nil
}

// moreDigest follows a digest that took a full page of items with another at
// once, for the items past it.
func (e *Engine) moreDigest(ctx context.Context, j tocsin.Job, items int) error {
	if items < maxDigest {
		return nil
	}
	return e.addDigest(ctx, j.UserID, "digest:"+j.UserID+":after:"+j.ID, e.now())
}

// maxDigest bounds one digest email.
const maxDigest = 100

// runDigest sends the user's waiting email escalations as one email: those still
// unseen and allowed; the others are logged skipped with their reason.
func (e *Engine) runDigest(ctx context.Context, j tocsin.Job) error {
	items, err := e.store.PendingDeliveries(ctx, j.UserID, tocsin.ChannelEmail, tocsin.ReasonDigest, maxDigest)
	if err != nil {
		return err
	}
	prefs, prof, err := e.userSettings(ctx, j.UserID)
	if err != nil {
		return err
	}
	now := e.now()
	var ns []tocsin.Notification
	for _, it := range items {
		reason := ""
		n, err := e.store.Get(ctx, j.UserID, it.NotificationID)
		switch {
		case tocsin.ErrorCodeOf(err) == tocsin.ENotFound:
			reason = tocsin.ReasonDeleted
		case err != nil:
			return err
		default:
			reason = unseenOrWhy(&n)
		}
		if reason == "" {
			if ok, why := prefs.Allows(tocsin.ChannelEmail, n.Type, n.Topic, now); !ok {
				reason = why
			} else if prof.Email == "" {
				reason = tocsin.ReasonNoAddress
			} else if e.cfg.Email == nil {
				reason = tocsin.ReasonNoChannel
			}
		}
		if reason != "" {
			if err := e.record(ctx, j.UserID, it.NotificationID, tocsin.ChannelEmail, tocsin.DeliverySkipped, reason, it.Attempts); err != nil {
				return err
			}
			continue
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		if err := e.moreDigest(ctx, j, len(items)); err != nil {
			return err
		}
		return e.finish(ctx, j, tocsin.JobDone, "nothing to send", 0)
	}
	// In the order they were published (the log's order is that of the timers,
	// which concurrent workers may have reversed).
	slices.SortFunc(ns, func(a, b tocsin.Notification) int { return cmp.Compare(a.ID, b.ID) })
	status, note := tocsin.DeliverySent, ""
	unread, err := e.store.UnreadCount(ctx, j.UserID)
	if err == nil {
		err = e.cfg.Email.Send(ctx, prof, ns, unread)
	}
	if err != nil {
		if !tocsin.IsPermanent(err) {
			if gaveUp, ferr := e.retry(ctx, j, err, statusOf(err)); ferr != nil || !gaveUp {
				return ferr // the items stay scheduled for the next attempt
			}
		} else if ferr := e.finish(ctx, j, tocsin.JobFailed, err.Error(), statusOf(err)); ferr != nil {
			return ferr
		}
		status, note = tocsin.DeliveryFailed, err.Error()
	}
	for i := range ns {
		if err := e.record(ctx, j.UserID, ns[i].ID, tocsin.ChannelEmail, status, note, j.Attempts); err != nil {
			return err
		}
	}
	if status != tocsin.DeliverySent {
		return nil
	}
	if err := e.moreDigest(ctx, j, len(items)); err != nil {
		return err
	}
	return e.finish(ctx, j, tocsin.JobDone, fmt.Sprintf("sent %d", len(ns)), 0)
}

// webhookChannel queues notification.deliver to every endpoint that wants it, in
// order with the user's other webhook messages; the webhook job logs the outcome.
type webhookChannel struct{ e *Engine }

func (c webhookChannel) Deliver(ctx context.Context, d Escalation) (Outcome, error) {
	e := c.e
	if e.cfg.Webhooks == nil {
		return skipped(tocsin.ReasonNoChannel), nil
	}
	eps, err := e.endpoints(ctx)
	if err != nil {
		return Outcome{}, err
	}
	stream := tocsin.UserStream(d.Notification.UserID)
	head, err := e.store.Head(ctx, stream)
	if err != nil {
		return Outcome{}, err
	}
	data, err := json.Marshal(struct {
		Notification *tocsin.Notification `json:"notification"`
		User         *tocsin.Profile      `json:"user"`
	}{&d.Notification, &d.Profile})
	if err != nil {
		return Outcome{}, err
	}
	now := e.now()
	body := webhookBody(tocsin.WebhookDeliver, now, data)
	var jobs []tocsin.Job
	for i := range eps {
		if !eps[i].Wants(tocsin.WebhookDeliver) {
			continue
		}
		jobs = append(jobs, tocsin.Job{
			ID: e.ids.New(now), CreatedAt: now, Kind: tocsin.JobWebhook, Key: "wh:" + eps[i].ID + ":deliver:" + d.Notification.ID,
			UserID: d.Notification.UserID, Ref: deliverMsgID(d.Notification.ID), Channel: tocsin.ChannelWebhook,
			Target: eps[i].ID, OrderKey: eps[i].ID + "|" + string(stream), Ord: int64(head), DueAt: now, Payload: body,
		})
	}
	if len(jobs) == 0 {
		return skipped(tocsin.ReasonNoEndpoint), nil
	}
	// The webhook jobs log sent or failed; until then the row says scheduled.
	if err := e.record(ctx, d.Job.UserID, d.Job.Ref, tocsin.ChannelWebhook, tocsin.DeliveryScheduled, "", d.Job.Attempts); err != nil {
		return Outcome{}, err
	}
	if _, err := e.store.AddJobs(ctx, jobs); err != nil {
		return Outcome{}, err
	}
	e.added(jobs)
	return Outcome{}, nil
}

// errGone is why a message to a deleted endpoint fails.
var errGone = errors.New("the endpoint was deleted")
