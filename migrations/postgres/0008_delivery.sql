-- The delivery engine (see the SQLite step of the same number for what each table
-- and index is for). Times are unix milliseconds, as everywhere in the schema.
CREATE TABLE jobs (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    key         text UNIQUE,              -- NULL: no de-duplication key
    user_id     text NOT NULL DEFAULT '',
    ref         text NOT NULL DEFAULT '',
    channel     text NOT NULL DEFAULT '',
    target      text NOT NULL DEFAULT '',
    order_key   text,                     -- NULL: not ordered
    ord         bigint NOT NULL DEFAULT 0,
    due_at      bigint NOT NULL,
    payload     bytea,
    state       text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    lease_until bigint,                  -- set while a claim holds the job
    last_error  text NOT NULL DEFAULT '',
    last_status integer NOT NULL DEFAULT 0,
    created_at  bigint NOT NULL,
    finished_at bigint
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
    user_id         text NOT NULL,
    notification_id text NOT NULL,
    channel         text NOT NULL,
    status          text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    at              bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, notification_id, channel)
);
-- The email digest's items: a user's scheduled rows of one channel and reason.
CREATE INDEX deliveries_scheduled ON deliveries (user_id, channel, reason, at) WHERE status = 'scheduled';
CREATE INDEX deliveries_at ON deliveries (at);

CREATE TABLE profiles (
    user_id    text PRIMARY KEY,
    email      text NOT NULL DEFAULT '',
    timezone   text NOT NULL DEFAULT '',
    locale     text NOT NULL DEFAULT '',
    updated_at bigint NOT NULL
);

-- One JSON document per user (tocsin.Preferences), read and written whole.
CREATE TABLE preferences (
    user_id    text PRIMARY KEY,
    doc        jsonb NOT NULL,
    updated_at bigint NOT NULL
);

CREATE TABLE webhooks (
    id         text PRIMARY KEY,
    url        text NOT NULL,
    events     text NOT NULL,             -- JSON array of event names
    secret     text NOT NULL,
    created_at bigint NOT NULL
);
