-- Notifications: one inbox item of one user. Times are Unix milliseconds (UTC).
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    type        TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL DEFAULT '',
    priority    INTEGER NOT NULL DEFAULT 3,
    tags        TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    data        TEXT NOT NULL DEFAULT '{}',  -- JSON object
    actor_id    TEXT NOT NULL DEFAULT '',
    entity_type TEXT NOT NULL DEFAULT '',
    entity_id   TEXT NOT NULL DEFAULT '',
    action_url  TEXT NOT NULL DEFAULT '',
    image_url   TEXT NOT NULL DEFAULT '',
    group_key   TEXT NOT NULL DEFAULT '',
    count       INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER,
    read_at     INTEGER,
    archived_at INTEGER,
    expires_at  INTEGER
);
-- A user's inbox, newest first (ids sort by creation time).
CREATE INDEX notifications_user_id ON notifications (user_id, id);
-- The unread count and the init snapshot read only unread items.
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL AND archived_at IS NULL;
-- The expiry sweep.
CREATE INDEX notifications_expires ON notifications (expires_at) WHERE expires_at IS NOT NULL;

-- Streams: the head (newest seq) and the oldest seq still kept, per stream.
CREATE TABLE streams (
    stream    TEXT PRIMARY KEY,
    head      INTEGER NOT NULL,
    first_seq INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;

-- The append-only event log, one sequence per stream.
CREATE TABLE events (
    stream     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL DEFAULT '',
    data       BLOB NOT NULL,
    unread     INTEGER NOT NULL DEFAULT -1,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;

-- Idempotency keys of publishes, per API key, with the first result.
CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    result       BLOB NOT NULL,  -- JSON array of the notifications
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- Single-use stream tickets, by SHA-256 digest.
CREATE TABLE tickets (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
