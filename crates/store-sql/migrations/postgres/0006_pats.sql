-- Personal access tokens (same shape as the SQLite migration; see there).
CREATE TABLE pats (
    id           uuid NOT NULL,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    secret_hash  text NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    updated_at   timestamptz,
    last_used_at timestamptz,
    revoked      smallint NOT NULL DEFAULT 0,
    revoked_at   timestamptz,
    CONSTRAINT pats_pkey PRIMARY KEY (id)
);
CREATE INDEX pats_user ON pats (user_id, issued_at);

CREATE TABLE pat_scopes (
    id          uuid NOT NULL,
    pat_id      uuid NOT NULL REFERENCES pats (id) ON DELETE CASCADE,
    domain_id   uuid,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    operation   text NOT NULL,
    CONSTRAINT pat_scopes_pkey PRIMARY KEY (id)
);
CREATE INDEX pat_scopes_pat ON pat_scopes (pat_id);

CREATE TABLE api_keys (
    id         uuid NOT NULL,
    issuer_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject    text NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked    smallint NOT NULL DEFAULT 0,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id)
);
CREATE INDEX api_keys_revoked ON api_keys (revoked, expires_at);
