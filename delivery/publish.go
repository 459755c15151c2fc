package delivery

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
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
// stored: one per channel its plan sends on, due its delay after the notification,
// keyed so that a replayed publish adds none twice. Each is logged as scheduled
// first, unless the publish is a replay (its rows may have moved on: sent,
// skipped), so a timer that fires at once never has its outcome overwritten.
func (e *Engine) addChannelJobs(ctx context.Context, in *tocsin.PublishInput, res *tocsin.PublishResult) error {
	plan := in.Plan(&e.cfg.Defaults)
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
	if !res.Replayed {
		if err := e.recordScheduled(ctx, jobs); err != nil {
			return err
		}
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
	return err
}

// record writes the delivery-log row of a notification on a channel.
func (e *Engine) record(ctx context.Context, userID, id, channel, status, reason string, attempts int) error {
	e.obs.Delivered(channel, status)
	return e.store.RecordDelivery(ctx, tocsin.Delivery{
		NotificationID: id, UserID: userID, Channel: channel, Status: status, Reason: reason,
		At: e.now(), Attempts: attempts,
	})
}

// recordParallel is how many delivery-log rows recordScheduled writes at once.
const recordParallel = 16

// recordScheduled logs the channel jobs' rows as scheduled, several at a time: the
// store commits concurrent writes together (group commit), so a publish to
// thousands of users pays a few commits, not one per row.
func (e *Engine) recordScheduled(ctx context.Context, jobs []tocsin.Job) error {
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	sem := make(chan struct{}, recordParallel)
	for i := range jobs {
		errMu.Lock()
		failed := first != nil
		errMu.Unlock()
		if failed {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(j *tocsin.Job) {
			defer func() { <-sem; wg.Done() }()
			if err := e.record(ctx, j.UserID, j.Ref, j.Channel, tocsin.DeliveryScheduled, "", 0); err != nil {
				errMu.Lock()
				first = cmp.Or(first, err)
				errMu.Unlock()
			}
		}(&jobs[i])
	}
	wg.Wait()
	return first
}
