package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

// Publish publishes in (validated by the caller). With DeliverAt it stores one
// scheduled job per recipient (one for a topic) and answers with the notifications
// they will become (scheduled true); a repeat of an idempotent request schedules
// nothing new and answers with the same ids (Replayed). Without it the hub
// publishes at once and the engine adds each notification's escalation timers.
func (e *Engine) Publish(ctx context.Context, in *tocsin.PublishInput, idem hub.Idempotency) (res tocsin.PublishResult, scheduled bool, err error) {
	if in.DeliverAt != nil {
		res, err = e.schedule(ctx, in, idem)
		return res, true, err
	}
	res, err = e.cfg.Hub.Publish(ctx, in, idem)
	if err != nil {
		return res, false, err
	}
	if err := e.addChannelJobs(ctx, in, &res); err != nil {
		// The notifications are stored and announced: the publish stands. A replay
		// of it (same Idempotency-Key) adds the timers that are missing.
		e.log.Error("adding escalation timers", "err", err)
		e.obs.Error("channel-jobs")
	}
	return res, false, nil
}

func (e *Engine) schedule(ctx context.Context, in *tocsin.PublishInput, idem hub.Idempotency) (tocsin.PublishResult, error) {
	at := in.DeliverAt.UTC().Truncate(time.Millisecond)
	one := *in // the payload of each job: one recipient, published when due
	one.DeliverAt, one.UserIDs, one.UserID = nil, nil, ""
	var gen tocsin.IDGen // fresh: the ids sort by delivery time, not by now
	tmpl := in.Template()
	targets := in.Recipients()
	if in.Topic != "" {
		targets = []string{""}
	}
	jobs := make([]tocsin.Job, 0, len(targets))
	res := tocsin.PublishResult{Notifications: make([]tocsin.Notification, 0, len(targets))}
	now := e.now()
	for _, u := range targets {
		one.UserID = u
		payload, err := json.Marshal(&one)
		if err != nil {
			return res, err
		}
		j := tocsin.Job{
			ID: e.ids.New(now), CreatedAt: now, Kind: tocsin.JobScheduled, UserID: u, DueAt: at, Payload: payload,
		}
		if idem.Key != "" {
			// The same request names the same jobs and ids, so a repeat adds nothing
			// and answers what the first one scheduled.
			seed := sha256.Sum256([]byte(fmt.Sprintf("%q %q %q %q", idem.Scope, idem.Key, u, in.Topic)))
			j.Key = fmt.Sprintf("sched:%x", seed[:16])
			j.Ref = tocsin.IDAt(at, [10]byte(seed[16:26]))
		} else {
			j.Ref = gen.New(at)
		}
		jobs = append(jobs, j)
		n := tmpl
		n.ID, n.UserID, n.Topic, n.CreatedAt = j.Ref, u, in.Topic, at
		res.Notifications = append(res.Notifications, n)
	}
	added, err := e.store.AddJobs(ctx, jobs)
	if err != nil {
		return tocsin.PublishResult{}, err
	}
	res.Replayed = idem.Key != "" && added == 0
	e.added(jobs)
	return res, nil
}

// runScheduled publishes a scheduled notification under the id it was answered
// with. The idempotency record (keyed by the job) makes a second run after a crash
// or a lost lease a replay: the notification enters the inbox exactly once.
func (e *Engine) runScheduled(ctx context.Context, j tocsin.Job) error {
	var in tocsin.PublishInput
	if err := json.Unmarshal(j.Payload, &in); err != nil {
		return e.finish(ctx, j, tocsin.JobFailed, "undecodable payload: "+err.Error(), 0)
	}
	res, err := e.cfg.Hub.PublishAs(ctx, &in, hub.Idempotency{Scope: "scheduled", Key: j.ID, RequestHash: j.ID}, []string{j.Ref})
	if err != nil {
		if code := tocsin.ErrorCodeOf(err); code == tocsin.EInvalid || code == tocsin.EConflict {
			return e.finish(ctx, j, tocsin.JobFailed, err.Error(), 0)
		}
		_, err := e.retry(ctx, j, err, 0)
		return err
	}
	if err := e.addChannelJobs(ctx, &in, &res); err != nil {
		return err // the lease ends, the replay publishes nothing and adds the timers
	}
	return e.finish(ctx, j, tocsin.JobDone, "published", 0)
}

// addChannelJobs adds the escalation timers of the notifications a publish of in
// stored: one per channel its plan sends on that this server can send on (canSend),
// due its delay after the notification, keyed so that a replayed publish adds none
// twice, in one store change. Deliveries shows a pending timer as "scheduled".
func (e *Engine) addChannelJobs(ctx context.Context, in *tocsin.PublishInput, res *tocsin.PublishResult) error {
	plan := in.Plan(&e.cfg.Defaults)
	sendable := make(tocsin.ChannelPlan, len(plan)) // plan may be the defaults' own map
	for c, d := range plan {
		if !d.Off && e.canSend(ctx, c) {
			sendable[c] = d
		}
	}
	plan = sendable
	if len(plan) == 0 {
		return nil
	}
	now := e.now()
	ns := res.Notifications
	var jobs []tocsin.Job
	for i := range ns {
		n := &ns[i]
		if n.UserID == "" {
			continue // a topic's notification has no user to reach
		}
		if len(res.Events) == len(ns) && res.Events[i].Name == tocsin.EventUpdated {
			continue // folded into the unread item of its group key: its timers run
		}
		for _, c := range tocsin.ChannelNames {
			d, ok := plan[c]
			if !ok || d.Off {
				continue
			}
			jobs = append(jobs, tocsin.Job{
				ID: e.ids.New(now), CreatedAt: now, Kind: tocsin.JobChannel, Key: "ch:" + n.ID + ":" + c,
				UserID: n.UserID, Ref: n.ID, Channel: c, DueAt: n.CreatedAt.Add(d.Delay),
			})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	if _, err := e.store.AddJobs(ctx, jobs); err != nil {
		return err
	}
	e.added(jobs)
	return nil
}

// ListScheduled returns a page of the user's pending scheduled notifications, as
// they will be delivered (createdAt is deliverAt), newest scheduled first.
func (e *Engine) ListScheduled(ctx context.Context, userID, cursor string, limit int) ([]tocsin.Notification, string, error) {
	jobs, next, err := e.store.ListJobs(ctx, tocsin.JobQuery{
		Kind: tocsin.JobScheduled, UserID: userID, State: tocsin.JobPending, Before: cursor, Limit: limit,
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]tocsin.Notification, 0, len(jobs))
	for _, j := range jobs {
		var in tocsin.PublishInput
		if err := json.Unmarshal(j.Payload, &in); err != nil {
			continue // never stored by this engine
		}
		n := in.Template()
		n.ID, n.UserID, n.Topic, n.CreatedAt = j.Ref, j.UserID, in.Topic, j.DueAt
		out = append(out, n)
	}
	return out, next, nil
}

// CancelScheduled cancels the scheduled notification id; ENotFound when none is
// pending (never scheduled, or delivered already).
func (e *Engine) CancelScheduled(ctx context.Context, id string) error {
	if !tocsin.ValidNotificationID(id) {
		return tocsin.Errorf(tocsin.ENotFound, "no scheduled notification %q", id)
	}
	_, err := e.store.CancelJob(ctx, tocsin.JobScheduled, id, e.now())
	if tocsin.ErrorCodeOf(err) == tocsin.EConflict && e.delivered(ctx, id) {
		// A claim still holds the job, but its publish is done (the job finishes just
		// after): to the caller it is delivered, which is what a 404 says.
		return tocsin.Errorf(tocsin.ENotFound, "scheduled notification %q was delivered", id)
	}
	return err
}

// delivered reports whether the scheduled notification id is in its user's inbox.
func (e *Engine) delivered(ctx context.Context, id string) bool {
	jobs, _, err := e.store.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobScheduled, Ref: id, Limit: 1})
	if err != nil || len(jobs) == 0 {
		return false
	}
	_, err = e.store.Get(ctx, jobs[0].UserID, id)
	return err == nil
}

// record writes the delivery-log row of a notification on a channel.
func (e *Engine) record(ctx context.Context, userID, id, channel, status, reason string, attempts int) error {
	e.obs.Delivered(channel, status)
	return e.store.RecordDelivery(ctx, tocsin.Delivery{
		NotificationID: id, UserID: userID, Channel: channel, Status: status, Reason: reason,
		At: e.now(), Attempts: attempts,
	})
}

// Deliveries is the delivery log of the user's notification id: its rows, and a
// "scheduled" row (due at its timer's time) for each channel timer still pending
// that has logged nothing yet. The timers are not logged when they are added: a
// publish then costs one store change for its timers, not one more per row.
func (e *Engine) Deliveries(ctx context.Context, userID, id string) ([]tocsin.Delivery, error) {
	rows, err := e.store.Deliveries(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	jobs, _, err := e.store.ListJobs(ctx, tocsin.JobQuery{
		Kind: tocsin.JobChannel, UserID: userID, Ref: id, State: tocsin.JobPending, Limit: len(tocsin.ChannelNames) * 2,
	})
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if slices.ContainsFunc(rows, func(d tocsin.Delivery) bool { return d.Channel == j.Channel }) {
			continue
		}
		rows = append(rows, tocsin.Delivery{NotificationID: id, UserID: userID, Channel: j.Channel,
			Status: tocsin.DeliveryScheduled, At: j.DueAt, Attempts: j.Attempts})
	}
	slices.SortStableFunc(rows, func(a, b tocsin.Delivery) int { return channelOrder(a.Channel) - channelOrder(b.Channel) })
	return rows, nil
}

func channelOrder(c string) int {
	for i, name := range tocsin.ChannelNames {
		if name == c {
			return i
		}
	}
	return len(tocsin.ChannelNames)
}

// canSend reports whether this server can send on channel at all: email needs
// --smtp-url, the webhook channel an endpoint that wants notification.deliver,
// push its sender and some user's subscription (pushInUse). A plan's channel it cannot send on gets no timer:
// a timer that could only log "skipped" would cost every publish store writes
// (issue 15's benchmark: half the publish throughput with the default plans).
func (e *Engine) canSend(ctx context.Context, channel string) bool {
	switch channel {
	case tocsin.ChannelEmail:
		return e.cfg.Email != nil
	case tocsin.ChannelWebhook:
		if e.cfg.Webhooks == nil {
			return false
		}
		eps, err := e.endpoints(ctx)
		if err != nil {
			return true // let the timer find out
		}
		return slices.ContainsFunc(eps, func(ep tocsin.WebhookEndpoint) bool { return ep.Wants(tocsin.WebhookDeliver) })
	case tocsin.ChannelPush:
		if e.cfg.Push != nil {
			return e.pushInUse(ctx)
		}
	}
	_, ok := e.cfg.Channels[channel]
	return ok
}
