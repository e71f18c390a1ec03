-- Same tables, columns and indexes as the SQLite tree, in PostgreSQL's native types:
-- uuid ids, timestamptz times, jsonb for tags (an array of strings) and metadata.
-- sort_at = COALESCE(updated_at, created_at), kept by writes, so the default
-- "order by updated_at" listing walks an index.
-- Text that is filtered, sorted or unique uses COLLATE "C": byte order and ASCII-only
-- case folding in ILIKE, exactly as SQLite's BINARY collation and LIKE, whatever the
-- server's default locale.
-- Constraints are named so that unique violations map to a ConflictKind by name.

CREATE TABLE users (
    id               uuid NOT NULL,
    first_name       text COLLATE "C" NOT NULL,
    last_name        text COLLATE "C" NOT NULL,
    email            text COLLATE "C" NOT NULL,
    username         text COLLATE "C" NOT NULL,
    password_hash    text NOT NULL,
    tags             jsonb NOT NULL DEFAULT '[]',
    metadata         jsonb NOT NULL DEFAULT '{}',
    private_metadata jsonb NOT NULL DEFAULT '{}',
    profile_picture  text NOT NULL DEFAULT '',
    status           smallint NOT NULL,
    role             smallint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz,
    updated_by       uuid,
    verified_at      timestamptz,
    sort_at          timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE refresh_sessions (
    id          uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CONSTRAINT refresh_sessions_pkey PRIMARY KEY (id)
);
CREATE INDEX refresh_sessions_user ON refresh_sessions (user_id);

CREATE TABLE domains (
    id         uuid NOT NULL,
    name       text COLLATE "C" NOT NULL,
    route      text COLLATE "C" NOT NULL,
    tags       jsonb NOT NULL DEFAULT '[]',
    metadata   jsonb NOT NULL DEFAULT '{}',
    status     smallint NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz,
    updated_by uuid,
    sort_at    timestamptz NOT NULL,
    CONSTRAINT domains_pkey PRIMARY KEY (id),
    CONSTRAINT domains_route_key UNIQUE (route)
);

CREATE TABLE domain_members (
    domain_id  uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    role       text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT domain_members_pkey PRIMARY KEY (domain_id, user_id)
);
CREATE INDEX domain_members_user ON domain_members (user_id);

CREATE TABLE invitations (
    domain_id       uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    invitee_user_id uuid NOT NULL,
    invited_by      uuid NOT NULL,
    role            text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz,
    confirmed_at    timestamptz,
    rejected_at     timestamptz,
    CONSTRAINT invitations_pkey PRIMARY KEY (domain_id, invitee_user_id)
);
CREATE INDEX invitations_invitee ON invitations (invitee_user_id);

CREATE TABLE clients (
    id               uuid NOT NULL,
    domain_id        uuid NOT NULL REFERENCES domains (id),
    name             text COLLATE "C" NOT NULL DEFAULT '',
    tags             jsonb NOT NULL DEFAULT '[]',
    metadata         jsonb NOT NULL DEFAULT '{}',
    private_metadata jsonb NOT NULL DEFAULT '{}',
    secret           text COLLATE "C" NOT NULL,
    status           smallint NOT NULL,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz,
    updated_by       uuid,
    sort_at          timestamptz NOT NULL,
    CONSTRAINT clients_pkey PRIMARY KEY (id),
    CONSTRAINT clients_domain_secret_key UNIQUE (domain_id, secret)
);
CREATE INDEX clients_page ON clients (domain_id, status, sort_at, id);
CREATE INDEX clients_created ON clients (domain_id, status, created_at, id);
CREATE INDEX clients_owner ON clients (domain_id, created_by, status, sort_at);
CREATE INDEX clients_metadata ON clients USING gin (metadata jsonb_path_ops);

CREATE TABLE channels (
    id         uuid NOT NULL,
    domain_id  uuid NOT NULL REFERENCES domains (id),
    name       text COLLATE "C" NOT NULL DEFAULT '',
    route      text COLLATE "C",
    tags       jsonb NOT NULL DEFAULT '[]',
    metadata   jsonb NOT NULL DEFAULT '{}',
    status     smallint NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz,
    updated_by uuid,
    sort_at    timestamptz NOT NULL,
    CONSTRAINT channels_pkey PRIMARY KEY (id),
    CONSTRAINT channels_domain_route_key UNIQUE (domain_id, route)
);
CREATE INDEX channels_page ON channels (domain_id, status, sort_at, id);
CREATE INDEX channels_owner ON channels (domain_id, created_by, status, sort_at);
CREATE INDEX channels_metadata ON channels USING gin (metadata jsonb_path_ops);

CREATE TABLE connections (
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    client_id  uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    domain_id  uuid NOT NULL,
    type       smallint NOT NULL,
    CONSTRAINT connections_pkey PRIMARY KEY (channel_id, client_id, type)
);
CREATE INDEX connections_client ON connections (client_id, channel_id);
