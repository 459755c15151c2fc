-- The delivery engine (tocsin.DeliveryStore): its durable timers and outbox (jobs),
-- the delivery log, users' profiles and preferences, webhook endpoints. Times are
-- unix milliseconds, as everywhere in the schema.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    key         TEXT UNIQUE,              -- NULL: no de-duplication key
    user_id     TEXT NOT NULL DEFAULT '',
    ref         TEXT NOT NULL DEFAULT '',
    channel     TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    order_key   TEXT,                     -- NULL: not ordered
    ord         INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    payload     BLOB,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,                  -- set while a claim holds the job
    last_error  TEXT NOT NULL DEFAULT '',
    last_status INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);
-- Claims and NextDue walk the pending jobs in due order; finished jobs (kept for
-- history and de-duplication) are not in these indexes at all.
CREATE INDEX jobs_due ON jobs (due_at, id) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'pending' AND lease_until IS NOT NULL;
-- "Is an earlier job of this order key still pending?"
CREATE INDEX jobs_order ON jobs (order_key, ord, id) WHERE state = 'pending' AND order_key IS NOT NULL;
-- CancelJob (a scheduled notification by its id).
CREATE INDEX jobs_ref ON jobs (ref, kind) WHERE state = 'pending';
-- ListJobs: newest first, of a kind, optionally of a user.
CREATE INDEX jobs_kind ON jobs (kind, id);
CREATE INDEX jobs_user ON jobs (user_id, kind, id) WHERE user_id <> '';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE deliveries (
    user_id         TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    at              INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, notification_id, channel)
) WITHOUT ROWID;
-- The email digest's items: a user's scheduled rows of one channel and reason.
CREATE INDEX deliveries_scheduled ON deliveries (user_id, channel, reason, at) WHERE status = 'scheduled';
CREATE INDEX deliveries_at ON deliveries (at);

CREATE TABLE profiles (
    user_id    TEXT PRIMARY KEY,
    email      TEXT NOT NULL DEFAULT '',
    timezone   TEXT NOT NULL DEFAULT '',
    locale     TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One JSON document per user (tocsin.Preferences), read and written whole.
CREATE TABLE preferences (
    user_id    TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,             -- JSON array of event names
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
