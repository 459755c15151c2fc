-- API keys created with tocsin keys (configured keys live in the config), by digest.
CREATE TABLE api_keys (
    id         text NOT NULL UNIQUE,
    hash       text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    created_at bigint NOT NULL,
    revoked_at bigint
);
