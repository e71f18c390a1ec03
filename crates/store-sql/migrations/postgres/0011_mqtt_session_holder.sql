-- The node that holds a kept MQTT session in memory (NULL: none, saved at a stop or
-- released to another node; free to take). A row lives as long as the session.
ALTER TABLE mqtt_sessions ADD COLUMN node uuid;
-- While its client is away: the away period's number, naming the messages logged for
-- it below (0: connected, nothing logged).
ALTER TABLE mqtt_sessions ADD COLUMN epoch bigint NOT NULL DEFAULT 0;

-- Messages queued for a kept session while its client is away, logged as they arrive
-- so that a crash does not lose them; removed when the session is saved or taken.
CREATE TABLE mqtt_session_messages (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id uuid NOT NULL,
    mqtt_id   text NOT NULL,
    epoch     bigint NOT NULL,
    message   jsonb NOT NULL
);
CREATE INDEX mqtt_session_messages_key ON mqtt_session_messages (client_id, mqtt_id, seq);
