-- Notifications: one inbox item of one user. Times are Unix milliseconds (UTC), as in
-- the SQLite schema, so both stores render them identically.
CREATE TABLE notifications (
    id          text PRIMARY KEY,
    user_id     text NOT NULL,
    type        text NOT NULL,
    title       text NOT NULL DEFAULT '',
    body        text NOT NULL DEFAULT '',
    priority    integer NOT NULL DEFAULT 3,
    tags        text[] NOT NULL DEFAULT '{}',
    data        text NOT NULL DEFAULT '{}',  -- the JSON object exactly as sent
    actor_id    text NOT NULL DEFAULT '',
    entity_type text NOT NULL DEFAULT '',
    entity_id   text NOT NULL DEFAULT '',
    action_url  text NOT NULL DEFAULT '',
    image_url   text NOT NULL DEFAULT '',
    group_key   text NOT NULL DEFAULT '',
    count       integer NOT NULL DEFAULT 1,
    created_at  bigint NOT NULL,
    seen_at     bigint,
    read_at     bigint,
    archived_at bigint,
    expires_at  bigint
);
CREATE INDEX notifications_user_id ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL AND archived_at IS NULL;
CREATE INDEX notifications_expires ON notifications (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX notifications_created ON notifications (created_at);

-- Streams: the head (newest seq) and the oldest seq still kept. A change locks its
-- streams' rows (in a fixed order) to take the next sequences, so commits of one
-- stream are serialised and a reader never sees seq N+1 before seq N.
CREATE TABLE streams (
    stream    text PRIMARY KEY,
    head      bigint NOT NULL,
    first_seq bigint NOT NULL DEFAULT 1
);

CREATE TABLE events (
    stream     text NOT NULL,
    seq        bigint NOT NULL,
    name       text NOT NULL,
    type       text NOT NULL DEFAULT '',
    data       bytea NOT NULL,
    unread     integer NOT NULL DEFAULT -1,
    created_at bigint NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE idempotency (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    result       bytea NOT NULL,
    created_at   bigint NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE tickets (
    hash       text PRIMARY KEY,
    user_id    text NOT NULL,
    expires_at bigint NOT NULL
);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
