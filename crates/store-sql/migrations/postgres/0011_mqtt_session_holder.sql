-- The node that holds a kept MQTT session in memory (NULL: none, saved at a stop or
-- released to another node; free to take). A row lives as long as the session.
ALTER TABLE mqtt_sessions ADD COLUMN node uuid;
