package hub

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/tocsin/tocsin"
)

// Idempotency names a publish's Idempotency-Key within its API key's scope.
type Idempotency struct {
	Scope, Key, RequestHash string
}

// Publish stores one notification per recipient of in (validated by the caller) and,
// once they are durable, announces their events on the bus.
func (h *Hub) Publish(ctx context.Context, in *tocsin.PublishInput, idem Idempotency) (tocsin.PublishResult, error) {
	return h.publish(ctx, in, idem, nil)
}

// PublishAs is Publish with the notifications' ids given, one per recipient (or
// the topic's one): a scheduled notification keeps the id its schedule answered
// with. The caller makes the ids (tocsin.IDGen) and an Idempotency that makes a
// second run of the same schedule a replay.
func (h *Hub) PublishAs(ctx context.Context, in *tocsin.PublishInput, idem Idempotency, ids []string) (tocsin.PublishResult, error) {
	if want := len(in.Recipients()); in.Topic == "" && len(ids) != want || in.Topic != "" && len(ids) != 1 {
		return tocsin.PublishResult{}, tocsin.Errorf(tocsin.EInternal, "publish: %d ids for %d notifications", len(ids), want)
	}
	return h.publish(ctx, in, idem, ids)
}

func (h *Hub) publish(ctx context.Context, in *tocsin.PublishInput, idem Idempotency, ids []string) (tocsin.PublishResult, error) {
	start := time.Now()
	recipients := in.Recipients()
	now := h.now()
	id := func(i int) string {
		if ids != nil {
			return ids[i]
		}
		return h.ids.New(now)
	}
	tmpl := in.Template()
	// Sized once: grown append by append, a publish to 10,000 users copied its
	// notifications about five times over.
	ns := make([]tocsin.Notification, 0, len(recipients)+1)
	if in.Topic != "" {
		n := tmpl
		n.ID, n.Topic, n.CreatedAt = id(0), in.Topic, now
		ns = append(ns, n)
	}
	for i, u := range recipients {
		n := tmpl // Tags and Data are shared read-only between the copies
		n.ID = id(i)
		n.UserID = u
		n.CreatedAt = now
		ns = append(ns, n)
	}
	res, err := h.store.Publish(ctx, &tocsin.PublishRequest{
		Notifications:    ns,
		IdempotencyScope: idem.Scope,
		IdempotencyKey:   idem.Key,
		RequestHash:      idem.RequestHash,
		Topic:            in.Topic,
	})
	if err != nil {
		return res, err
	}
	h.announce(res.Events)
	h.obs.PublishLatency(time.Since(start))
	return res, nil
}

// PublishCustom appends a custom event (not an inbox item) to a user's stream. Its
// data is the application's body plus an ISO-8601 "timestamp".
func (h *Hub) PublishCustom(ctx context.Context, userID string, in tocsin.CustomEventInput) (tocsin.Event, error) {
	start := time.Now()
	if !tocsin.ValidName(in.Type) {
		return tocsin.Event{}, tocsin.Errorf(tocsin.EInvalid, "type must match [A-Za-z0-9_.:-]{1,64}")
	}
	// Every path that creates a custom event comes here, so the protocol's own names
	// are refused in one place.
	if tocsin.ReservedEventName(in.Type) {
		return tocsin.Event{}, tocsin.Errorf(tocsin.EInvalid,
			"type %q is reserved by the stream protocol (%s); choose another name, e.g. ORDER_SHIPPED", in.Type, tocsin.ReservedEventNames)
	}
	now := h.now()
	data, err := customData(in.Body, now)
	if err != nil {
		return tocsin.Event{}, err
	}
	ev, err := h.store.AppendCustom(ctx, tocsin.UserStream(userID), in.Type, data, now)
	if err != nil {
		return ev, err
	}
	h.announce([]tocsin.Event{ev})
	h.obs.PublishLatency(time.Since(start))
	return ev, nil
}

// customData merges "timestamp" into the body object (a body's own "timestamp" wins
// nothing: the server's time is the one clients can trust).
func customData(body json.RawMessage, now time.Time) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if len(body) > 0 && string(body) != "null" {
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, tocsin.Errorf(tocsin.EInvalid, "body must be a JSON object")
		}
	}
	ts, _ := json.Marshal(tocsin.FormatTimestamp(now))
	obj["timestamp"] = ts
	return json.Marshal(obj)
}

// Update applies a user's change of read state or snooze (checked here, so that
// every way in refuses the same snoozes), or a snooze's wake (tocsin.Patch.Wake).
func (h *Hub) Update(ctx context.Context, userID, id string, p tocsin.Patch) (tocsin.Notification, error) {
	now := h.now()
	if err := p.ValidateSnooze(now); err != nil {
		return tocsin.Notification{}, err
	}
	n, evs, err := h.store.Update(ctx, userID, id, p, now)
	if err != nil {
		return n, err
	}
	h.announce(evs)
	return n, nil
}

// UpdateMany applies p (read, seen, archived) to the user's notifications ids,
// duplicates collapsed, and returns those it changed: one "notifications:updated"
// event on the user's stream for all of them (none when nothing changed).
func (h *Hub) UpdateMany(ctx context.Context, userID string, ids []string, p tocsin.Patch) ([]tocsin.Notification, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	slices.Reverse(ids) // newest first, as lists are
	ns, evs, err := h.store.UpdateMany(ctx, userID, ids, p, h.now())
	if err != nil {
		return nil, err
	}
	h.announce(evs)
	return ns, nil
}

// Delete removes a user's notification.
func (h *Hub) Delete(ctx context.Context, userID, id string) error {
	evs, err := h.store.Delete(ctx, userID, id, h.now())
	if err != nil {
		return err
	}
	h.announce(evs)
	return nil
}

// ReadAll marks all of a user's notifications read and returns how many changed:
// one "notifications:read" event on the user's stream, however many.
func (h *Hub) ReadAll(ctx context.Context, userID string) (int, error) {
	n, evs, err := h.store.ReadAll(ctx, userID, h.now())
	if err != nil {
		return 0, err
	}
	h.announce(evs)
	return n, nil
}

// announce hands committed events to the bus. A bus fault never fails the request:
// the events are durable, and subscribers find any gap from the store.
func (h *Hub) announce(evs []tocsin.Event) {
	if len(evs) == 0 {
		return
	}
	if h.cfg.Committed != nil {
		h.cfg.Committed(evs)
	}
	h.obs.EventsPublished(len(evs))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.bus.Publish(ctx, evs); err != nil {
		// This node's own connections need not wait for the bus: deliver to them
		// directly (a late copy from the bus is dropped by sequence). Other nodes
		// catch up from the store when their bus connection resyncs.
		if !h.busFailing.Swap(true) { // once per outage, not once per publish
			h.log.Warn("bus publish failed; delivering locally, other nodes catch up from the store", "err", err)
		}
		for _, ev := range evs {
			h.deliver(ev)
		}
		return
	}
	if h.busFailing.Swap(false) {
		h.log.Info("bus publishes succeed again")
	}
}
