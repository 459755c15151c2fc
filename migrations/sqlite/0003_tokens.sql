-- Stream tokens (capability URLs and hooks), by SHA-256 digest.
CREATE TABLE stream_tokens (
    id         TEXT NOT NULL UNIQUE,
    hash       TEXT PRIMARY KEY,
    stream     TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
