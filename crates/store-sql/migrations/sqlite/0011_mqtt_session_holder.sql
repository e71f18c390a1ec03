-- The node that holds a kept MQTT session in memory (NULL: none, saved at a stop;
-- free to take). A row lives as long as the session.
ALTER TABLE mqtt_sessions ADD COLUMN node TEXT;
-- While its client is away: the away period's number, naming the messages logged for
-- it below (0: connected, nothing logged).
ALTER TABLE mqtt_sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

-- Messages queued for a kept session while its client is away, logged as they arrive
-- so that a crash does not lose them; removed when the session is saved or taken.
CREATE TABLE mqtt_session_messages (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    mqtt_id   TEXT NOT NULL,
    epoch     INTEGER NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX mqtt_session_messages_key ON mqtt_session_messages (client_id, mqtt_id, seq);
