CREATE TABLE bootstrap_configs (
    client_id           TEXT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    domain_id           TEXT NOT NULL REFERENCES domains (id),
    name                TEXT NOT NULL DEFAULT '',
    external_id         TEXT NOT NULL UNIQUE,
    external_key_digest TEXT NOT NULL,
    content             TEXT NOT NULL DEFAULT '',
    client_cert         TEXT NOT NULL DEFAULT '',
    client_key          TEXT NOT NULL DEFAULT '',
    ca_cert             TEXT NOT NULL DEFAULT '',
    state               INTEGER NOT NULL DEFAULT 0,
    channels            TEXT NOT NULL DEFAULT '[]',
    created_at          INTEGER NOT NULL
);
CREATE INDEX bootstrap_configs_domain ON bootstrap_configs (domain_id);
