CREATE TABLE bootstrap_configs (
    client_id           uuid PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    domain_id           uuid NOT NULL REFERENCES domains (id),
    name                text NOT NULL DEFAULT '',
    external_id         text NOT NULL,
    external_key_digest text NOT NULL,
    content             text NOT NULL DEFAULT '',
    client_cert         text NOT NULL DEFAULT '',
    client_key          text NOT NULL DEFAULT '',
    ca_cert             text NOT NULL DEFAULT '',
    state               smallint NOT NULL DEFAULT 0,
    channels            jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL,
    CONSTRAINT bootstrap_configs_external_id_key UNIQUE (external_id)
);
CREATE INDEX bootstrap_configs_domain ON bootstrap_configs (domain_id);
