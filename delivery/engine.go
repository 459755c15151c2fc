// Package delivery is the delivery engine (ARCHITECTURE.md "Where the new
// capabilities go"): it decides whether, when and where a notification goes beyond
// the inbox (preferences, quiet hours, escalation delays, the "unless seen by then"
// rule), records the delivery log, and runs every durable timer and outbox message.
//
// All of its pending work is tocsin.Job rows in the store. One loop per node claims
// due jobs in batches (a lease each, so a dead node's jobs are taken over) and hands
// them to a fixed pool of workers: a pending timer costs a row, never a goroutine,
// and a slow endpoint ties up at most one worker per message in flight.
package delivery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

// WebhookSender sends one signed message to an endpoint (webhook.Sender). The error
// is a tocsin.SendError when the endpoint answered (permanent or retryable); any
// other error is retried.
type WebhookSender interface {
	Send(ctx context.Context, ep tocsin.WebhookEndpoint, msgID string, ts time.Time, body []byte) (int, error)
}

// EmailSender sends one email (or one digest, for several notifications) to a user
// (email.Mailer).
type EmailSender interface {
	Send(ctx context.Context, to tocsin.Profile, ns []tocsin.Notification, unread int) error
}

// Publisher is what the engine needs of the hub (*hub.Hub).
type Publisher interface {
	PublishAs(ctx context.Context, in *tocsin.PublishInput, idem hub.Idempotency, ids []string) (tocsin.PublishResult, error)
	Publish(ctx context.Context, in *tocsin.PublishInput, idem hub.Idempotency) (tocsin.PublishResult, error)
	// Update changes one of a user's notifications (a snooze's wake).
	Update(ctx context.Context, userID, id string, p tocsin.Patch) (tocsin.Notification, error)
}

// Store is what the engine keeps and reads: its jobs, log, profiles and endpoints,
// the inbox (to check a notification's state when its timer fires) and the event
// log (the head of a user's stream, to order a notification.deliver message).
type Store interface {
	tocsin.DeliveryStore
	tocsin.InboxReader
	tocsin.EventLog
	tocsin.PushSubscriptions
}

// Config wires an Engine. Store and Hub are required; zero values of the rest take
// the defaults in parentheses.
type Config struct {
	Store    Store
	Hub      Publisher
	Defaults tocsin.ChannelDefaults
	// Email nil: email is not configured (escalations skipped, ReasonNoChannel).
	Email EmailSender
	// Webhooks nil: outbound webhooks are off (nothing is queued for endpoints).
	Webhooks WebhookSender
	// Push nil: Web Push is off (no push channel, no dismiss messages).
	Push PushSender
	// ReadTicket, when set, mints the read ticket a notification push carries
	// (internal/readticket), so the service worker can mark it read on a click.
	ReadTicket func(userID, id string) string
	// Channels adds or replaces channels by name (Web Push plugs in here); the engine
	// provides email and webhook itself.
	Channels map[string]Channel
	// CheckURL vets an endpoint URL (outbound.CheckURL with --webhook-allow-private);
	// nil accepts http and https URLs only. NewSecret makes an endpoint's signing
	// secret (webhook.NewSecret); required by CreateWebhook.
	CheckURL  func(raw string) error
	NewSecret func() (string, error)

	Digest time.Duration // --email-digest (10m given by the caller; 0: each email at once)
	Poll   time.Duration // how often due jobs are looked for (500ms)
	Lease  time.Duration // claim lease (1m)
	Batch  int           // jobs per claim (200)
	// Workers: concurrent jobs (32). Each job's writes are small, and the store
	// commits concurrent writes together: 32 workers fire 10,000 escalation timers
	// with ~35% less CPU than 8 (tocsin bench timers, docs/benchmarks.md), and a
	// worker costs one goroutine, not one per timer.
	Workers   int
	RetryFor  time.Duration // how long a failing send is retried (24h)
	Retention time.Duration // finished jobs and delivery rows are kept this long (30 days)

	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Engine is safe for concurrent use. Its API methods work without Start; Start runs
// the jobs.
type Engine struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	obs      Observer
	channels map[string]Channel
	ids      tocsin.IDGen

	eps     atomic.Pointer[endpointCache]
	pushUse atomic.Pointer[pushUseCache]
	epsMu   sync.Mutex // serialises reloads of eps
	wake    chan struct{}
	queue   chan claimedJob
	claimed atomic.Int64 // jobs claimed and not yet finished by a worker
	jobTime atomic.Int64 // moving average of a job's run time, in ns (0: none yet)

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns an engine; Start runs it.
func New(cfg Config) *Engine {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	cfg.Batch = max(cfg.Batch, cfg.Workers) // capacity() is never below Workers
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = 24 * time.Hour
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{
		cfg: cfg, store: cfg.Store, log: cfg.Logger.With("component", "delivery"), obs: cfg.Observer,
		wake: make(chan struct{}, 1),
		// Never more than Batch jobs are claimed and unfinished, so the loop's
		// sends to the queue never block.
		queue: make(chan claimedJob, cfg.Batch),
	}
	e.channels = map[string]Channel{
		tocsin.ChannelEmail:   emailChannel{e},
		tocsin.ChannelWebhook: webhookChannel{e},
	}
	if cfg.Push != nil {
		// Registered like any added channel, so canSend("push") sees it.
		chans := map[string]Channel{tocsin.ChannelPush: pushChannel{e}}
		for name, c := range cfg.Channels {
			chans[name] = c
		}
		e.cfg.Channels = chans
	}
	for name, c := range e.cfg.Channels {
		e.channels[name] = c
	}
	return e
}

func (e *Engine) now() time.Time { return e.cfg.Now().UTC().Truncate(time.Millisecond) }

// Start runs the loop and the workers until ctx ends or Close.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		return
	}
	ctx, e.cancel = context.WithCancel(ctx)
	if _, err := e.endpoints(ctx); err != nil {
		e.log.Warn("loading webhook endpoints", "err", err)
	}
	e.wg.Add(1 + e.cfg.Workers)
	go e.loop(ctx)
	for range e.cfg.Workers {
		go e.worker(ctx)
	}
}

// Close stops the loop and waits for the jobs in progress. Jobs claimed but not
// started are left to their lease, after which any node takes them.
func (e *Engine) Close() {
	e.mu.Lock()
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
}

// kick wakes the loop (a job due soon was added on this node, or workers freed up).
func (e *Engine) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// added tells the loop about jobs this node added: it wakes when one is due before
// its next poll, so a 0s escalation or a near schedule does not wait for the tick.
func (e *Engine) added(jobs []tocsin.Job) {
	soon := e.now().Add(e.cfg.Poll)
	for i := range jobs {
		if jobs[i].DueAt.Before(soon) {
			e.kick()
			return
		}
	}
}

const pruneEvery = time.Hour

// loop is the node's one scheduler: it claims due jobs while workers have room and
// sleeps until the next poll, the earliest due job or a wake-up.
func (e *Engine) loop(ctx context.Context) {
	defer e.wg.Done()
	defer close(e.queue) // workers finish what they hold, then exit
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastPrune := time.Time{}
	lastEndpoints := e.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-e.wake:
		}
		now := e.now()
		full := e.claim(ctx, now)
		if now.Sub(lastEndpoints) >= endpointRefresh {
			lastEndpoints = now
			if err := e.reloadEndpoints(ctx); err != nil {
				e.log.Warn("reloading webhook endpoints", "err", err)
			}
		}
		if now.Sub(lastPrune) >= pruneEvery {
			lastPrune = now
			e.prune(ctx, now)
		}
		wait := e.cfg.Poll
		switch {
		case full:
			wait = 0 // more may be due: claim again as soon as workers have room
		default:
			if at, ok, err := e.store.NextDue(ctx); err == nil && ok {
				// A due job that was not claimed is blocked (behind an earlier one of
				// its order key, or leased elsewhere): the poll finds it later.
				if d := at.Sub(e.now()); d > 0 && d < wait {
					wait = d
				}
			}
		}
		timer.Reset(wait)
	}
}

// claim leases as many due jobs as the workers have room for and queues them. It
// reports whether it got all it asked for (more may be due).
func (e *Engine) claim(ctx context.Context, now time.Time) bool {
	room := e.capacity() - int(e.claimed.Load())
	if room <= 0 {
		return false // a worker's finish wakes the loop
	}
	jobs, err := e.store.ClaimJobs(ctx, now, e.cfg.Lease, room)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("claiming jobs", "err", err)
			e.obs.Error("claim")
		}
		return false
	}
	if len(jobs) == 0 {
		return false
	}
	e.obs.JobsClaimed(len(jobs))
	e.claimed.Add(int64(len(jobs)))
	for _, j := range jobs {
		e.queue <- claimedJob{j, now}
	}
	return len(jobs) == room
}

func (e *Engine) worker(ctx context.Context) {
	defer e.wg.Done()
	for c := range e.queue {
		if ctx.Err() == nil {
			e.runClaimed(ctx, c)
		}
		if n := e.claimed.Add(-1); n == int64(e.capacity()/2) {
			e.kick() // room for another batch
		}
	}
}

// capacity is how many jobs may be claimed and unfinished: Batch, or fewer when
// jobs are slow (endpoints that take seconds), so that what is claimed can run
// within half a lease; never fewer than the workers.
func (e *Engine) capacity() int {
	avg := time.Duration(e.jobTime.Load())
	if avg <= 0 {
		return e.cfg.Batch
	}
	fit := int(int64(e.cfg.Workers) * int64(e.cfg.Lease/2) / int64(avg))
	return max(min(e.cfg.Batch, fit), e.cfg.Workers)
}

// observeRun folds one job's run time into the moving average (weight 1/8).
func (e *Engine) observeRun(d time.Duration) {
	for {
		old := e.jobTime.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if e.jobTime.CompareAndSwap(old, next) {
			return
		}
	}
}

// runClaimed runs one claimed job within its lease: a job that waited in the queue
// past most of its lease is left for the lease to end (another claim runs it), as
// is a send still going when the lease is about to end, so no two nodes run it.
func (e *Engine) runClaimed(ctx context.Context, c claimedJob) {
	j, now := c.Job, e.now()
	left := c.at.Add(e.cfg.Lease).Sub(now)
	if left < e.cfg.Lease/2 {
		e.obs.Error("lease") // the workers are too slow for the claims: this job waits for its lease
		return
	}
	e.obs.JobLateness(string(j.Kind), max(now.Sub(j.DueAt), 0))
	ctx, cancel := context.WithTimeout(ctx, left-e.cfg.Lease/8)
	defer cancel()
	start := time.Now()
	defer func() { e.observeRun(time.Since(start)) }()
	var err error
	switch j.Kind {
	case tocsin.JobScheduled:
		err = e.runScheduled(ctx, j)
	case tocsin.JobChannel:
		err = e.runChannel(ctx, j)
	case tocsin.JobDigest:
		err = e.runDigest(ctx, j)
	case tocsin.JobWebhook:
		err = e.runWebhook(ctx, j)
	case tocsin.JobPush:
		err = e.runPush(ctx, j)
	case tocsin.JobWake:
		err = e.runWake(ctx, j)
	default:
		err = e.finish(ctx, j, tocsin.JobFailed, "unknown job kind "+string(j.Kind), 0)
	}
	if err != nil && ctx.Err() == nil {
		// The store failed to record the outcome: the lease ends and the job runs
		// again (each kind's effect is idempotent where it is the store's own).
		e.log.Warn("job", "kind", j.Kind, "id", j.ID, "err", err)
		e.obs.Error(string(j.Kind))
	}
}

type claimedJob struct {
	tocsin.Job
	at time.Time // when it was claimed: its lease ends Lease later
}

func (e *Engine) finish(ctx context.Context, j tocsin.Job, state, note string, status int) error {
	e.obs.JobFinished(string(j.Kind), state)
	return ended(e.store.FinishJob(ctx, j.ID, state, note, status, e.now()))
}

// ended treats ENotFound from FinishJob or RetryJob as done: the job is no longer
// pending because another node, whose claim followed an ended lease, finished it
// (or it was cancelled meanwhile).
func ended(err error) error {
	if tocsin.ErrorCodeOf(err) == tocsin.ENotFound {
		return nil
	}
	return err
}

// retry runs j again after the backoff of its attempt (or after, when the peer
// said), or fails it once it has been retried for RetryFor. It reports whether it
// gave up.
func (e *Engine) retry(ctx context.Context, j tocsin.Job, cause error, status int) (gaveUp bool, err error) {
	now := e.now()
	wait := retryAfter(cause)
	if wait <= 0 {
		wait = backoff(j.Attempts, rand.Float64())
	}
	if e.retriedTooLong(j, now.Add(wait)) {
		return true, e.finish(ctx, j, tocsin.JobFailed, "gave up: "+cause.Error(), status)
	}
	return false, ended(e.store.RetryJob(ctx, j.ID, now.Add(wait), cause.Error(), status))
}

// retriedTooLong: an outbox message or digest is retried for RetryFor after it was
// made; a timer made long before it is due (an escalation, a schedule) for as many
// attempts as the backoff fits in RetryFor.
func (e *Engine) retriedTooLong(j tocsin.Job, next time.Time) bool {
	switch j.Kind {
	case tocsin.JobChannel, tocsin.JobScheduled, tocsin.JobWake:
		return j.Attempts >= attemptsWithin(e.cfg.RetryFor)
	}
	return next.After(j.CreatedAt.Add(e.cfg.RetryFor))
}

func (e *Engine) prune(ctx context.Context, now time.Time) {
	before := now.Add(-e.cfg.Retention)
	if _, err := e.store.PruneJobs(ctx, before); err != nil && ctx.Err() == nil {
		e.log.Warn("pruning jobs", "err", err)
	}
	if _, err := e.store.PruneDeliveries(ctx, before); err != nil && ctx.Err() == nil {
		e.log.Warn("pruning deliveries", "err", err)
	}
}
