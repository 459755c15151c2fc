-- API keys created with tocsin keys (configured keys live in the config), by digest.
CREATE TABLE api_keys (
    id         TEXT NOT NULL UNIQUE,
    hash       TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
