package delivery

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/postgres"
	"github.com/tocsin/tocsin/sqlite"
)

// clock is real time moved by an offset, shared by the hub and the engine, so a
// test can stand at 23:30 in New York or jump to the end of a digest window while
// timers still run in real time.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Set makes Now return t at this instant.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = time.Until(t)
}

// recEmail records the emails the engine sends; fail, when set, makes a send fail.
type recEmail struct {
	mu    sync.Mutex
	sends [][]string // the notification ids of each send
	to    []string
	fail  func(call int) error
}

func (r *recEmail) Send(_ context.Context, to tocsin.Profile, ns []tocsin.Notification, unread int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(len(r.sends) + 1); err != nil {
			return err
		}
	}
	ids := make([]string, len(ns))
	for i := range ns {
		ids[i] = ns[i].ID
	}
	r.sends = append(r.sends, ids)
	r.to = append(r.to, to.Email)
	return nil
}

// SetFail replaces the failure rule while the engine runs.
func (r *recEmail) SetFail(f func(call int) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

func (r *recEmail) Sends() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sends)
}

// recWebhook records the webhook messages the engine sends; fail, when set, decides
// the outcome of each call (nil: 200).
type recWebhook struct {
	mu    sync.Mutex
	calls []whCall
	fail  func(c whCall, callsOfMsg int) error
}

type whCall struct {
	Endpoint, MsgID string
	Body            map[string]json.RawMessage
	OK              bool
}

func (r *recWebhook) Send(_ context.Context, ep tocsin.WebhookEndpoint, msgID string, _ time.Time, body []byte) (int, error) {
	c := whCall{Endpoint: ep.ID, MsgID: msgID}
	if err := json.Unmarshal(body, &c.Body); err != nil {
		return 0, tocsin.PermanentError(0, err)
	}
	r.mu.Lock()
	n := 1
	for _, p := range r.calls {
		if p.MsgID == msgID && p.Endpoint == ep.ID {
			n++
		}
	}
	fail := r.fail
	r.mu.Unlock()
	var err error
	if fail != nil {
		err = fail(c, n)
	}
	c.OK = err == nil
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	if err != nil {
		return statusOf(err), err
	}
	return 200, nil
}

// SetFail replaces the failure rule while the engine runs.
func (r *recWebhook) SetFail(f func(c whCall, callsOfMsg int) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

func (r *recWebhook) Calls() []whCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

type rig struct {
	t     *testing.T
	ctx   context.Context
	store Store
	hub   *hub.Hub
	eng   *Engine
	clock *clock
	email *recEmail
	wh    *recWebhook
}

// newRig runs a hub over membus and an engine over a fresh SQLite store, with
// recording senders; cfg adjusts the engine's config before New.
func newRig(t *testing.T, cfg func(*Config)) *rig {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/tocsin.db", sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, st, cfg)
	t.Cleanup(func() { st.Close() })
	return r
}

// rigMaker makes a rig over one kind of store.
type rigMaker func(t *testing.T, cfg func(*Config)) *rig

// newPGRig is newRig over a fresh PostgreSQL schema.
func newPGRig(t *testing.T, cfg func(*Config)) *rig {
	t.Helper()
	st, err := postgres.Open(context.Background(), pgtest.FreshSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, st, cfg)
	t.Cleanup(func() { st.Close() })
	return r
}

// bothStores runs fn against SQLite and PostgreSQL.
func bothStores(t *testing.T, fn func(t *testing.T, mk rigMaker)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newRig) })
	t.Run("postgres", func(t *testing.T) { fn(t, newPGRig) })
}

// hubStore is what a rig's store must be: the hub's and the engine's.
type hubStore interface {
	hub.Store
	Store
}

func startRig(t *testing.T, st hubStore, adjust func(*Config)) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, ctx: ctx, store: st, clock: &clock{}, email: &recEmail{}, wh: &recWebhook{}}
	bus := membus.New()
	var eng *Engine
	h := hub.New(hub.Config{
		Store: st, Bus: bus, Now: r.clock.Now, HeadCheck: -1,
		Committed: func(evs []tocsin.Event) { eng.Committed(evs) },
	})
	cfg := Config{
		Store: st, Hub: h, Email: r.email, Webhooks: r.wh,
		NewSecret: func() (string, error) { return "whsec_dGVzdA==", nil },
		Poll:      50 * time.Millisecond, Lease: 10 * time.Second, Workers: 4,
		Logger: slog.New(slog.DiscardHandler), Now: r.clock.Now,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	eng = New(cfg)
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eng.Start(ctx)
	r.hub, r.eng = h, eng
	t.Cleanup(func() {
		eng.Close()
		h.Close()
		cancel()
		bus.Close()
	})
	return r
}

// publish publishes in through the engine and fails the test on an error.
func (r *rig) publish(in tocsin.PublishInput, idem hub.Idempotency) (tocsin.PublishResult, bool) {
	r.t.Helper()
	if err := in.Validate(r.clock.Now()); err != nil {
		r.t.Fatal(err)
	}
	res, scheduled, err := r.eng.Publish(r.ctx, &in, idem)
	if err != nil {
		r.t.Fatal(err)
	}
	return res, scheduled
}

func (r *rig) profile(p tocsin.Profile) {
	r.t.Helper()
	if err := r.store.PutProfile(r.ctx, p); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) prefs(userID string, p tocsin.Preferences) {
	r.t.Helper()
	p.Normalize()
	if err := r.store.PutPreferences(r.ctx, userID, p); err != nil {
		r.t.Fatal(err)
	}
}

// delivery waits for the delivery-log row of (user, id, channel) to reach status.
func (r *rig) delivery(userID, id, channel, status string) tocsin.Delivery {
	r.t.Helper()
	return r.deliveryWhy(userID, id, channel, status, "*")
}

// deliveryWhy is delivery with the row's reason too ("*": any).
func (r *rig) deliveryWhy(userID, id, channel, status, reason string) tocsin.Delivery {
	r.t.Helper()
	var last []tocsin.Delivery
	ok := waitFor(func() bool {
		var err error
		last, err = r.eng.Deliveries(r.ctx, userID, id)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, d := range last {
			if d.Channel == channel && d.Status == status && (reason == "*" || d.Reason == reason) {
				return true
			}
		}
		return false
	})
	if !ok {
		r.t.Fatalf("%s/%s on %s: no %s (%s) row; rows %+v", userID, id, channel, status, reason, last)
	}
	for _, d := range last {
		if d.Channel == channel {
			return d
		}
	}
	panic("unreachable")
}

// inbox lists the user's notifications.
func (r *rig) inbox(userID string) []tocsin.Notification {
	r.t.Helper()
	p, err := r.store.List(r.ctx, userID, tocsin.ListQuery{Status: tocsin.StatusAll, Limit: 100, Now: r.clock.Now()})
	if err != nil {
		r.t.Fatal(err)
	}
	return p.Notifications
}

// waitFor polls cond for up to 10 seconds.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
