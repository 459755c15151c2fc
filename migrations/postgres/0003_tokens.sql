-- Stream tokens (capability URLs and hooks), by SHA-256 digest.
CREATE TABLE stream_tokens (
    id         text NOT NULL UNIQUE,
    hash       text PRIMARY KEY,
    stream     text NOT NULL,
    scope      text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
);
