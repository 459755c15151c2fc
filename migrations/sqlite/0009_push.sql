-- Web Push subscriptions (tocsin.PushSubscriptions): one row per browser profile,
-- so the endpoint is unique; a user's rows are listed and capped oldest first.
CREATE TABLE push_subscriptions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL DEFAULT '',
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, created_at, id);
