-- Indexes for the list filters at fleet scale (a million clients in one domain):
-- name substrings (ILIKE '%x%') through trigram GIN indexes, tag filters (?| and ?&)
-- through GIN on the tag array. Metadata containment already has its GIN
-- (jsonb_path_ops); status, creation time and the default order have b-trees.
-- pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
--
-- A GIN index gathers new entries in a pending list that every search reads in full
-- until it is merged (at 4 MB by default): after a bulk load, milliseconds on every
-- filtered page. A short list keeps that read small; the store also merges the lists
-- after bulk writes, when it refreshes the statistics.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX clients_name_trgm ON clients USING gin (name gin_trgm_ops)
    WITH (gin_pending_list_limit = 256);
CREATE INDEX channels_name_trgm ON channels USING gin (name gin_trgm_ops)
    WITH (gin_pending_list_limit = 256);
CREATE INDEX groups_name_trgm ON groups USING gin (name gin_trgm_ops)
    WITH (gin_pending_list_limit = 256);
CREATE INDEX clients_tags ON clients USING gin (tags) WITH (gin_pending_list_limit = 256);
CREATE INDEX channels_tags ON channels USING gin (tags) WITH (gin_pending_list_limit = 256);
CREATE INDEX groups_tags ON groups USING gin (tags) WITH (gin_pending_list_limit = 256);
ALTER INDEX clients_metadata SET (gin_pending_list_limit = 256);
ALTER INDEX channels_metadata SET (gin_pending_list_limit = 256);
