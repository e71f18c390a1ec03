-- Access control: roles on domains, clients, channels and groups; groups as a tree.
--
-- Every entity has a built-in admin role (id '<entity>_admin') holding every action
-- of its kind, with no row in `roles`: its creator (the entity's created_by, so
-- creating costs no extra row) and the members in role_members with `builtin` = 1.
-- Custom roles live in `roles`, their actions in `role_actions`, their members in
-- role_members.
CREATE TABLE roles (
    id         TEXT PRIMARY KEY,
    domain_id  TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_by TEXT,
    updated_at INTEGER,
    UNIQUE (entity_id, name)
);

CREATE TABLE role_actions (
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    action  TEXT NOT NULL,
    PRIMARY KEY (role_id, action)
);

CREATE TABLE role_members (
    role_id   TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    builtin   INTEGER NOT NULL,
    PRIMARY KEY (role_id, member_id)
);
CREATE INDEX role_members_member ON role_members (member_id, entity_id, builtin, role_id);
CREATE INDEX role_members_entity ON role_members (entity_id, member_id);

-- The group tree: `parent_id` is the edge; group_ancestors is its closure (every
-- group with each of its ancestors and itself at depth 0), kept by the store in the
-- same transaction as the edge.
CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    parent_id   TEXT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '[]',
    metadata    TEXT NOT NULL DEFAULT '{}',
    status      INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER,
    updated_by  TEXT,
    sort_at     INTEGER NOT NULL
);
CREATE INDEX groups_page ON groups (domain_id, status, sort_at, id);
CREATE INDEX groups_parent ON groups (parent_id);

CREATE TABLE group_ancestors (
    group_id    TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    ancestor_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    depth       INTEGER NOT NULL,
    PRIMARY KEY (group_id, ancestor_id)
);
CREATE INDEX group_ancestors_down ON group_ancestors (ancestor_id, depth, group_id);

ALTER TABLE clients ADD COLUMN parent_group_id TEXT;
ALTER TABLE channels ADD COLUMN parent_group_id TEXT;
CREATE INDEX clients_parent ON clients (parent_group_id);
CREATE INDEX channels_parent ON channels (parent_group_id);
