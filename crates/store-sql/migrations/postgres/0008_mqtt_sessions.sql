-- MQTT persistent sessions saved at stop, restored at start (see the SQLite migration).
CREATE TABLE mqtt_sessions (
    client_id  uuid NOT NULL,
    mqtt_id    text NOT NULL,
    expires_at timestamptz NOT NULL,
    state      jsonb NOT NULL,
    CONSTRAINT mqtt_sessions_pkey PRIMARY KEY (client_id, mqtt_id)
);
