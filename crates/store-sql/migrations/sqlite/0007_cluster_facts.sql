-- What every node on this database must agree on, by fingerprint (never the secret):
-- the token verification key, the certs CA, the sealing secret, the bootstrap key.
-- The first node to start records them; a node with others refuses to start.
CREATE TABLE cluster_facts (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
