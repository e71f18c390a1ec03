-- Times are integer nanoseconds since the Unix epoch, so they sort correctly.
-- JSON columns hold JSON text. sort_at = COALESCE(updated_at, created_at), kept by writes,
-- so the default "order by updated_at" listing walks an index.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    first_name       TEXT NOT NULL,
    last_name        TEXT NOT NULL,
    email            TEXT NOT NULL UNIQUE,
    username         TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    tags             TEXT NOT NULL DEFAULT '[]',
    metadata         TEXT NOT NULL DEFAULT '{}',
    private_metadata TEXT NOT NULL DEFAULT '{}',
    profile_picture  TEXT NOT NULL DEFAULT '',
    status           INTEGER NOT NULL,
    role             INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER,
    updated_by       TEXT,
    verified_at      INTEGER,
    sort_at          INTEGER NOT NULL
);

CREATE TABLE refresh_sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX refresh_sessions_user ON refresh_sessions (user_id);

CREATE TABLE domains (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    route      TEXT NOT NULL UNIQUE,
    tags       TEXT NOT NULL DEFAULT '[]',
    metadata   TEXT NOT NULL DEFAULT '{}',
    status     INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER,
    updated_by TEXT,
    sort_at    INTEGER NOT NULL
);

CREATE TABLE domain_members (
    domain_id  TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (domain_id, user_id)
);
CREATE INDEX domain_members_user ON domain_members (user_id);

CREATE TABLE invitations (
    domain_id       TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    invitee_user_id TEXT NOT NULL,
    invited_by      TEXT NOT NULL,
    role            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER,
    confirmed_at    INTEGER,
    rejected_at     INTEGER,
    PRIMARY KEY (domain_id, invitee_user_id)
);
CREATE INDEX invitations_invitee ON invitations (invitee_user_id);

CREATE TABLE clients (
    id               TEXT PRIMARY KEY,
    domain_id        TEXT NOT NULL REFERENCES domains (id),
    name             TEXT NOT NULL DEFAULT '',
    tags             TEXT NOT NULL DEFAULT '[]',
    metadata         TEXT NOT NULL DEFAULT '{}',
    private_metadata TEXT NOT NULL DEFAULT '{}',
    secret           TEXT NOT NULL,
    status           INTEGER NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER,
    updated_by       TEXT,
    sort_at          INTEGER NOT NULL,
    UNIQUE (domain_id, secret)
);
CREATE INDEX clients_page ON clients (domain_id, status, sort_at, id);
CREATE INDEX clients_created ON clients (domain_id, status, created_at, id);
CREATE INDEX clients_owner ON clients (domain_id, created_by, status, sort_at);

CREATE TABLE channels (
    id         TEXT PRIMARY KEY,
    domain_id  TEXT NOT NULL REFERENCES domains (id),
    name       TEXT NOT NULL DEFAULT '',
    route      TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',
    metadata   TEXT NOT NULL DEFAULT '{}',
    status     INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER,
    updated_by TEXT,
    sort_at    INTEGER NOT NULL,
    UNIQUE (domain_id, route)
);
CREATE INDEX channels_page ON channels (domain_id, status, sort_at, id);
CREATE INDEX channels_owner ON channels (domain_id, created_by, status, sort_at);

CREATE TABLE connections (
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    domain_id  TEXT NOT NULL,
    type       INTEGER NOT NULL,
    PRIMARY KEY (channel_id, client_id, type)
);
CREATE INDEX connections_client ON connections (client_id, channel_id);
