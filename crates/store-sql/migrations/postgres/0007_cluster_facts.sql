-- What every node on this database must agree on (see the SQLite migration).
CREATE TABLE cluster_facts (
    name  text NOT NULL,
    value text NOT NULL,
    CONSTRAINT cluster_facts_pkey PRIMARY KEY (name)
);
