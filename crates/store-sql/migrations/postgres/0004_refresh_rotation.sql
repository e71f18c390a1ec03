-- Refresh-token rotation: the id of the session's one valid refresh token ('' for the
-- first, issued at login). A refresh that presents another id is a replay.
ALTER TABLE refresh_sessions ADD COLUMN refresh_id TEXT NOT NULL DEFAULT '';
