-- Indexes for the list filters at fleet scale (a million clients in one domain).
--
-- Name substrings: an FTS5 trigram index per table (external content, keyed by the
-- row's rowid), queried with LIKE, which FTS5 answers from the index when the needle
-- has three characters in a row without a wildcard. Tags and top-level scalar metadata
-- values (strings, booleans, null): a fact table, one row per tag ('t:' || tag) and per
-- such value ('m:' || key || '=' || 's:' || text | 't' | 'f' | 'z'). Both are kept by
-- triggers, so in the same transaction as the row. The store reads them only to narrow
-- the candidates: the exact filter (LIKE with its escapes, the JSON containment with
-- PostgreSQL's semantics) still decides, so a pre-filter can never change a result.
-- (VACUUM keeps these tables' rowids: it copies them whole.)

-- clients
CREATE VIRTUAL TABLE clients_name USING fts5(
    name, content = 'clients', content_rowid = 'rowid', tokenize = 'trigram', detail = 'none'
);
INSERT INTO clients_name (clients_name) VALUES ('rebuild');
CREATE TABLE clients_facts (
    fact TEXT NOT NULL,
    rid  INTEGER NOT NULL,
    PRIMARY KEY (fact, rid)
) WITHOUT ROWID;
INSERT OR IGNORE INTO clients_facts (fact, rid)
    SELECT 't:' || j.value, e.rowid FROM clients e, json_each(e.tags) j WHERE j.type = 'text'
    UNION ALL
    SELECT 'm:' || j.key || '=' || CASE j.type WHEN 'text' THEN 's:' || j.value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END, e.rowid
      FROM clients e, json_each(e.metadata) j WHERE j.type IN ('text', 'true', 'false', 'null');

CREATE TRIGGER clients_index_insert AFTER INSERT ON clients BEGIN
    INSERT INTO clients_name (rowid, name) VALUES (new.rowid, new.name);
    INSERT OR IGNORE INTO clients_facts (fact, rid)
      SELECT fact, new.rowid FROM (SELECT 't:' || value AS fact FROM json_each(new.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(new.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
END;
CREATE TRIGGER clients_index_delete AFTER DELETE ON clients BEGIN
    INSERT INTO clients_name (clients_name, rowid, name) VALUES ('delete', old.rowid, old.name);
    DELETE FROM clients_facts WHERE rid = old.rowid AND fact IN (SELECT 't:' || value AS fact FROM json_each(old.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(old.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
END;
CREATE TRIGGER clients_index_name AFTER UPDATE OF name ON clients BEGIN
    INSERT INTO clients_name (clients_name, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO clients_name (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER clients_index_facts AFTER UPDATE OF tags, metadata ON clients BEGIN
    DELETE FROM clients_facts WHERE rid = old.rowid AND fact IN (SELECT 't:' || value AS fact FROM json_each(old.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(old.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
    INSERT OR IGNORE INTO clients_facts (fact, rid)
      SELECT fact, new.rowid FROM (SELECT 't:' || value AS fact FROM json_each(new.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(new.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
END;

-- channels
CREATE VIRTUAL TABLE channels_name USING fts5(
    name, content = 'channels', content_rowid = 'rowid', tokenize = 'trigram', detail = 'none'
);
INSERT INTO channels_name (channels_name) VALUES ('rebuild');
CREATE TABLE channels_facts (
    fact TEXT NOT NULL,
    rid  INTEGER NOT NULL,
    PRIMARY KEY (fact, rid)
) WITHOUT ROWID;
INSERT OR IGNORE INTO channels_facts (fact, rid)
    SELECT 't:' || j.value, e.rowid FROM channels e, json_each(e.tags) j WHERE j.type = 'text'
    UNION ALL
    SELECT 'm:' || j.key || '=' || CASE j.type WHEN 'text' THEN 's:' || j.value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END, e.rowid
      FROM channels e, json_each(e.metadata) j WHERE j.type IN ('text', 'true', 'false', 'null');

CREATE TRIGGER channels_index_insert AFTER INSERT ON channels BEGIN
    INSERT INTO channels_name (rowid, name) VALUES (new.rowid, new.name);
    INSERT OR IGNORE INTO channels_facts (fact, rid)
      SELECT fact, new.rowid FROM (SELECT 't:' || value AS fact FROM json_each(new.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(new.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
END;
CREATE TRIGGER channels_index_delete AFTER DELETE ON channels BEGIN
    INSERT INTO channels_name (channels_name, rowid, name) VALUES ('delete', old.rowid, old.name);
    DELETE FROM channels_facts WHERE rid = old.rowid AND fact IN (SELECT 't:' || value AS fact FROM json_each(old.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(old.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
END;
CREATE TRIGGER channels_index_name AFTER UPDATE OF name ON channels BEGIN
    INSERT INTO channels_name (channels_name, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO channels_name (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER channels_index_facts AFTER UPDATE OF tags, metadata ON channels BEGIN
    DELETE FROM channels_facts WHERE rid = old.rowid AND fact IN (SELECT 't:' || value AS fact FROM json_each(old.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(old.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
    INSERT OR IGNORE INTO channels_facts (fact, rid)
      SELECT fact, new.rowid FROM (SELECT 't:' || value AS fact FROM json_each(new.tags) WHERE type = 'text'
      UNION SELECT 'm:' || key || '=' || CASE type WHEN 'text' THEN 's:' || value
        WHEN 'true' THEN 't' WHEN 'false' THEN 'f' ELSE 'z' END
      FROM json_each(new.metadata) WHERE type IN ('text', 'true', 'false', 'null'));
END;
