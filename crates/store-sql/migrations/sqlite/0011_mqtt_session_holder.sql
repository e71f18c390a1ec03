-- The node that holds a kept MQTT session in memory (NULL: none, saved at a stop;
-- free to take). A row lives as long as the session.
ALTER TABLE mqtt_sessions ADD COLUMN node TEXT;
