-- Client certificates. Rows outlive revocation and their client (no FK to clients) so a
-- revoked serial stays on the CRL until the certificate expires. `sealed_key` is the
-- private key encrypted by the service (AES-256-GCM); the store never holds it in clear.
CREATE TABLE certs (
    serial      text COLLATE "C" NOT NULL,
    domain_id   uuid NOT NULL REFERENCES domains (id),
    client_id   uuid NOT NULL,
    certificate text NOT NULL,
    sealed_key  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT certs_pkey PRIMARY KEY (serial)
);
CREATE INDEX certs_domain ON certs (domain_id, created_at, serial);
CREATE INDEX certs_client ON certs (domain_id, client_id, created_at);
CREATE INDEX certs_revoked ON certs (expires_at) WHERE revoked_at IS NOT NULL;
