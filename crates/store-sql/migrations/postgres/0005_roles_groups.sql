-- Access control: roles on domains, clients, channels and groups; groups as a tree.
-- (Same shape as the SQLite migration; see there for the meaning of each table.)
CREATE TABLE roles (
    id         text COLLATE "C" NOT NULL,
    domain_id  uuid NOT NULL,
    entity_id  uuid NOT NULL,
    kind       smallint NOT NULL,
    name       text COLLATE "C" NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_by uuid,
    updated_at timestamptz,
    CONSTRAINT roles_pkey PRIMARY KEY (id),
    CONSTRAINT roles_entity_name_key UNIQUE (entity_id, name)
);

CREATE TABLE role_actions (
    role_id text COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    action  text COLLATE "C" NOT NULL,
    CONSTRAINT role_actions_pkey PRIMARY KEY (role_id, action)
);

CREATE TABLE role_members (
    role_id   text COLLATE "C" NOT NULL,
    entity_id uuid NOT NULL,
    member_id uuid NOT NULL,
    domain_id uuid NOT NULL,
    builtin   smallint NOT NULL,
    CONSTRAINT role_members_pkey PRIMARY KEY (role_id, member_id)
);
CREATE INDEX role_members_member ON role_members (member_id, entity_id, builtin, role_id);
CREATE INDEX role_members_entity ON role_members (entity_id, member_id);

CREATE TABLE groups (
    id          uuid NOT NULL,
    domain_id   uuid NOT NULL REFERENCES domains (id),
    parent_id   uuid,
    name        text COLLATE "C" NOT NULL,
    description text NOT NULL DEFAULT '',
    tags        jsonb NOT NULL DEFAULT '[]',
    metadata    jsonb NOT NULL DEFAULT '{}',
    status      smallint NOT NULL,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz,
    updated_by  uuid,
    sort_at     timestamptz NOT NULL,
    CONSTRAINT groups_pkey PRIMARY KEY (id)
);
CREATE INDEX groups_page ON groups (domain_id, status, sort_at, id);
CREATE INDEX groups_parent ON groups (parent_id);

CREATE TABLE group_ancestors (
    group_id    uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    ancestor_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    depth       smallint NOT NULL,
    CONSTRAINT group_ancestors_pkey PRIMARY KEY (group_id, ancestor_id)
);
CREATE INDEX group_ancestors_down ON group_ancestors (ancestor_id, depth, group_id);

ALTER TABLE clients ADD COLUMN parent_group_id uuid;
ALTER TABLE channels ADD COLUMN parent_group_id uuid;
CREATE INDEX clients_parent ON clients (parent_group_id);
CREATE INDEX channels_parent ON channels (parent_group_id);
