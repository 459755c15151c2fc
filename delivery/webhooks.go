package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// endpointRefresh is how stale this node's list of endpoints may get when another
// node adds or removes one (this node's own changes reload it at once).
const endpointRefresh = 3 * time.Second

type endpointCache struct {
	eps []tocsin.WebhookEndpoint
	at  time.Time
}

// endpoints returns the cached endpoint list, loading it when it never was.
func (e *Engine) endpoints(ctx context.Context) ([]tocsin.WebhookEndpoint, error) {
	if c := e.eps.Load(); c != nil {
		return c.eps, nil
	}
	if err := e.reloadEndpoints(ctx); err != nil {
		return nil, err
	}
	return e.eps.Load().eps, nil
}

func (e *Engine) reloadEndpoints(ctx context.Context) error {
	e.epsMu.Lock()
	defer e.epsMu.Unlock()
	eps, err := e.store.Webhooks(ctx)
	if err != nil {
		return err
	}
	e.eps.Store(&endpointCache{eps: eps, at: e.now()})
	return nil
}

// webhookBody is a webhook message's body (PRODUCT.md §3), as webhook.Body makes
// it: {"type": "<event>", "timestamp": "<RFC 3339 UTC, ms>", "data": {...}}.
func webhookBody(event string, ts time.Time, data json.RawMessage) []byte {
	b, _ := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{event, tocsin.FormatTimestamp(ts), data})
	return b
}

// streamMsgID is the webhook-id of a stream event: stable across retries and
// nodes, and header-safe whatever the user id holds.
func streamMsgID(stream tocsin.StreamID, seq uint64) string {
	h := sha256.Sum256([]byte(stream))
	return "msg_" + hex.EncodeToString(h[:8]) + "_" + strconv.FormatUint(seq, 10)
}

// deliverMsgID is the webhook-id of a notification's notification.deliver.
func deliverMsgID(notificationID string) string { return deliverPrefix + notificationID }

// deliveredID is the notification id of a notification.deliver message's id.
func deliveredID(msgID string) string { return strings.TrimPrefix(msgID, deliverPrefix) }

const deliverPrefix = "msg_deliver_"

// webhookEvent maps a stream event to the webhook event it is ("" for none).
func webhookEvent(name string) string {
	switch name {
	case tocsin.EventNotification:
		return tocsin.WebhookCreated
	case tocsin.EventUpdated, tocsin.EventRead, tocsin.EventUpdatedMany:
		return tocsin.WebhookUpdated
	case tocsin.EventDeleted:
		return tocsin.WebhookDeleted
	}
	if tocsin.ReservedEventName(name) {
		return "" // the protocol's own frames are not the application's events
	}
	return tocsin.WebhookCustom
}

// webhookData is the data of the webhook message of ev.
func webhookData(ev *tocsin.Event) (json.RawMessage, error) {
	userID, _ := ev.Stream.UserID()
	switch ev.Name {
	case tocsin.EventNotification, tocsin.EventUpdated:
		return ev.Data, nil
	case tocsin.EventDeleted:
		var d struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"id": d.ID, "userId": userID})
	case tocsin.EventRead, tocsin.EventUpdatedMany:
		// The event's data plus the user: {"ids"|"before", "readAt", "userId"} or
		// {"notifications": [...], "userId"}.
		var d map[string]json.RawMessage
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, err
		}
		d["userId"], _ = json.Marshal(userID)
		return json.Marshal(d)
	}
	return json.Marshal(struct {
		UserID string          `json:"userId"`
		Event  string          `json:"event"`
		Body   json.RawMessage `json:"body"`
	}{userID, ev.Name, ev.Data})
}

// committedTimeout bounds the outbox write made on a publisher's goroutine.
const committedTimeout = 5 * time.Second

// Committed is the hub's Config.Committed hook: it queues, durably and before the
// change is answered, one message per endpoint that wants each event. With no
// endpoints (the common case) it costs a pointer load.
func (e *Engine) Committed(evs []tocsin.Event) {
	if e.cfg.Push != nil {
		e.dismiss(evs)
	}
	e.committedWebhooks(evs)
}

func (e *Engine) committedWebhooks(evs []tocsin.Event) {
	if e.cfg.Webhooks == nil {
		return
	}
	c := e.eps.Load()
	if c != nil && len(c.eps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), committedTimeout)
	defer cancel()
	eps, err := e.endpoints(ctx)
	if err != nil {
		e.log.Error("webhook endpoints", "err", err)
		e.obs.Error("committed")
		return
	}
	now := e.now()
	var jobs []tocsin.Job
	for i := range evs {
		ev := &evs[i]
		event := webhookEvent(ev.Name)
		if event == "" {
			continue
		}
		var body []byte
		for k := range eps {
			ep := &eps[k]
			if !ep.Wants(event) {
				continue
			}
			if body == nil {
				data, err := webhookData(ev)
				if err != nil {
					e.log.Error("webhook body", "stream", ev.Stream, "seq", ev.Seq, "err", err)
					e.obs.Error("committed")
					break
				}
				body = webhookBody(event, ev.Time, data)
			}
			seq := strconv.FormatUint(ev.Seq, 10)
			userID, _ := ev.Stream.UserID()
			jobs = append(jobs, tocsin.Job{
				ID: e.ids.New(now), CreatedAt: now, Kind: tocsin.JobWebhook, UserID: userID,
				Key:    "wh:" + ep.ID + ":" + string(ev.Stream) + ":" + seq,
				Ref:    streamMsgID(ev.Stream, ev.Seq),
				Target: ep.ID, OrderKey: ep.ID + "|" + string(ev.Stream), Ord: int64(ev.Seq),
				DueAt: now, Payload: body,
			})
		}
	}
	if len(jobs) == 0 {
		return
	}
	if _, err := e.store.AddJobs(ctx, jobs); err != nil {
		e.log.Error("queueing webhook messages", "err", err, "messages", len(jobs))
		e.obs.Error("committed")
		return
	}
	e.added(jobs)
}

// runWebhook sends one outbox message: done on success, failed when the endpoint is
// gone or refuses it for good, else retried with backoff for RetryFor.
func (e *Engine) runWebhook(ctx context.Context, j tocsin.Job) error {
	if e.cfg.Webhooks == nil {
		return e.finish(ctx, j, tocsin.JobFailed, "webhooks are off", 0)
	}
	ep, err := e.store.Webhook(ctx, j.Target)
	switch {
	case tocsin.ErrorCodeOf(err) == tocsin.ENotFound:
		return e.webhookFailed(ctx, j, errGone, 0)
	case err != nil:
		return err
	}
	status, err := e.cfg.Webhooks.Send(ctx, ep, j.Ref, e.now(), j.Payload)
	if err == nil {
		if j.Channel == tocsin.ChannelWebhook {
			if err := e.record(ctx, j.UserID, deliveredID(j.Ref), tocsin.ChannelWebhook, tocsin.DeliverySent, "", j.Attempts); err != nil {
				return err
			}
		}
		return e.finish(ctx, j, tocsin.JobDone, "", status)
	}
	if status == 0 {
		status = statusOf(err)
	}
	if !tocsin.IsPermanent(err) {
		gaveUp, ferr := e.retry(ctx, j, err, status)
		if ferr != nil {
			return ferr
		}
		if !gaveUp {
			if j.Channel != tocsin.ChannelWebhook {
				return nil
			}
			return e.record(ctx, j.UserID, deliveredID(j.Ref), tocsin.ChannelWebhook, tocsin.DeliveryScheduled, retryingReason+err.Error(), j.Attempts)
		}
		return e.recordWebhookFailure(ctx, j, err)
	}
	return e.webhookFailed(ctx, j, err, status)
}

func (e *Engine) webhookFailed(ctx context.Context, j tocsin.Job, cause error, status int) error {
	if err := e.finish(ctx, j, tocsin.JobFailed, cause.Error(), status); err != nil {
		return err
	}
	return e.recordWebhookFailure(ctx, j, cause)
}

// recordWebhookFailure logs a notification.deliver message's failure on its
// notification (stream messages have no delivery-log row).
func (e *Engine) recordWebhookFailure(ctx context.Context, j tocsin.Job, cause error) error {
	if j.Channel != tocsin.ChannelWebhook {
		return nil
	}
	return e.record(ctx, j.UserID, deliveredID(j.Ref), tocsin.ChannelWebhook, tocsin.DeliveryFailed, cause.Error(), j.Attempts)
}

// CreateWebhook registers an endpoint for events. The returned endpoint holds its
// secret, which is shown only now.
func (e *Engine) CreateWebhook(ctx context.Context, rawURL string, events []string) (tocsin.WebhookEndpoint, error) {
	if err := validEvents(events); err != nil {
		return tocsin.WebhookEndpoint{}, err
	}
	if err := e.checkURL(rawURL); err != nil {
		return tocsin.WebhookEndpoint{}, err
	}
	if e.cfg.NewSecret == nil {
		return tocsin.WebhookEndpoint{}, tocsin.Errorf(tocsin.EInternal, "webhooks: no secret generator configured")
	}
	secret, err := e.cfg.NewSecret()
	if err != nil {
		return tocsin.WebhookEndpoint{}, err
	}
	now := e.now()
	ep := tocsin.WebhookEndpoint{
		ID: "wh_" + e.ids.New(now), URL: rawURL, Events: append([]string(nil), events...),
		Secret: secret, CreatedAt: now,
	}
	if err := e.store.PutWebhook(ctx, ep); err != nil {
		return tocsin.WebhookEndpoint{}, err
	}
	if err := e.reloadEndpoints(ctx); err != nil {
		e.log.Warn("reloading webhook endpoints", "err", err)
	}
	return ep, nil
}

// maxWebhookURLLen bounds an endpoint URL.
const maxWebhookURLLen = 2048

func (e *Engine) checkURL(raw string) error {
	if len(raw) > maxWebhookURLLen {
		return tocsin.Errorf(tocsin.EInvalid, "url is longer than %d bytes", maxWebhookURLLen)
	}
	var err error
	if e.cfg.CheckURL != nil {
		err = e.cfg.CheckURL(raw)
	} else if u, perr := url.Parse(raw); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		err = tocsin.Errorf(tocsin.EInvalid, "url must be an absolute http or https URL")
	}
	if err != nil && tocsin.ErrorCodeOf(err) == tocsin.EInternal {
		return tocsin.Errorf(tocsin.EInvalid, "url: %v", err)
	}
	return err
}

func validEvents(events []string) error {
	if len(events) == 0 {
		return tocsin.Errorf(tocsin.EInvalid, "events must name at least one of %v", tocsin.WebhookEventNames)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		known := false
		for _, name := range tocsin.WebhookEventNames {
			known = known || ev == name
		}
		if !known {
			return tocsin.Errorf(tocsin.EInvalid, "events: unknown event %q (events are %v)", ev, tocsin.WebhookEventNames)
		}
		if seen[ev] {
			return tocsin.Errorf(tocsin.EInvalid, "events: %q is listed twice", ev)
		}
		seen[ev] = true
	}
	return nil
}

// DeleteWebhook removes the endpoint; its pending messages fail when claimed.
func (e *Engine) DeleteWebhook(ctx context.Context, id string) error {
	if err := e.store.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	if err := e.reloadEndpoints(ctx); err != nil {
		e.log.Warn("reloading webhook endpoints", "err", err)
	}
	return nil
}

// Webhooks lists the endpoints, oldest first (without their secrets' use: the JSON
// form omits them).
func (e *Engine) Webhooks(ctx context.Context) ([]tocsin.WebhookEndpoint, error) {
	return e.store.Webhooks(ctx)
}

// WebhookDeliveries returns a page of the endpoint's messages, newest first;
// ENotFound for an unknown endpoint.
func (e *Engine) WebhookDeliveries(ctx context.Context, id, cursor string, limit int) ([]tocsin.Job, string, error) {
	if _, err := e.store.Webhook(ctx, id); err != nil {
		return nil, "", err
	}
	return e.store.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobWebhook, Target: id, Before: cursor, Limit: limit})
}
