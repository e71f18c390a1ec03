-- Client certificates. Rows outlive revocation and their client (no FK to clients) so a
-- revoked serial stays on the CRL until the certificate expires. `sealed_key` is the
-- private key encrypted by the service (AES-256-GCM); the store never holds it in clear.
CREATE TABLE certs (
    serial      TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    client_id   TEXT NOT NULL,
    certificate TEXT NOT NULL,
    sealed_key  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX certs_domain ON certs (domain_id, created_at, serial);
CREATE INDEX certs_client ON certs (domain_id, client_id, created_at);
CREATE INDEX certs_revoked ON certs (expires_at) WHERE revoked_at IS NOT NULL;
