-- MQTT persistent sessions saved when the server stops, restored (and removed) when it
-- starts. `state` is JSON: the subscriptions and the messages waiting for the client.
CREATE TABLE mqtt_sessions (
    client_id  TEXT NOT NULL,
    mqtt_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (client_id, mqtt_id)
);
