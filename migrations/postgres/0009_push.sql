-- Web Push subscriptions (see the SQLite step of the same number).
CREATE TABLE push_subscriptions (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    device_id  text NOT NULL DEFAULT '',
    endpoint   text NOT NULL UNIQUE,
    p256dh     text NOT NULL,
    auth       text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, created_at, id);
