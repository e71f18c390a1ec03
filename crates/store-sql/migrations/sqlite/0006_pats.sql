-- Personal access tokens: a user's scoped automation credential. The secret is kept
-- only as its hex SHA-256 digest (it is random, so a slow hash adds nothing).
CREATE TABLE pats (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    secret_hash  TEXT NOT NULL,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    updated_at   INTEGER,
    last_used_at INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0,
    revoked_at   INTEGER
);
CREATE INDEX pats_user ON pats (user_id, issued_at);

-- What a PAT may do: an entity type, an operation, a domain (NULL: any) and '*' or
-- one entity id.
CREATE TABLE pat_scopes (
    id          TEXT PRIMARY KEY,
    pat_id      TEXT NOT NULL REFERENCES pats (id) ON DELETE CASCADE,
    domain_id   TEXT,
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    operation   TEXT NOT NULL
);
CREATE INDEX pat_scopes_pat ON pat_scopes (pat_id);

-- API key records (POST /keys). The key is a signed token shown once; this row lets
-- its issuer view and revoke it.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    issuer_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_revoked ON api_keys (revoked, expires_at);
